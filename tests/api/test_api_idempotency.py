"""Idempotency-Key on writes, on both stores: a repeat returns the first response and
stores nothing new; concurrent duplicates apply once; many clients writing and
retrying concurrently apply every command exactly once."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.apiclient import Api, api_fixture, bearer, problem_fields  # noqa: F401
from tests.factories import licence, random_uscc

COMMIT = {"committed_at": "2025-01-05T10:00:00+08:00", "signatory": "Wang Li"}


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def test_a_repeat_returns_the_first_response_and_stores_nothing(api: Api) -> None:
    headers = {**api.writer, **idem()}
    body = licence(random_uscc())
    first = api.client.post("/v1/enterprises", json=body, headers=headers)
    assert first.status_code == 201
    with api.stores_nothing():
        again = api.client.post("/v1/enterprises", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


def test_key_order_and_whitespace_do_not_make_another_request(api: Api) -> None:
    headers = {**api.writer, **idem(), "Content-Type": "application/json"}
    body = licence(random_uscc())
    first = api.client.post("/v1/enterprises", content=json.dumps(body), headers=headers)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    with api.stores_nothing():
        again = api.client.post("/v1/enterprises", content=reordered, headers=headers)
    assert again.json()["position"] == first.json()["position"]


def test_the_same_key_with_another_body_is_422(api: Api) -> None:
    headers = {**api.writer, **idem()}
    api.client.post("/v1/enterprises", json=licence(random_uscc()), headers=headers)
    with api.stores_nothing():
        other = api.client.post("/v1/enterprises", json=licence(random_uscc()), headers=headers)
    assert other.status_code == 422
    assert problem_fields(other) == {"Idempotency-Key": "reused"}
    assert other.json()["errors"][0]["in"] == "header"


def test_the_same_key_on_another_path_is_422(api: Api) -> None:
    uscc = api.license().json()["uscc"]
    headers = idem()
    assert api.post(uscc, "commitments", COMMIT, **headers).status_code == 201
    other = api.post(uscc, "bans", {"banned_at": "2025-02-01T00:00:00+08:00", "reason": "x"},
                     **headers)
    assert other.status_code == 422


def test_keys_are_scoped_to_the_api_key_that_sent_them(api: Api) -> None:
    other = api.key("second-regulator", "ledger:write")
    token = idem()
    first = api.client.post("/v1/enterprises", json=licence(random_uscc()),
                            headers={**api.writer, **token})
    second = api.client.post("/v1/enterprises", json=licence(random_uscc()),
                             headers={**other, **token})
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["uscc"] != second.json()["uscc"]


def test_a_failed_write_keeps_no_record_so_a_retry_runs_again(api: Api) -> None:
    uscc = random_uscc()
    headers = idem()
    assert api.post(uscc, "commitments", COMMIT, **headers).status_code == 404
    api.license(uscc)
    retry = api.post(uscc, "commitments", COMMIT, **headers)
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers


def test_an_invalid_idempotency_key_is_422(api: Api) -> None:
    response = api.client.post("/v1/enterprises", json=licence(random_uscc()),
                               headers={**api.writer, "Idempotency-Key": "x" * 256})
    assert response.status_code == 422
    assert problem_fields(response) == {"Idempotency-Key": "too_long"}


def test_the_record_commits_with_the_events_or_not_at_all(api: Api, monkeypatch: Any) -> None:
    """A failure inside the write's transaction after the record was written (a crash
    there) leaves neither events nor record: the retry runs afresh, no key is stuck."""
    real = api.state.idempotency.in_tx

    def failing(*args: Any) -> Any:
        hook = real(*args)

        def run(tx: Any, events: Any) -> None:
            hook(tx, events)
            raise RuntimeError("the process died before COMMIT")

        return run

    monkeypatch.setattr(api.state.idempotency, "in_tx", failing)
    headers = {**api.writer, **idem()}
    body = licence(random_uscc())
    with api.stores_nothing():
        first = api.client.post("/v1/enterprises", json=body, headers=headers)
    assert first.status_code == 500
    with api.services.db.transaction() as tx:
        assert tx.value("SELECT count(*) FROM idempotency_records WHERE idem_key = ?",
                        (headers["Idempotency-Key"],)) == 0
    monkeypatch.setattr(api.state.idempotency, "in_tx", real)
    before = api.head()
    retry = api.client.post("/v1/enterprises", json=body, headers=headers)
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
    assert api.head() == before + 1


def test_a_duplicate_that_missed_the_record_finds_it_in_the_write_and_replays(
    api: Api, monkeypatch: Any
) -> None:
    """The race: a duplicate looked before the first committed, so it runs the command;
    inside its transaction it finds the first's record, rolls back and replays it (with
    If-Match it loses the race first, and then replays)."""
    uscc = random_uscc()
    api.license(uscc)
    key = str(uuid.uuid4())
    first = api.post(uscc, "commitments", COMMIT, **{"Idempotency-Key": key})
    assert first.status_code == 201
    real = api.state.idempotency.find
    for if_match in ({}, {"If-Match": '"1"'}):
        calls: list[Any] = []

        def late(*args: Any, calls: list[Any] = calls) -> Any:
            calls.append(args)
            return None if len(calls) == 1 else real(*args)

        monkeypatch.setattr(api.state.idempotency, "find", late)
        if if_match:  # the hash covers If-Match: a first write with it, on version 1
            uscc, key = random_uscc(), str(uuid.uuid4())
            api.license(uscc)
            api.post(uscc, "commitments", COMMIT, **{"Idempotency-Key": key}, **if_match)
            calls.clear()
        with api.stores_nothing():
            again = api.post(uscc, "commitments", COMMIT, **{"Idempotency-Key": key},
                             **if_match)
        assert again.status_code == 201, again.text
        assert again.headers["idempotent-replayed"] == "true"


def test_concurrent_duplicates_apply_once(api: Api) -> None:
    headers = {**api.writer, **idem()}
    body = licence(random_uscc())
    before = api.head()
    barrier = threading.Barrier(6)

    def send(_: int) -> Any:
        barrier.wait()
        return api.client.post("/v1/enterprises", json=body, headers=headers)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(send, range(6)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in responses) == 1
    assert api.head() == before + 1


def test_many_clients_writing_and_retrying_apply_every_command_exactly_once(api: Api) -> None:
    """8 clients share 40 commands on 10 enterprises (4 commitments each, so writes to
    one enterprise race). Each client sends its commands in random order, sends some
    twice at once, retries on 409/429/503 and after "lost" responses, always with the
    command's own Idempotency-Key. Every command must be stored exactly once."""
    rng = random.Random(7)
    usccs = [api.license().json()["uscc"] for _ in range(10)]
    before = api.head()
    commands = [
        (uscc, str(uuid.uuid4()), {**COMMIT, "letter_id": f"L-{uscc}-{i}"})
        for uscc in usccs for i in range(4)
    ]
    headers = bearer(api.tokens["regulator"])
    first_position: dict[str, int] = {}
    lock = threading.Lock()

    def send(command: tuple[str, str, dict[str, Any]]) -> int:
        uscc, key, body = command
        for _ in range(50):
            response = api.client.post(
                f"/v1/enterprises/{uscc}/commitments", json=body,
                headers={**headers, "Idempotency-Key": key},
            )
            if response.status_code == 201:
                position = response.json()["position"]
                with lock:
                    assert first_position.setdefault(key, position) == position
                return position
            assert response.status_code in (409, 429, 503), response.text
        raise AssertionError(f"{key} never succeeded")

    def client(seed: int) -> None:
        mine = list(commands)
        random.Random(seed).shuffle(mine)
        for command in mine[:20]:
            send(command)
            if rng.random() < 0.3:  # a response "lost": the client sends it again
                send(command)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(client, range(8)))
    for command in commands:  # whatever the clients skipped, someone sends now
        send(command)

    with api.services.db.transaction() as tx:
        events = api.services.log.read(tx, before, 10_000)
    letters = Counter(e.data["letter_id"] for e in events)
    assert len(events) == len(commands)
    assert set(letters) == {body["letter_id"] for _, _, body in commands}
    assert set(letters.values()) == {1}
    assert sorted(first_position.values()) == [e.position for e in events]


