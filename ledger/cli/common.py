"""What every command shares: settings, the services, and how errors become exits."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError

from ledger.bootstrap import Services, bootstrap
from ledger.errors import EnterpriseNotFound, InvalidInput, LedgerError
from ledger.settings import Settings

# The pool retries an unreachable server and logs each attempt; the command itself
# reports the failure in one line.
logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        first = e.errors()[0]
        name = str(first["loc"][0]).upper() if first.get("loc") else "settings"
        fail(f"LEDGER_{name}: {first['msg']}")


def cannot_open(error: Exception) -> str:
    first = str(error).splitlines()[0] if str(error) else repr(error)
    return f"cannot open the ledger's database: {first}"


@contextmanager
def services(sync_projections: bool = True) -> Iterator[Services]:
    """Open the ledger for one command; domain errors become exit 2 with one line."""
    settings = load_settings()  # a bad setting: exit 2 with one line, before the store
    try:
        s = bootstrap(settings, sync_projections=sync_projections)
    except Exception as e:  # the store is unreachable or unusable
        fail(cannot_open(e), 1)
    try:
        yield s
    except EnterpriseNotFound as e:
        fail(str(e), 1)
    except (InvalidInput, LedgerError) as e:
        fail(str(e))
    finally:
        s.close()


def is_terminal() -> bool:
    return sys.stderr.isatty()
