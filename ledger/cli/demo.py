"""`ledger demo ...`: Synthetic data for demos and benchmarks."""

from __future__ import annotations

import typer

app = typer.Typer(help="Synthetic data for demos and benchmarks.", no_args_is_help=True)
