"""The stored hash tree on SQLite and PostgreSQL: kept up with every write, equal to a
tree recomputed from the events, exactly once across followers; checkpoints signed
with the ledger's key; proofs from stored nodes that verify against checkpoints."""

from __future__ import annotations

import base64
import json
import stat
import threading
import time
from datetime import timedelta
from uuid import NAMESPACE_URL, uuid5

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.audit.encoding import event_leaf_hash, leaf_bytes
from ledger.audit.keystore import move_private_keys_out
from ledger.audit.merkle import root_from_leaves, verify_consistency, verify_inclusion
from ledger.audit.service import start_checkpointer
from ledger.audit.signing import key_id_of, private_raw, public_raw, verify_signature
from ledger.audit.tree import TreeError, TreeStore
from ledger.bootstrap import bootstrap
from ledger.errors import BeyondLog, InvalidInput
from ledger.settings import Settings
from tests.factories import licence, random_uscc


def write_events(services, enterprises: int = 3, commits: int = 2) -> list:
    written = []
    for _ in range(enterprises):
        uscc = random_uscc()
        written.extend(services.ledger.license(**licence(uscc)).events)
        for i in range(commits):
            written.extend(services.ledger.commit(
                uscc, committed_at=f"2025-01-0{5 + i}T10:00:00+08:00", signatory="Wang Li",
            ).events)
    return written


def tree_size(services) -> int:
    with services.db.transaction() as tx:
        return TreeStore.size(tx)


def stored_leaf(services, position: int) -> bytes:
    with services.db.transaction() as tx:
        return services.audit.tree.nodes(tx, [(0, position - 1)])[(0, position - 1)]


def test_each_write_is_hashed_into_the_tree_before_the_command_returns(services):
    uscc = random_uscc()
    written = services.ledger.license(**licence(uscc))
    assert tree_size(services) == written.position == 1
    assert stored_leaf(services, 1) == event_leaf_hash(written.events[0])


def test_leaf_bytes_are_the_documented_canonical_json(services):
    uscc = random_uscc()
    event = services.ledger.license(**licence(uscc, name="松北区·河畔理发店")).events[0]
    sealed = event.data["legal_representative"]  # the commitment, never the name
    assert sealed.startswith("sha256:") and len(sealed) == 71
    expected = (
        '{"data":{"address":"18 Chuangxin Road, Songbei District, Harbin",'
        f'"district":"230109","legal_representative":"{sealed}",'
        '"name":"松北区·河畔理发店","place_type":"barbershop"},'
        f'"enterprise_id":"{event.enterprise_id}","occurred_at":"{event.occurred_at}",'
        f'"position":1,"recorded_at":"{event.recorded_at}","type":"Licensed",'
        f'"uscc":"{uscc}","version":1}}'
    ).encode()
    assert leaf_bytes(event) == expected
    namespace = uuid5(NAMESPACE_URL, "https://credit-ledger.example/enterprise")
    assert event.enterprise_id == str(uuid5(namespace, uscc))  # as the README documents
    assert event.recorded_at == "2026-01-01T04:00:00+00:00"
    import hashlib

    assert stored_leaf(services, 1) == hashlib.sha256(b"\x00" + expected).digest()


def test_the_stored_tree_equals_one_recomputed_from_the_events(services, clock):
    write_events(services, enterprises=5, commits=3)
    with services.db.transaction() as tx:
        events = services.log.read(tx, 0, 1000)
        size = TreeStore.size(tx)
        stored_root = services.audit.tree.root(tx, size)
    assert size == len(events) == 20
    assert stored_root == root_from_leaves([event_leaf_hash(e) for e in events])


def test_a_follower_hashes_writes_made_elsewhere(store_settings, clock):
    writer = bootstrap(store_settings, clock=clock, sync_projections=False)
    reader = bootstrap(store_settings, clock=clock)
    try:
        write_events(writer, enterprises=2, commits=1)
        assert tree_size(reader) == 0
        reader.projections.catch_up()  # what the serve loop does
        assert tree_size(reader) == 4
    finally:
        writer.close()
        reader.close()


