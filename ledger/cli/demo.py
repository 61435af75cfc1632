"""`ledger demo ...`: Synthetic data for demos and benchmarks."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from ledger import values
from ledger.cli.common import fail, is_terminal, services
from ledger.errors import InvalidInput

app = typer.Typer(help="Synthetic data for demos and benchmarks.", no_args_is_help=True)


@app.command()
def seed(
    enterprises: Annotated[
        int, typer.Option(min=1, max=2_000_000, help="how many enterprises")
    ] = 200,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same city")] = 1,
    until: Annotated[
        str | None,
        typer.Option(help="histories stop before this day (YYYY-MM-DD, default today)"),
    ] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="do nothing when the ledger already has events")
    ] = False,
) -> None:
    """Write realistic synthetic histories of "four small" places across Harbin's
    districts since 2021 (reproducible for a seed and --until)."""
    from ledger.services.demo import seed_city

    stop: date | None = None
    if until is not None:
        try:
            stop = values.day(until, "--until")
        except InvalidInput as e:
            fail(str(e))
    with services(sync_projections=False) as s:
        if if_empty:
            with s.db.transaction() as tx:
                head = s.log.head(tx)
            if head:
                typer.echo(f"the ledger already holds {head} events: nothing seeded")
                return
        if is_terminal():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            with Progress(
                TextColumn("seeding"), BarColumn(), MofNCompleteColumn(),
                TextColumn("enterprises, {task.fields[events]} events"), TimeRemainingColumn(),
                transient=True, console=Console(stderr=True),
            ) as bar:
                task = bar.add_task("seed", total=enterprises, events=0)
                done = seed_city(
                    s, enterprises, seed, stop,
                    progress=lambda n, e: bar.update(task, completed=n, events=e),
                )
        else:
            done = seed_city(s, enterprises, seed, stop)
    typer.echo(
        f"seeded {done.enterprises} enterprises with {done.events} events "
        f"(seed {seed}); the log now ends at position {done.head}"
    )
