"""`ledger export ...`: the log and the read models for analysts' tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ledger.cli.common import fail, services
from ledger.errors import InvalidInput
from ledger.values import today_cst

app = typer.Typer(help="Exports for analysts' tools.", no_args_is_help=True)


@app.command()
def parquet(
    out: Annotated[Path, typer.Option("--out", help="directory for the three files")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="standings as of this day (YYYY-MM-DD, CST; default today)"),
    ] = None,
) -> None:
    """Write events.parquet (the log), standings.parquet (one row per enterprise as of
    the day) and segments.parquet (the live set's timelines) into DIR."""
    from ledger.projections.queries import check_day
    from ledger.services.parquet import export_parquet

    day = as_of or today_cst().isoformat()
    try:
        day = check_day(day, "--as-of")
    except InvalidInput as e:
        fail(str(e))
    if out.exists() and not out.is_dir():
        fail(f"--out: not a directory: {out}")
    with services(sync_projections=False) as s:
        s.projections.catch_up()
        try:
            done = export_parquet(s.db, s.log, out, day)
        except OSError as e:
            fail(f"--out: {e.strerror}: {out}", 1)
    typer.echo(
        f"wrote {out}/events.parquet ({done.events} events), standings.parquet "
        f"({done.standings} enterprises as of {done.as_of}), segments.parquet "
        f"({done.segments} segments)"
    )
