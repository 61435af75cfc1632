"""`ledger audit ...`: Tamper evidence: checkpoints, verification, exports."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import fail, is_terminal, services

app = typer.Typer(help="Tamper evidence: checkpoints, verification, exports.", no_args_is_help=True)

Wait = Annotated[
    float,
    typer.Option(
        "--wait", min=0, help="seconds to wait for the hash tree to include writes in flight"
    ),
]


def emit(doc: Any) -> None:
    typer.echo(json.dumps(doc, ensure_ascii=False))


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal; nothing otherwise."""
    if not is_terminal():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


@app.command()
def checkpoint() -> None:
    """Bring the hash tree up to the log, then sign and store a checkpoint of it."""
    with services() as s:
        signed = s.audit.checkpoint()
    emit(signed.to_json() if signed else None)


@app.command()
def checkpoints() -> None:
    """Every checkpoint signed so far, oldest first (JSON Lines)."""
    with services(sync_projections=False) as s:
        for cp in s.audit.checkpoints():
            emit(cp.to_json())


@app.command("public-key")
def public_key() -> None:
    """The Ed25519 public key that signs checkpoints (JSON)."""
    with services(sync_projections=False) as s:
        emit(s.audit.public_key())


@app.command()
def verify(wait: Wait = 2.0) -> None:
    """Recompute the hash tree from the stored events and check it against the stored
    tree and every checkpoint; exit 1 naming the first bad position."""
    with services(sync_projections=False) as s, progress_bar("verifying") as progress:
        report = s.audit.verify(wait=wait, progress=progress)
    if report.problem is not None:
        fail(str(report.problem), 1)
    typer.echo(
        f"ok: {report.events} events hash to root {report.root_hash}; "
        f"{report.checkpoints} checkpoints verified"
    )


@app.command()
def inclusion(
    position: Annotated[int, typer.Argument(help="the event's log position")],
    tree_size: Annotated[
        int | None, typer.Option("--tree-size", help="default: the latest checkpoint's")
    ] = None,
) -> None:
    """Inclusion proof of the event at POSITION (JSON, as the HTTP API gives it)."""
    with services(sync_projections=False) as s:
        emit(s.audit.inclusion(position, tree_size))


@app.command()
def consistency(
    first: Annotated[int, typer.Argument(help="the earlier tree size")],
    second: Annotated[
        int | None, typer.Argument(help="the later tree size (default: latest checkpoint's)")
    ] = None,
) -> None:
    """Consistency proof between two tree sizes (JSON, as the HTTP API gives it)."""
    with services(sync_projections=False) as s:
        emit(s.audit.consistency(first, second))


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="the JSON Lines file to write")],
    uscc: Annotated[
        str | None, typer.Option("--uscc", help="only this enterprise, with proofs")
    ] = None,
    wait: Wait = 2.0,
) -> None:
    """Write the events with positions and leaf hashes, the checkpoint they add up to
    (signed now if the tree has grown) and the public key, for `verify-export`."""
    if out.is_dir():
        fail(f"--out: {out} is a directory")
    if not out.parent.is_dir():
        fail(f"--out: no directory {out.parent}")
    from ledger import values

    with services(sync_projections=False) as s, progress_bar("exporting") as progress:
        if uscc is not None:
            uscc = values.uscc(uscc)  # bad input: exit 2, nothing written
        partial = out.with_name(out.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8") as fh:
                summary = s.audit.export(fh, uscc=uscc, wait=wait, progress=progress)
            partial.replace(out)
        finally:
            partial.unlink(missing_ok=True)
    cp = summary.checkpoint
    typer.echo(
        f"wrote {summary.events} events to {out} with checkpoint {cp.tree_size} "
        f"(root {cp.root_hash}, key {cp.key_id})"
    )
    if summary.beyond_tree:
        typer.echo(
            f"warning: {summary.beyond_tree} events are not in the hash tree; "
            "verify-export will reject them", err=True,
        )


@app.command("verify-export")
def verify_export(
    file: Annotated[Path, typer.Argument(help="an export written by `ledger audit export`")],
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="the key you trust (base64 of the raw 32 bytes); "
                     "default: the one in the export"),
    ] = None,
) -> None:
    """Verify an export offline (no database): every event against its leaf hash, the
    leaves against the signed checkpoint; exit 1 naming the first bad position."""
    from ledger.audit.offline import ExportFormatError
    from ledger.audit.offline import verify_export as check

    trusted = None
    if public_key is not None:
        try:
            trusted = base64.b64decode(public_key, validate=True)
        except (binascii.Error, ValueError):
            fail("--public-key: not base64")
        if len(trusted) != 32:
            fail("--public-key: an Ed25519 public key is 32 bytes")
    try:
        with file.open(encoding="utf-8") as fh:
            report = check(fh, trusted_key=trusted)
    except FileNotFoundError:
        fail(f"{file}: no such file")
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        fail(f"{file}: cannot read ({e.__class__.__name__})")
    except ExportFormatError as e:
        fail(f"{file}: {e}")
    if report.problem is not None:
        fail(str(report.problem), 1)
    cp = report.checkpoint
    scope = f"enterprise {report.uscc}" if report.uscc else "the log"
    typer.echo(
        f"ok: {report.events} events of {scope} verified against checkpoint {cp.tree_size} "
        f"(root {cp.root_hash}) signed by key {cp.key_id} at {cp.timestamp}"
    )


@app.command()
def witness(
    url: Annotated[str, typer.Option("--url", help="the ledger's base URL (http[s]://...)")],
    state: Annotated[
        Path, typer.Option("--state", help="file keeping the last checkpoint seen (created)")
    ],
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="seconds per request")
    ] = 10.0,
) -> None:
    """Fetch the latest checkpoint, check its signature and a consistency proof from the
    checkpoint kept in STATE, then keep the new one. Exit 1 naming both checkpoints when
    the log was rewritten (a fork). The audit:read key comes from LEDGER_API_KEY."""
    import os

    import httpx

    from ledger.audit.witness import BadState, WitnessError, observe

    key = os.environ.get("LEDGER_API_KEY", "").strip()
    if not key:
        fail("LEDGER_API_KEY: set it to an API key with the audit:read scope")
    if not url.startswith(("http://", "https://")):
        fail(f"--url: must start with http:// or https://, not {url!r}")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout) as client:
        try:
            seen = observe(client, state)
        except BadState as e:
            fail(str(e))
        except WitnessError as e:
            fail(str(e), 1)
    typer.echo(seen.message())
