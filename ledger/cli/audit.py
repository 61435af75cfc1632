"""`ledger audit ...`: Tamper evidence: checkpoints, verification, exports."""

from __future__ import annotations

import typer

app = typer.Typer(help="Tamper evidence: checkpoints, verification, exports.", no_args_is_help=True)
