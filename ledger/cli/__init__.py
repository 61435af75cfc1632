"""The ``ledger`` command line: thin over the application and the read models.

Each group of commands lives in its own module; bad input exits 2 with a one-line
reason on stderr.
"""

from ledger.cli.main import app

__all__ = ["app"]