def test_a_write_whose_connection_dropped_is_never_retried_blindly(
    api: Api, monkeypatch: Any
) -> None:
    """The commit's outcome is unknown to the server (the connection dropped as it
    committed), so it never runs the command again. With an Idempotency-Key it looks
    for the key's record: stored, so it answers with it (201); without a key the answer
    is 503 with Retry-After (retry with a key). Either way it was stored once."""
    import psycopg

    ledger = api.services.ledger
    real = ledger.license

    def dropped_after_commit(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(ledger, "license", dropped_after_commit)
    before = api.head()
    keyless = api.client.post("/v1/enterprises", json=licence(random_uscc()),
                              headers=api.writer)
    assert keyless.status_code == 503 and keyless.headers["retry-after"]
    assert api.head() == before + 1
    headers = {**api.writer, **idem()}
    body = licence(random_uscc())
    keyed = api.client.post("/v1/enterprises", json=body, headers=headers)
    assert keyed.status_code == 201 and keyed.headers["idempotent-replayed"] == "true"
    assert api.head() == before + 2
    monkeypatch.setattr(ledger, "license", real)
    retry = api.client.post("/v1/enterprises", json=body, headers=headers)
    assert retry.status_code == 201 and retry.json() == keyed.json()
    assert api.head() == before + 2