def test_two_followers_hash_each_event_exactly_once(store_settings, clock):
    writer = bootstrap(store_settings, clock=clock, sync_projections=False)
    others = [bootstrap(store_settings, clock=clock, sync_projections=False) for _ in range(2)]
    try:
        write_events(writer, enterprises=6, commits=2)
        for other in others:
            other.audit.tree.follower.batch = 5
        threads = [threading.Thread(target=o.audit.catch_up) for o in others]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with writer.db.transaction() as tx:
            leaves = tx.value("SELECT COUNT(*) FROM audit_nodes WHERE level = 0")
            nodes = tx.value("SELECT COUNT(*) FROM audit_nodes")
        assert tree_size(writer) == leaves == 18
        assert nodes == 18 + 9 + 4 + 2 + 1  # every perfect subtree of 18 leaves, once
    finally:
        writer.close()
        for other in others:
            other.close()


def test_the_tree_refuses_to_skip_a_missing_position(store_settings, clock):
    writer = bootstrap(store_settings, clock=clock, sync_projections=False)
    try:
        write_events(writer, enterprises=2, commits=0)
        pos = "notification_id" if writer.db.postgres else "rowid"
        with writer.db.transaction(write=True) as tx:
            tx.execute(f"DELETE FROM stored_events WHERE {pos} = 1")
        with pytest.raises(TreeError, match="position 1 is missing"):
            writer.audit.catch_up()
        assert tree_size(writer) == 0
    finally:
        writer.close()


def test_a_checkpoint_is_signed_over_the_documented_text(services, clock):
    write_events(services, enterprises=1, commits=1)
    cp = services.audit.checkpoint()
    assert cp is not None and cp.tree_size == 2
    assert cp.timestamp == "2026-01-01T04:00:00.000000+00:00"
    key = services.audit.public_key()
    raw = base64.b64decode(key["public_key"])
    assert key["algorithm"] == "ed25519" and key["key_id"] == cp.key_id == key_id_of(raw)
    text = f"ledger-checkpoint/v1\n2\n{cp.root_hash}\n{cp.timestamp}\n".encode()
    Ed25519PublicKey.from_public_bytes(raw).verify(base64.b64decode(cp.signature), text)
    assert services.audit.latest_checkpoint() == cp


def test_checkpoints_are_kept_for_history(services, clock):
    first = services.audit.checkpoint()
    write_events(services, enterprises=1, commits=0)
    clock.now += timedelta(minutes=1)
    second = services.audit.checkpoint()
    assert services.audit.checkpoints() == [first, second]
    assert (first.tree_size, second.tree_size) == (0, 1)
    assert first.root_hash == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_an_automatic_checkpoint_is_taken_only_when_the_log_has_grown(services, clock):
    assert services.audit.checkpoint(only_if_grown=True) is not None  # the first one
    assert services.audit.checkpoint(only_if_grown=True) is None
    write_events(services, enterprises=1, commits=0)
    grown = services.audit.checkpoint(only_if_grown=True)
    assert grown is not None and grown.tree_size == 1


def test_the_checkpointer_hashes_and_signs_in_the_background(store_settings, clock):
    writer = bootstrap(store_settings, clock=clock, sync_projections=False)
    server = bootstrap(store_settings, clock=clock, sync_projections=False)
    stop = threading.Event()
    try:
        write_events(writer, enterprises=1, commits=1)
        thread = start_checkpointer(server.audit, stop, interval=0.05, follow_every=0.01)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            latest = server.audit.latest_checkpoint()
            if latest is not None and latest.tree_size == 2:
                break
            time.sleep(0.02)
        stop.set()
        thread.join(timeout=10)
        assert server.audit.latest_checkpoint().tree_size == 2
        assert tree_size(server) == 2
    finally:
        stop.set()
        writer.close()
        server.close()


def test_the_generated_key_is_kept_in_a_0600_file_not_in_the_database(store_settings, clock):
    first = bootstrap(store_settings, clock=clock)
    key = first.audit.public_key()
    first.close()
    path = store_settings.signing_key_path
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    again = bootstrap(store_settings, clock=clock)
    try:
        assert again.audit.public_key() == key  # the same key across restarts
        with again.db.transaction() as tx:
            rows = tx.all("SELECT key_id, source, private_key FROM audit_keys")
        assert rows == [(key["key_id"], "file", None)]  # public part only
    finally:
        again.close()


