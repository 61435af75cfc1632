"""`ledger projections ...`: Read models: status and rebuilds."""

from __future__ import annotations

import typer

app = typer.Typer(help="Read models: status and rebuilds.", no_args_is_help=True)
