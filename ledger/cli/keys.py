"""`ledger keys ...`: Manage API keys (only their hashes are stored)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage API keys (only their hashes are stored).", no_args_is_help=True)