def test_the_default_key_file_lies_beside_the_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.delenv("LEDGER_SIGNING_KEY_FILE")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db' / 'ledger.db'}")
    assert settings.signing_key_path == tmp_path / "db" / "ledger-signing.key"
    monkeypatch.chdir(tmp_path)
    pg = Settings(database_url="postgresql://postgres@127.0.0.1:5432/test")
    assert pg.signing_key_path == tmp_path / "ledger-signing.key"


def test_a_private_key_left_in_the_database_is_moved_to_the_key_file(store_settings, clock):
    s = bootstrap(store_settings, clock=clock)
    path = store_settings.signing_key_path
    legacy = Ed25519PrivateKey.generate()
    secret = base64.b64encode(private_raw(legacy)).decode()
    pub = public_raw(legacy)
    path.unlink()
    try:
        with s.db.transaction(write=True) as tx:  # as a pre-v2 first start left it
            tx.execute("DELETE FROM audit_keys")
            tx.execute(
                "INSERT INTO audit_keys (key_id, algorithm, public_key, private_key, source, "
                "created_at) VALUES (?, 'ed25519', ?, ?, 'generated', '2026-01-01')",
                (key_id_of(pub), base64.b64encode(pub).decode(), secret),
            )
        message = move_private_keys_out(s.db, path)
        assert message is not None and "moved the signing key" in message
        assert path.read_text().strip() == secret
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with s.db.transaction() as tx:
            assert tx.all("SELECT private_key FROM audit_keys") == [(None,)]
        assert move_private_keys_out(s.db, path) is None  # idempotent
    finally:
        s.close()
    again = bootstrap(store_settings, clock=clock)
    try:
        assert again.audit.key.key_id == key_id_of(pub)  # it still signs with that key
    finally:
        again.close()


def test_a_configured_key_signs_and_its_private_part_is_not_stored(store_settings, clock):
    private = Ed25519PrivateKey.generate()
    configured = store_settings.model_copy(
        update={"signing_key": base64.b64encode(private_raw(private)).decode()}
    )
    s = bootstrap(configured, clock=clock)
    try:
        cp = s.audit.checkpoint()
        assert cp.key_id == key_id_of(public_raw(private))
        assert verify_signature(cp, public_raw(private))
        with s.db.transaction() as tx:
            assert tx.all("SELECT source, private_key FROM audit_keys") == [("configured", None)]
    finally:
        s.close()


@pytest.mark.sqlite_only
@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_signing_key_is_refused_at_start(store_settings, clock, bad):
    with pytest.raises(InvalidInput, match="LEDGER_SIGNING_KEY"):
        bootstrap(store_settings.model_copy(update={"signing_key": bad}), clock=clock)


def test_every_inclusion_proof_verifies_against_the_checkpoint(services):
    written = write_events(services, enterprises=4, commits=2)
    cp = services.audit.checkpoint()
    root = bytes.fromhex(cp.root_hash)
    for event in written:
        proof = services.audit.inclusion(event.position)
        assert proof["tree_size"] == cp.tree_size == 12
        assert proof["leaf_index"] == event.position - 1
        assert proof["leaf_hash"] == event_leaf_hash(event).hex()
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        assert verify_inclusion(event.position - 1, 12, event_leaf_hash(event), path, root)


def test_a_later_checkpoint_is_proven_consistent_with_an_earlier_one(services, clock):
    write_events(services, enterprises=2, commits=1)
    old = services.audit.checkpoint()
    write_events(services, enterprises=3, commits=2)
    clock.now += timedelta(minutes=5)
    new = services.audit.checkpoint()
    proof = services.audit.consistency(old.tree_size)
    assert (proof["first"], proof["second"]) == (4, 13)
    assert verify_consistency(
        4, 13, bytes.fromhex(old.root_hash), bytes.fromhex(new.root_hash),
        [bytes.fromhex(h) for h in proof["proof"]],
    )


