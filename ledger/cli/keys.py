"""`ledger keys ...`: Manage API keys (only their hashes are stored)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from ledger.cli.common import fail, load_settings
from ledger.errors import InvalidInput
from ledger.services.access import SCOPES, ApiKeys

app = typer.Typer(help="Manage API keys (only their hashes are stored).", no_args_is_help=True)


@contextmanager
def api_keys() -> Iterator[ApiKeys]:
    """The key store alone (no event store needed); migrates first, so it works on a
    fresh database."""
    from ledger.storage.db import Database
    from ledger.storage.migrations import migrate

    try:
        db = Database(load_settings())
        db.create_schema()
        migrate(db)
    except Exception as e:  # the store is unreachable or unusable
        fail(f"cannot open the ledger's database: {str(e).splitlines()[0] if str(e) else e!r}", 1)
    try:
        yield ApiKeys(db)
    except InvalidInput as e:
        fail(str(e))
    finally:
        db.close()


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="unique name of the key's holder")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", help=f"a scope to grant (repeatable): {', '.join(SCOPES)}"),
    ],
    rate_limit: Annotated[
        float | None,
        typer.Option("--rate-limit", help="requests per second (default: LEDGER_RATE_LIMIT)"),
    ] = None,
) -> None:
    """Create a key and print it alone on the last line; only its hash is stored."""
    unknown = [s for s in scope if s not in SCOPES]
    if unknown:
        fail(f"--scope: unknown scope {unknown[0]!r} (known: {', '.join(SCOPES)})")
    if rate_limit is not None and not rate_limit > 0:
        fail("--rate-limit: must be a positive number of requests per second")
    with api_keys() as keys:
        key, token = keys.create(name, scope, rate_limit)
    limit = f"{key.rate_limit:g}/s" if key.rate_limit is not None else "default rate limit"
    typer.echo(f"created key {key.name!r} with {', '.join(sorted(key.scopes))} ({limit}).")
    typer.echo("Keep it now; it is not stored and cannot be shown again:")
    typer.echo(token)


@app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List keys: name, scopes, rate limit, prefix, created and revoked."""
    with api_keys() as keys:
        found = keys.list()
    if as_json:
        typer.echo(json.dumps([k.public() for k in found], indent=2))
        return
    if not found:
        typer.echo("no keys; create one with: ledger keys create --name NAME --scope credit:read")
        return
    typer.echo(
        f"{'name':<24} {'scopes':<36} {'rate/s':>8}  {'prefix':<10}  {'created':<32} revoked"
    )
    for k in found:
        rate = f"{k.rate_limit:g}" if k.rate_limit is not None else "default"
        typer.echo(
            f"{k.name:<24} {' '.join(sorted(k.scopes)):<36} {rate:>8}  {k.prefix:<10}  "
            f"{k.created_at:<32} {k.revoked_at or '-'}"
        )


@app.command()
def revoke(name: Annotated[str, typer.Argument(help="the key's name")]) -> None:
    """Revoke a key: requests with it get 401 from now on. Its name stays taken."""
    with api_keys() as keys:
        key = keys.revoke(name)
    typer.echo(f"revoked key {key.name!r} at {key.revoked_at}")
