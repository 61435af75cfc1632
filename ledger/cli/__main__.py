"""`python -m ledger.cli ...`: the `ledger` command without its console script."""

from ledger.cli import app

app(prog_name="ledger")