def test_proofs_default_to_the_latest_checkpoint_not_the_newest_events(services):
    write_events(services, enterprises=1, commits=1)
    services.audit.checkpoint()
    write_events(services, enterprises=1, commits=0)
    assert services.audit.inclusion(1)["tree_size"] == 2
    assert services.audit.inclusion(3, tree_size=3)["tree_size"] == 3


def test_a_proof_asked_right_after_a_write_is_against_the_whole_tree_now(services):
    write_events(services, enterprises=1, commits=1)
    services.audit.checkpoint()  # covers positions 1-2
    write_events(services, enterprises=1, commits=0)  # position 3, no checkpoint yet
    proof = services.audit.inclusion(3)
    assert proof["tree_size"] == 3  # not refused until the next checkpoint
    assert services.audit.consistency(3)["second"] == 3


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda a: a.inclusion(0), "position"),
        (lambda a: a.inclusion(4, tree_size=3), "position"),
        (lambda a: a.inclusion(1, tree_size=0), "tree_size"),
        (lambda a: a.consistency(0, 2), "first"),
        (lambda a: a.consistency(3, 2), "first"),
    ],
)
def test_proofs_outside_the_tree_are_bad_input(services, call, field):
    write_events(services, enterprises=1, commits=2)
    with pytest.raises(InvalidInput) as raised:
        call(services.audit)
    assert raised.value.field == field


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda a: a.inclusion(4), "position"),
        (lambda a: a.inclusion(1, tree_size=4), "tree_size"),
        (lambda a: a.consistency(1, 4), "second"),
        (lambda a: a.consistency(4), "first"),
    ],
)
def test_proofs_beyond_the_log_say_how_far_it_reaches(services, call, field):
    write_events(services, enterprises=1, commits=2)
    with pytest.raises(BeyondLog) as raised:
        call(services.audit)
    assert (raised.value.field, raised.value.size) == (field, 3)


def test_a_proof_reads_only_logarithmically_many_stored_nodes(services, monkeypatch):
    write_events(services, enterprises=10, commits=2)
    services.audit.checkpoint()
    asked: list[int] = []
    real = TreeStore.nodes

    def counting(tx, keys):
        keys = list(keys)
        asked.append(len(keys))
        return real(tx, keys)

    monkeypatch.setattr(TreeStore, "nodes", staticmethod(counting))
    services.audit.inclusion(17)
    services.audit.consistency(5)
    assert max(asked) <= 2 * (30).bit_length()


@pytest.mark.sqlite_only
def test_checkpoint_json_round_trips(services):
    cp = services.audit.checkpoint()
    assert set(json.loads(json.dumps(cp.to_json()))) == {
        "tree_size", "root_hash", "timestamp", "key_id", "signature",
    }


def test_ledger_migrate_moves_a_stored_private_key_out_and_says_so(store_settings, clock):
    from typer.testing import CliRunner

    from ledger.cli import app

    s = bootstrap(store_settings, clock=clock)
    path = store_settings.signing_key_path
    legacy = Ed25519PrivateKey.generate()
    pub = public_raw(legacy)
    try:
        with s.db.transaction(write=True) as tx:
            tx.execute(
                "INSERT INTO audit_keys (key_id, algorithm, public_key, private_key, source, "
                "created_at) VALUES (?, 'ed25519', ?, ?, 'generated', '2027-01-01')",
                (key_id_of(pub), base64.b64encode(pub).decode(),
                 base64.b64encode(private_raw(legacy)).decode()),
            )
    finally:
        s.close()
    path.unlink()
    env = {"LEDGER_DATABASE_URL": store_settings.database_url,
           "LEDGER_DATABASE_SCHEMA": store_settings.database_schema,
           "LEDGER_SIGNING_KEY_FILE": str(path)}
    result = CliRunner().invoke(app, ["migrate"], env=env)
    assert result.exit_code == 0, result.output
    assert f"moved the signing key {key_id_of(pub)} out of the database" in result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = CliRunner().invoke(app, ["migrate"], env=env)
    assert "moved" not in again.output  # nothing left to move
