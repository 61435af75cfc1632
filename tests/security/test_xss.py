"""Script payloads in every text field a regulator or a signatory can enter, and in
every query value a page echoes, are shown escaped on every page: none comes out as
markup."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
from markupsafe import escape

from ledger.services import letters
from ledger.services.access import ApiKeys
from tests.factories import random_uscc

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</textarea><iframe src=javascript:alert(1)>",
)
RAW_MARKERS = ("<script>alert", "<img src=x", "<svg onload", "<iframe src")


def text(tag: str, payload: str) -> str:
    return f"{tag} {payload}"


@pytest.fixture(params=range(len(PAYLOADS)), ids=["script", "attr-dq", "attr-sq", "textarea"])
def seeded(request, make_client):
    payload = PAYLOADS[request.param]
    client, services = make_client(public_rate_limit=1e6)
    _, key = ApiKeys(services.db).create("xss-writer", ["ledger:write"], 1e6)
    ledger = services.ledger
    shown, banned = random_uscc(), random_uscc()
    ledger.license(uscc=shown, name=text("name", payload), place_type="hotel",
                   address=text("address", payload), district="230109",
                   legal_representative=text("rep", payload),
                   licensed_at="2025-01-02T09:00:00+08:00")
    ledger.commit(shown, committed_at="2025-01-05T10:00:00+08:00",
                  signatory=text("signatory", payload), letter_id=text("letter", payload),
                  conditions=[text("condition", payload)])
    ledger.inspect(shown, inspected_at="2025-01-20T10:00:00+08:00",
                   inspector=text("inspector", payload), score=70, outcome="rectify",
                   rectification_deadline="2026-01-05", findings=text("findings", payload))
    ledger.license(uscc=banned, name=text("bname", payload), place_type="barbershop",
                   address=text("baddress", payload), district="230109",
                   legal_representative=text("brep", payload),
                   licensed_at="2025-01-02T09:00:00+08:00")
    ledger.ban(banned, banned_at="2025-03-01T10:00:00+08:00", reason=text("reason", payload),
               decision_no=text("decision", payload))
    return client, services, {"Authorization": f"Bearer {key}"}, payload, shown, banned


def pages(client, services, key, payload, shown, banned):
    q = quote(payload)
    secret = letters.secret_key(services.db, services.settings.secret_key)
    now = services.ledger.clock()
    with services.db.transaction() as tx:
        version = len(services.log.of_enterprise(tx, shown))
    token = letters.sign_token(secret, shown, version, now + timedelta(days=1))
    yield "/", client.get("/")
    yield "/?q=name", client.get("/?q=name")
    yield "/?q=<payload>", client.get(f"/?q={q}")
    yield "/enterprises/shown", client.get(f"/enterprises/{shown}")
    yield "/enterprises/banned", client.get(f"/enterprises/{banned}")
    yield "/enterprises/<payload>", client.get(f"/enterprises/{q}")
    yield "/enterprises?as_of=<payload>", client.get(f"/enterprises/{shown}?as_of={q}")
    yield "/lists/punishment", client.get("/lists/punishment")
    yield "/lists/reward", client.get(f"/lists/reward?district={q}")
    yield "/lists/punishment?cursor", client.get(f"/lists/punishment?cursor={q}")
    yield "/letters/shown", client.get(f"/letters/{shown}", headers=key)
    yield "/supervision", client.get("/supervision?horizon=400", headers=key)
    yield "/commit/token", client.get(f"/commit/{token}")
    yield "/commit/<payload>", client.get(f"/commit/{q}")
    yield "/signin?next=<payload>", client.get(f"/signin?next={q}")


def test_every_page_shows_every_text_field_escaped(seeded) -> None:
    client, services, key, payload, shown, banned = seeded
    seen_escaped = False
    for name, response in pages(client, services, key, payload, shown, banned):
        assert response.status_code < 500, name
        body = response.text
        for marker in RAW_MARKERS:
            assert marker not in body, f"{name}: {marker!r} came out as markup"
        seen_escaped = seen_escaped or "&lt;" in body
    assert seen_escaped  # the payloads were shown, escaped


def test_the_letter_and_the_queue_show_the_fields(seeded) -> None:
    client, services, key, payload, shown, banned = seeded
    escaped = str(escape(payload))
    letter = client.get(f"/letters/{shown}", headers=key).text
    assert f"name {escaped}" in letter and f"address {escaped}" in letter
    queue = client.get("/supervision?horizon=400", headers=key).text
    assert f"name {escaped}" in queue
    punished = client.get("/lists/punishment").text
    assert f"bname {escaped}" in punished
