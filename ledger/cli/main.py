"""The root command and the core commands: migrate, serve, history."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Annotated

import typer

from ledger import values
from ledger.cli.common import cannot_open, fail, load_settings, services
from ledger.errors import InvalidInput
from ledger.values import today_cst

app = typer.Typer(
    name="ledger",
    help="Event-sourced credit ledger for commitment-based licensing of small public places.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def migrate() -> None:
    """Create or upgrade all tables (idempotent)."""
    from ledger.audit.keystore import move_private_keys_out
    from ledger.storage.db import Database
    from ledger.storage.migrations import migrate as run

    settings = load_settings()
    db: Database | None = None
    try:
        db = Database(settings)
        db.create_schema()
        applied = run(db)
        moved = None if settings.signing_key else move_private_keys_out(
            db, settings.signing_key_path
        )
    except Exception as e:  # the store is unreachable or unusable
        fail(cannot_open(e), 1)
    finally:
        if db is not None:
            db.close()
    with services() as s:  # the event store's own tables and the live projection set
        s.projections.catch_up()
    if moved:
        typer.echo(moved)
    typer.echo(f"applied: {', '.join(applied)}" if applied else "up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    """Migrate, then serve the HTTP API and keep the projections live."""
    import uvicorn

    with services() as s:
        s.projections.catch_up()
    if not os.environ.get("LEDGER_PUBLIC_URL"):  # QR links follow --host/--port
        os.environ["LEDGER_PUBLIC_URL"] = default_public_url(host, port)
    typer.echo(f"ledger: API on http://{host}:{port}/v1, docs at http://{host}:{port}/docs")
    typer.echo("ledger: create a key with: ledger keys create --name NAME --scope credit:read")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers)


def default_public_url(host: str, port: int) -> str:
    """The base of QR links when LEDGER_PUBLIC_URL is not set: where this server
    listens (a wildcard address becomes 127.0.0.1)."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def parse_day(value: str | None, field: str) -> str | None:
    """A ``YYYY-MM-DD`` option, parsed as the API parses it; exit 2 naming it."""
    if value is None:
        return None
    try:
        return values.day(value, field).isoformat()
    except InvalidInput as e:
        fail(str(e))


def parse_moment(value: str | None, field: str) -> datetime | None:
    """An RFC 3339 timestamp option, parsed as the API parses it; exit 2 naming it."""
    if value is None:
        return None
    try:
        return values.moment(value, field).at
    except InvalidInput as e:
        fail(str(e))


@app.command()
def history(
    uscc: Annotated[str, typer.Argument(help="the enterprise's USCC")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="events that occurred and standing by the end of this "
                     "day (YYYY-MM-DD, China Standard Time; default today)"),
    ] = None,
    known_at: Annotated[
        str | None,
        typer.Option("--known-at", help="only what the ledger had recorded by then "
                     "(RFC 3339 timestamp with its offset)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Replay one enterprise: its events in order and its standing at that point."""
    day = parse_day(as_of, "--as-of")
    moment = parse_moment(known_at, "--known-at")
    with services(sync_projections=False) as s:
        result = s.standing.history(uscc, day or today_cst(s.ledger.clock()).isoformat(), moment)
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    if result["name"] is None:  # nothing known or happened yet at that point
        typer.echo(result["uscc"])
    else:
        typer.echo(
            f"{result['uscc']}  {result['name']}  ({result['place_type']}, {result['district']})"
        )
    typer.echo(f"{'v':>3}  {'position':>8}  {'type':<15} {'occurred_at':<32} recorded_at")
    for e in result["events"]:
        typer.echo(
            f"{e['version']:>3}  {e['position']:>8}  {e['type']:<15} {e['occurred_at']:<32} "
            f"{e['recorded_at']}"
        )
    st = result["standing"]
    if st is None:
        typer.echo(f"standing as of {result['as_of']}: not licensed yet")
        return
    typer.echo(
        f"standing as of {result['as_of']}: {st['status']}, class {st['credit_class']}, "
        f"grade {st['hygiene_grade'] or '-'}, reward {'yes' if st['on_reward_list'] else 'no'}, "
        f"punishment {'yes' if st['on_punishment_list'] else 'no'}"
    )
    for r in st["records"]:
        typer.echo(
            f"  record {r['id']}: {r['kind']} ({r['severity']}) {r['since']} .. {r['until']}"
        )


def _register_groups() -> None:
    from ledger.cli import audit, demo, export, keys, privacy, projections

    app.add_typer(keys.app, name="keys")
    app.add_typer(projections.app, name="projections")
    app.add_typer(audit.app, name="audit")
    app.add_typer(demo.app, name="demo")
    app.add_typer(privacy.app, name="privacy")
    app.add_typer(export.app, name="export")


_register_groups()
