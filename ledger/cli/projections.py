"""`ledger projections ...`: Read models: status and rebuilds."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli.common import fail, is_terminal, load_settings, services
from ledger.errors import InvalidInput
from ledger.policy.credit import Policy, get_policy, load_policy_file
from ledger.projections import compare as comparison
from ledger.projections.rebuild import RebuildRunning, Worker, check_segments, joinable
from ledger.projections.sets import SegmentProgress, SetStatus
from ledger.values import today_cst

app = typer.Typer(help="Read models: status and rebuilds.", no_args_is_help=True)


def status_doc(st: SetStatus) -> dict[str, object]:
    return {
        "id": st.id, "policy": st.policy, "state": st.state, "position": st.position,
        "head": st.head, "lag": st.lag if st.state != "building" else None,
        "created_at": st.created_at, "swapped_at": st.swapped_at,
        "parameters": st.parameters,
        "segments": dataclasses.asdict(st.segments) if st.segments else None,
    }


def segments_line(progress: SegmentProgress) -> str:
    return (
        f"segments {progress.done}/{progress.total} done, {progress.leased} leased; "
        f"{progress.events_done:,} of {progress.upto:,} events"
    )


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Each projection set's position against the head of the log, and its policy.

    live: serving reads; ready: built beside the live set and following the log;
    building: a rebuild in progress (or one that died, cleared by the next), with its
    segments done and leased to workers, and the events of those done."""
    with services(sync_projections=False) as s:
        sets = s.projections.status()
    if as_json:
        typer.echo(json.dumps({"sets": [status_doc(st) for st in sets]}, indent=2))
        return
    head = sets[0].head if sets else 0
    typer.echo(f"head of the log: {head}")
    typer.echo(f"{'set':<14} {'policy':<7} {'state':<9} {'position':>9} {'lag':>8}  since")
    for st in sets:
        lag = "-" if st.state == "building" else str(st.lag)
        position = "-" if st.state == "building" else str(st.position)
        typer.echo(
            f"{st.id:<14} {st.policy:<7} {st.state:<9} {position:>9} {lag:>8}  "
            f"{st.swapped_at or st.created_at}"
            + (f"  {segments_line(st.segments)}" if st.segments else "")
        )


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar (events, events/s, ETA) on a terminal; nothing otherwise."""
    if not is_terminal():
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    started = time.monotonic()
    with Progress(
        TextColumn(label), BarColumn(), TaskProgressColumn(), MofNCompleteColumn(),
        TextColumn("events, {task.fields[rate]} events/s, ETA"), TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None, rate="-")

        def update(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.0f}")

        yield update


@app.command()
def rebuild(
    policy: Annotated[
        str | None,
        typer.Option(help="credit policy version to build beside the live set "
                     "(default: rebuild the live policy and switch to it)"),
    ] = None,
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy-file", help="a TOML policy file (version and parameters; "
                     "missing ones take v1's): build a set under it beside the live one"),
    ] = None,
    swap: Annotated[
        bool, typer.Option("--swap", help="switch reads to the new set atomically when built")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=0, max=64, help="local processes that work the segments, this one "
                     "included (0 or 1: this one; default: one per spare core, from 4 cores "
                     "and 50k events)"),
    ] = None,
    segments: Annotated[
        int | None,
        typer.Option(help="segments of the log, by a hash of the enterprise id, claimed by "
                     "workers with leases (default: one per 20k events); other machines "
                     "join with `ledger projections work`"),
    ] = None,
) -> None:
    """Rebuild the read models from the events.

    With --policy, the new set is built beside the live one (which keeps serving)
    and follows the log from then on; --swap switches reads to it in one
    transaction. Without --policy the live policy is rebuilt and swapped in.
    --policy-file names the policy's parameters in a file instead of a version."""
    if policy is not None and policy_file is not None:
        fail("give --policy or --policy-file, not both")
    try:
        if policy is not None:
            get_policy(policy)
        if segments is not None:
            check_segments(segments)
    except InvalidInput as e:
        fail(str(e))
    from_file: Policy | None = None
    if policy_file is not None:
        v1 = get_policy("v1").with_settings(load_settings().verification_days)
        try:
            from_file = load_policy_file(policy_file, v1)
        except InvalidInput as e:
            fail(str(e))
    with services(sync_projections=False) as s:
        chosen: str | Policy = from_file or policy or s.standing.live_policy()
        named = chosen if isinstance(chosen, str) else chosen.version
        do_swap = swap or (policy is None and policy_file is None)
        started = time.monotonic()
        try:
            with progress_bar(f"rebuilding {named}") as update:
                set_id = s.projections.rebuild(
                    chosen, swap=do_swap, progress=update, workers=workers, segments=segments
                )
        except RebuildRunning as e:
            fail(str(e), 1)
        seconds = time.monotonic() - started
        with s.db.transaction() as tx:
            events = s.log.head(tx)
    state = "live" if do_swap else "ready beside the live set (switch with --swap)"
    typer.echo(
        f"rebuilt {set_id} (policy {named}) from {events} events in {seconds:.1f} s "
        f"({events / max(seconds, 1e-6):,.0f} events/s): {state}"
    )


