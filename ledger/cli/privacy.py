"""`ledger privacy ...`: erasure of personal data."""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer

from ledger.cli.common import services
from ledger.services import privacy

app = typer.Typer(help="Personal data: erasure.", no_args_is_help=True)


@app.command()
def erase(
    uscc: Annotated[str, typer.Argument(help="the enterprise's USCC")],
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help=f"a personal field to erase ({', '.join(privacy.PERSONAL_FIELDS)}); "
            "repeat for several; default all",
        ),
    ] = None,
) -> None:
    """Delete the enterprise's personal values and salts for good (the events keep their
    commitments, so verification, proofs and exports still pass); prints what went."""
    with services(sync_projections=False) as s:
        done = privacy.erase(s.db, s.log, uscc, field, f"cli:{getpass.getuser()}")
    typer.echo(json.dumps(done.to_json(), ensure_ascii=False))


@app.command()
def erasures(
    uscc: Annotated[str | None, typer.Option("--uscc", help="only this enterprise")] = None,
) -> None:
    """The recorded erasures, newest first (JSON Lines): who, when, which fields."""
    with services(sync_projections=False) as s:
        for item in privacy.erasures(s.db, uscc, 1000):
            typer.echo(json.dumps(item, ensure_ascii=False))