@app.command()
def work(
    set_id: Annotated[
        str | None,
        typer.Argument(help="a building set's id (default: the oldest rebuild with "
                       "segments left)"),
    ] = None,
) -> None:
    """Join a running rebuild: claim its segments until all are done.

    Any machine that reaches the database can join; a worker that dies loses its
    lease (LEDGER_LEASE_SECONDS) and another one redoes its segment. Exits 0 at
    once when there is nothing to do."""
    with services(sync_projections=False) as s:
        joined = joinable(s.projections, set_id)
        if joined is None:
            typer.echo("nothing to do: no rebuild with segments left")
            return
        with s.db.reading() as tx:
            policy = s.projections.policy_of(tx, joined)
        started = time.monotonic()
        worker = Worker(s.projections, joined, policy)
        built = worker.run()
        state = next((st.state for st in s.projections.status() if st.id == joined), "gone")
    typer.echo(
        f"built {built} segment(s) of {joined} ({worker.committed_events} events) in "
        f"{time.monotonic() - started:.1f} s; the set is {state}"
    )


@app.command(name="swap")
def swap_set(
    set_id: Annotated[str, typer.Argument(help="a ready set's id (ledger projections status)")],
) -> None:
    """Switch reads to a set already built beside the live one, atomically."""
    with services(sync_projections=False) as s:
        s.projections.swap(set_id)
    typer.echo(f"{set_id} is live")


@app.command()
def discard(
    set_id: Annotated[str, typer.Argument(help="a ready set's id (ledger projections status)")],
) -> None:
    """Drop a set built beside the live one without switching to it."""
    with services(sync_projections=False) as s:
        s.projections.discard(set_id)
    typer.echo(f"{set_id} discarded")


@app.command()
def compare(
    set_a: Annotated[str, typer.Argument(help="a live or ready set's id, its policy, or 'live'")],
    set_b: Annotated[str, typer.Argument(help="another set's id, or 'live'")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD (default: today, CST)")
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option("--csv", help="write one row per enterprise that differs to FILE"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """How many enterprises each set puts on each list and in each credit class (in
    total, by district, by place type), and every enterprise whose list membership or
    class differs, with both answers."""
    day = as_of or today_cst().isoformat()
    with services(sync_projections=False) as s:
        try:
            found = comparison.compare_sets(s.db, set_a, set_b, day)
        except InvalidInput as e:
            fail(str(e))
    if csv_file is not None:
        try:
            with open(csv_file, "w", newline="", encoding="utf-8") as out:
                comparison.write_csv(out, found["moved"])
        except OSError as e:
            fail(f"--csv: {e.strerror}: {csv_file}")
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for line in comparison_lines(found):
        typer.echo(line)


def comparison_lines(found: dict[str, Any]) -> Iterator[str]:
    a, b = found["a"], found["b"]
    yield f"as of {found['as_of']}: A = {a['id']} ({a['policy']}, {a['state']}), " \
          f"B = {b['id']} ({b['policy']}, {b['state']})"
    yield ""
    header = f"{'':<24} {'reward':>7} {'punish':>7} " + " ".join(
        f"{c:>6}" for c in comparison.CLASSES
    ) + f" {'moved':>6}"

    def row(label: str, counts: dict[str, Any], moved: str = "") -> str:
        return (
            f"{label:<24} {counts['reward_list']:>7} {counts['punishment_list']:>7} "
            + " ".join(f"{counts['by_class'].get(c, 0):>6}" for c in comparison.CLASSES)
            + f" {moved:>6}"
        )

    yield header
    yield row("all  A", found["totals"]["a"])
    yield row("all  B", found["totals"]["b"], str(len(found["moved"])))
    for key in ("by_district", "by_place_type"):
        for value, group in found[key].items():
            yield row(f"{value}  A", group["a"])
            yield row(f"{value}  B", group["b"], str(group["moved"]))
    yield ""
    yield f"{len(found['moved'])} enterprises differ (reward / punishment / class, A -> B):"
    for m in found["moved"]:
        sides = [
            f"{'R' if s['on_reward_list'] else '-'}{'P' if s['on_punishment_list'] else '-'}"
            f"{s['credit_class']}" for s in (m["a"], m["b"])
        ]
        yield f"  {m['uscc']}  {sides[0]} -> {sides[1]}  {m['district']} {m['place_type']}"
