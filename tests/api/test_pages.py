"""The HTML pages through the real ASGI app, on SQLite and PostgreSQL: public search,
enterprise and list pages, the regulator pages and their sign-in, and the QR flow from
the printed letter to a stored commitment."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from ledger.services import letters
from ledger.services.access import ApiKeys
from tests.factories import in_clear, licence, random_uscc

BASE = "https://testserver"  # the session cookie is Secure: browsers send it over HTTPS only


# -- the app and helpers ----------------------------------------------------------------------


def make_app(services):
    from api.app import create_app

    return create_app(services=services)


@pytest.fixture
def client(services) -> Iterator[TestClient]:
    # no lifespan: the services are the test's own (commands update the projections
    # before they return), so the app needs no projection follower of its own
    c = TestClient(make_app(services), base_url=BASE)
    c.cookies.set("lang", "en")  # these tests read the English pages (test_pages_i18n: Chinese)
    yield c
    c.close()


@pytest.fixture
def writer(services) -> str:
    return ApiKeys(services.db).create("inspector-1", ["ledger:write"])[1]


@pytest.fixture
def reader(services) -> str:
    return ApiKeys(services.db).create("bank-1", ["credit:read"])[1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def licensed(services, **overrides) -> str:
    uscc = random_uscc()
    services.ledger.license(**licence(uscc, **overrides))
    return uscc


def event_count(services, uscc: str) -> int:
    with services.db.transaction() as tx:
        return len(services.log.of_enterprise(tx, uscc))


def html_of(response) -> str:
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """A non-interlaced 8-bit-or-less PNG (grey, palette, RGB, with or without alpha) as
    8-bit grey pixels: enough to read a QR code from an image without an imaging library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, palette = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert interlace == 0 and depth <= 8
        elif kind == b"PLTE":
            palette = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    raw = zlib.decompress(idat)
    stride = (width * depth * channels + 7) // 8
    bpp = max(1, depth * channels // 8)
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    grey = bytearray()
    per_byte, mask = (8 // depth, (1 << depth) - 1) if depth < 8 else (1, 255)
    for line in rows:
        for x in range(width):
            if depth < 8:
                value = (line[x // per_byte] >> (8 - depth * (x % per_byte + 1))) & mask
            else:
                value = line[x * channels]  # grey, or the red channel (the code is black/white)
            if palette is not None:
                value = palette[3 * value]
            elif depth < 8:
                value = value * 255 // mask
            grey.append(value)
    return width, height, bytes(grey)


def read_qr(png: bytes) -> str:
    """The text of the one QR code in a PNG image."""
    width, height, grey = decode_png(png)
    zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp decodes the QR image")
    found = zxingcpp.read_barcodes(memoryview(grey).cast("B", (height, width)))
    assert len(found) == 1
    return found[0].text


def qr_link(page: str) -> str:
    """The link encoded in the letter's QR image, decoded from the image itself."""
    match = re.search(r'<img src="data:image/png;base64,([^"]+)"[^>]*id="qr"', page)
    assert match, "the letter has no inline QR image"
    return read_qr(base64.b64decode(match.group(1)))


def letter_link(client: TestClient, uscc: str, key: str) -> str:
    r = client.get(f"/letters/{uscc}", headers=bearer(key))
    assert r.status_code == 200, r.text
    return qr_link(r.text)


def path_of(link: str) -> str:
    return urlsplit(link).path


def form_fields(page: str) -> dict[str, object]:
    """What a person filling the commitment form in sends: every box ticked."""
    return {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
        "ack": re.findall(r'name="ack" value="([^"]+)"', page),
        "ack_legal": "yes",
        "signatory": "Zhang Wei",
    }


def commit_via_qr(client: TestClient, link: str) -> object:
    page = client.get(path_of(link))
    assert page.status_code == 200, page.text
    return client.post(path_of(link), data=form_fields(page.text))


# -- public: search ---------------------------------------------------------------------------


def test_home_page_offers_search_and_links_both_lists(client):
    page = html_of(client.get("/"))
    assert '<form class="search' in page and 'name="q"' in page
    assert 'href="/lists/reward"' in page and 'href="/lists/punishment"' in page
    assert '<html lang="en">' in page and 'name="viewport"' in page


def test_search_finds_enterprises_by_part_of_their_name(client, services):
    uscc = licensed(services, name="Harbin Snow Lotus Bathhouse", place_type="bathhouse")
    licensed(services, name="Daoli Golden Scissors Barbershop")
    page = html_of(client.get("/", params={"q": "snow lotus"}))
    assert "Harbin Snow Lotus Bathhouse" in page and f'href="/enterprises/{uscc}"' in page
    assert "Golden Scissors" not in page
    assert "Class B" in page and "Licensed, no commitment yet" in page  # its standing today


def test_search_finds_an_enterprise_by_its_uscc(client, services):
    uscc = licensed(services, name="Nangang Quiet Night Hotel", place_type="hotel")
    page = html_of(client.get("/", params={"q": uscc.lower()}))
    assert "Nangang Quiet Night Hotel" in page


def test_search_without_a_match_says_so(client):
    r = client.get("/", params={"q": "no such place"})
    assert r.status_code == 200 and "No enterprise matches" in r.text


def test_search_with_an_overlong_query_is_a_422_page(client):
    r = client.get("/", params={"q": "x" * 101})
    assert r.status_code == 422 and "at most 100" in html_of(r)


def test_search_with_control_characters_is_a_422_page(client):
    r = client.get("/", params={"q": "a\x00b"})
    assert r.status_code == 422 and "control characters" in html_of(r)


# -- public: one enterprise -------------------------------------------------------------------


def test_enterprise_page_shows_standing_and_no_personal_data(client, services):
    uscc = licensed(services, legal_representative="Liu Xiaoming")
    page = html_of(client.get(f"/enterprises/{uscc}"))
    assert "Songbei Riverside Barbershop" in page and uscc in page
    assert "Licensed, no commitment yet" in page and "Credit class B" in page
    assert "Business licence issued" in page
    assert "Liu Xiaoming" not in page


def test_enterprise_page_shows_active_records_and_the_punishment_list(client, services):
    uscc = licensed(services)
    services.ledger.ban(uscc, banned_at="2025-03-01T10:00:00+08:00", reason="no disinfection",
                        decision_no="SB-2025-17")
    page = html_of(client.get(f"/enterprises/{uscc}"))
    assert "On the joint punishment list" in page and "Credit class D" in page
    assert "Operation banned" in page and "2025-03-01" in page and "SB-2025-17" in page


def test_enterprise_page_honours_as_of(client, services):
    uscc = licensed(services)
    services.ledger.ban(uscc, banned_at="2025-03-01T10:00:00+08:00", reason="unsafe")
    before = html_of(client.get(f"/enterprises/{uscc}", params={"as_of": "2025-02-01"}))
    assert "Credit class B" in before and "Operation banned" not in before


def test_enterprise_page_for_an_unknown_uscc_is_a_404_page(client):
    r = client.get(f"/enterprises/{random_uscc()}")
    assert r.status_code == 404 and "Not found" in html_of(r)


def test_enterprise_page_before_the_licence_is_a_404_page(client, services):
    uscc = licensed(services)
    assert client.get(f"/enterprises/{uscc}", params={"as_of": "2024-01-01"}).status_code == 404


def test_enterprise_page_with_bad_input_is_a_422_page(client, services):
    uscc = licensed(services)
    for path in (
        "/enterprises/91350200776049653B",  # checksum
        "/enterprises/123",
        f"/enterprises/{uscc}?as_of=2025-13-01",
        f"/enterprises/{uscc}?as_of=yesterday",
    ):
        r = client.get(path)
        assert r.status_code == 422 and "Invalid input" in html_of(r), path


# -- public: the joint lists ------------------------------------------------------------------


def banned(services, **overrides) -> str:
    uscc = licensed(services, **overrides)
    services.ledger.ban(uscc, banned_at="2025-03-01T10:00:00+08:00", reason="unlicensed pool",
                        decision_no="HB-9")
    return uscc


def rewarded(services) -> str:
    uscc = licensed(services, name="Pingfang Model Salon", place_type="beauty_salon",
                    district="230108")
    services.ledger.commit(uscc, committed_at="2025-01-05T10:00:00+08:00", signatory="Li")
    for day in ("2025-02-01", "2025-06-01"):
        services.ledger.inspect(uscc, inspected_at=f"{day}T10:00:00+08:00", inspector="Zhao",
                                score=95, outcome="compliant")
    return uscc


def test_punishment_list_shows_banned_enterprises_with_record_and_reason(client, services):
    uscc = banned(services, name="Xiangfang Dark Bathhouse", place_type="bathhouse")
    page = html_of(client.get("/lists/punishment"))
    assert "Xiangfang Dark Bathhouse" in page and uscc in page
    assert "unlicensed pool" in page and "HB-9" in page and "2025-03-01" in page


def test_reward_list_shows_qualified_enterprises(client, services):
    uscc = rewarded(services)
    page = html_of(client.get("/lists/reward"))
    assert "Pingfang Model Salon" in page and uscc in page and "2025-06-01" in page
    assert "Pingfang Model Salon" not in client.get("/lists/punishment").text


def test_lists_filter_by_place_type_district_and_date(client, services):
    banned(services, name="Hotel Alpha", place_type="hotel")
    banned(services, name="Barber Beta", place_type="barbershop", district="230102")
    by_type = client.get("/lists/punishment", params={"place_type": "hotel"}).text
    assert "Hotel Alpha" in by_type and "Barber Beta" not in by_type
    by_district = client.get("/lists/punishment", params={"district": "230102"}).text
    assert "Barber Beta" in by_district and "Hotel Alpha" not in by_district
    before = client.get("/lists/punishment", params={"as_of": "2025-02-28"}).text
    assert "Hotel Alpha" not in before and "No enterprise is on this list" in before


def test_lists_page_through_with_the_next_link(client, services):
    names = sorted(banned(services, name=f"Place {i}") for i in range(3))
    first = client.get("/lists/punishment", params={"limit": "2"}).text
    assert names[0] in first and names[1] in first and names[2] not in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url).text
    assert names[2] in second and names[0] not in second and 'rel="next"' not in second


@pytest.mark.parametrize("which", ["reward", "punishment"])
def test_lists_with_bad_input_are_422_pages(client, which):
    for query in (
        {"place_type": "spa"}, {"district": "12"}, {"as_of": "2025-02-30"}, {"limit": "0"},
        {"limit": "abc"}, {"limit": "1001"}, {"cursor": "not-a-cursor"},
    ):
        r = client.get(f"/lists/{which}", params=query)
        assert r.status_code == 422 and "Invalid input" in html_of(r), query


# -- regulators: who may see the pages ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/supervision", "/letters/91350200776049653A"])
def test_regulator_pages_send_browsers_without_a_key_to_sign_in(client, path):
    r = client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/signin?next=%2F")


@pytest.mark.parametrize("path", ["/supervision", "/letters/91350200776049653A"])
def test_regulator_pages_answer_401_to_other_clients_without_a_key(client, path):
    r = client.get(path, headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def test_an_unknown_or_revoked_key_is_401(client, services, writer):
    assert client.get("/supervision", headers=bearer("lk_nonsense")).status_code == 401
    ApiKeys(services.db).revoke("inspector-1")
    assert client.get("/supervision", headers=bearer(writer)).status_code == 401


def test_a_key_without_ledger_write_is_403(client, reader):
    r = client.get("/supervision", headers=bearer(reader))
    assert r.status_code == 403 and "ledger:write" in html_of(r)


def test_a_ledger_write_key_opens_the_supervision_page(client, writer):
    r = client.get("/supervision", headers=bearer(writer))
    assert r.status_code == 200 and "Supervision queue" in html_of(r)


def signin(client: TestClient, key: str, next_url: str = "/supervision"):
    form = client.get("/signin", params={"next": next_url}).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    return client.post("/signin", data={"csrf_token": csrf, "api_key": key, "next": next_url},
                       follow_redirects=False)


def test_sign_in_sets_a_secure_httponly_lax_session_cookie(client, writer):
    r = signin(client, writer)
    assert r.status_code == 303 and r.headers["location"] == "/supervision"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("ledger_session="))
    flags = cookie.lower()
    assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags
    assert writer not in cookie  # the key itself never travels in the cookie
    page = client.get("/supervision")
    assert page.status_code == 200 and "Signed in as <strong>inspector-1</strong>" in page.text


def test_sign_out_ends_the_session_on_the_server(client, writer):
    signin(client, writer)
    stolen = client.cookies.get("ledger_session")
    page = client.get("/supervision").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    client.cookies.set("ledger_session", stolen)  # a copy of the old cookie no longer works
    assert client.get("/supervision", headers={"Accept": "text/html"},
                      follow_redirects=False).status_code == 303


def test_sign_out_needs_the_form_token(client, writer):
    signin(client, writer)
    assert client.post("/signout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get("/supervision").status_code == 200


def test_sign_in_with_a_wrong_or_read_only_key_is_refused(client, services, reader):
    assert signin(client, "lk_wrong").status_code == 401
    r = signin(client, reader)
    assert r.status_code == 403 and "ledger:write" in r.text
    assert "ledger_session" not in client.cookies
    with services.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM web_sessions") == 0


def test_sign_in_without_the_form_token_is_refused(client, services, writer):
    client.get("/signin")
    r = client.post("/signin", data={"api_key": writer}, follow_redirects=False)
    assert r.status_code == 403 and "ledger_session" not in client.cookies
    with services.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM web_sessions") == 0


def test_sign_in_only_redirects_within_the_site(client, writer):
    assert signin(client, writer, "//evil.example/x").headers["location"] == "/supervision"
    assert signin(client, writer, "https://evil.example/").headers["location"] == "/supervision"
    assert signin(client, writer, "/x\r\nSet-Cookie: a=b").headers["location"] == "/supervision"
    assert signin(client, writer, "/lists/reward?x=1").headers["location"] == "/lists/reward?x=1"


def test_a_session_ends_when_its_key_is_revoked(client, services, writer):
    signin(client, writer)
    ApiKeys(services.db).revoke("inspector-1")
    assert client.get("/supervision", headers={"Accept": "text/html"},
                      follow_redirects=False).status_code == 303


def test_a_forged_session_cookie_is_ignored(client):
    client.cookies.set("ledger_session", "abc.def")
    assert client.get("/supervision").status_code == 401


# -- regulators: the letter and the supervision queue ------------------------------------------


def test_the_letter_has_identity_conditions_clause_verifier_and_qr(client, services, writer):
    uscc = licensed(services, place_type="hotel", legal_representative="Chen Jing")
    page = html_of(client.get(f"/letters/{uscc}", headers=bearer(writer)))
    assert "Public Place Sanitation Notification and Commitment Letter" in page
    assert f"CL-{uscc}-V1" in page and "Songbei Riverside Barbershop" in page
    assert "Chen Jing" in page  # the regulator's printed letter names the representative
    assert "dedicated cleaning and disinfection room" in page  # hotel condition
    assert "valid health certificate" in page  # common condition
    assert "legal consequences" in page and "虚假承诺" in page
    assert "Public-place sanitation inspectors" in page and "within 60 days" in page
    assert qr_link(page).startswith("http://127.0.0.1:8000/commit/")


def test_pages_forbid_scripts_but_the_letters_print_button(client, services, writer):
    r = client.get(f"/letters/{licensed(services)}", headers=bearer(writer))
    policy = r.headers["content-security-policy"]
    handler = re.search(r'onclick="([^"]+)"', r.text).group(1)
    digest = base64.b64encode(hashlib.sha256(handler.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert "<script" not in r.text
    assert "frame-ancestors 'none'" in client.get("/").headers["content-security-policy"]


def test_the_qr_link_uses_the_configured_public_url(services, store_settings, writer):
    other, c = app_with(services, store_settings, public_url="https://credit.example.gov.cn/")
    try:
        link = letter_link(c, licensed(other), writer)
    finally:
        other.close()
    assert link.startswith("https://credit.example.gov.cn/commit/")


def app_with(services, store_settings, **settings):
    """Another app over the same store with other settings."""
    from ledger.bootstrap import bootstrap

    other = bootstrap(store_settings.model_copy(update=settings), clock=services.ledger.clock)
    return other, TestClient(make_app(other), base_url=BASE)


def test_the_letter_conditions_come_from_the_configured_file(
    services, store_settings, writer, tmp_path
):
    path = tmp_path / "conditions.json"
    path.write_text(json.dumps({"place_types": {"barbershop": [
        {"code": "mirror", "zh": "镜面清洁", "en": "Mirrors are cleaned daily."}]}}))
    other, c = app_with(services, store_settings, letter_conditions=str(path))
    try:
        uscc = licensed(other)
        letter = c.get(f"/letters/{uscc}", headers=bearer(writer)).text
        assert "Mirrors are cleaned daily." in letter
        assert commit_via_qr(c, letter_link(c, uscc, writer)).status_code == 200
        with other.db.transaction() as tx:
            conditions = other.log.of_enterprise(tx, uscc)[-1].data["conditions"]
    finally:
        other.close()
    assert conditions[-1] == "mirror: 镜面清洁 / Mirrors are cleaned daily."


def test_a_bad_conditions_file_stops_letters_but_not_the_public_pages(
    services, store_settings, writer, tmp_path
):
    path = tmp_path / "conditions.json"
    path.write_text("{not json")
    other, c = app_with(services, store_settings, letter_conditions=str(path))
    try:
        uscc = licensed(other)
        assert c.get(f"/enterprises/{uscc}").status_code == 200
        r = c.get(f"/letters/{uscc}", headers=bearer(writer))
    finally:
        other.close()
    assert r.status_code == 503 and "LEDGER_LETTER_CONDITIONS" in html_of(r)


def test_the_letter_for_an_unknown_enterprise_is_a_404_page(client, writer):
    assert client.get(f"/letters/{random_uscc()}", headers=bearer(writer)).status_code == 404


def test_the_letter_for_a_bad_uscc_is_a_422_page(client, writer):
    assert client.get("/letters/XYZ", headers=bearer(writer)).status_code == 422


def test_a_banned_enterprise_gets_no_letter(client, services, writer):
    r = client.get(f"/letters/{banned(services)}", headers=bearer(writer))
    assert r.status_code == 409 and "banned" in html_of(r)


def test_supervision_lists_enterprises_due_for_verification_or_rectification(
    client, services, writer
):
    late = licensed(services, name="Late Verification Hotel", place_type="hotel")
    services.ledger.commit(late, committed_at="2025-10-01T10:00:00+08:00", signatory="Li")
    fresh = licensed(services, name="Fresh Commitment Salon")
    services.ledger.commit(fresh, committed_at="2025-12-30T10:00:00+08:00", signatory="Li")
    rect = licensed(services, name="Rectifying Barbershop")
    services.ledger.commit(rect, committed_at="2025-10-01T10:00:00+08:00", signatory="Li")
    services.ledger.inspect(rect, inspected_at="2025-12-20T10:00:00+08:00", inspector="Zhao",
                            score=70, outcome="rectify", rectification_deadline="2026-01-05")
    page = html_of(client.get("/supervision", headers=bearer(writer)))
    assert "Late Verification Hotel" in page and "Rectifying Barbershop" in page
    assert "Fresh Commitment Salon" not in page  # due 2026-02-28, beyond 14 days
    assert page.index("Late Verification Hotel") < page.index("Rectifying Barbershop")
    assert "days late" in page and f'href="/letters/{late}"' in page
    wide = client.get("/supervision", params={"horizon": "90"}, headers=bearer(writer)).text
    assert "Fresh Commitment Salon" in wide


def test_supervision_with_bad_input_is_a_422_page(client, writer):
    for query in ({"horizon": "-1"}, {"horizon": "soon"}, {"limit": "0"}, {"cursor": "zzz"}):
        r = client.get("/supervision", params=query, headers=bearer(writer))
        assert r.status_code == 422 and "Invalid input" in html_of(r), query


# -- the QR flow ---------------------------------------------------------------------------------


def test_scanning_the_letter_and_submitting_records_the_commitment(client, services, writer):
    uscc = licensed(services, place_type="barbershop", legal_representative="Sun Mei")
    link = letter_link(client, uscc, writer)

    page = html_of(client.get(path_of(link)))  # on the phone: no key, no cookie needed
    assert "Songbei Riverside Barbershop" in page and uscc in page
    assert "separate tools for customers" in page  # barbershop condition, to tick
    assert "legal consequences" in page and "Public-place sanitation inspectors" in page
    assert "Sun Mei" not in page  # public page: no personal data
    assert 'name="signatory"' in page and 'type="checkbox"' in page

    done = client.post(path_of(link), data=form_fields(page))
    assert done.status_code == 200 and "Commitment recorded" in html_of(done)

    with services.db.transaction() as tx:
        events = services.log.of_enterprise(tx, uscc)
    committed = events[-1]
    assert committed.type == "Committed"
    assert committed.data["channel"] == "qr"
    assert committed.data["letter_id"] == f"CL-{uscc}-V1"
    assert in_clear(services, committed, "signatory") == "Zhang Wei"  # a commitment in the log
    codes = [c.code for c in letters.LetterConfig().conditions("barbershop")]
    assert [c.split(":", 1)[0] for c in committed.data["conditions"]] == codes
    assert committed.occurred_at.startswith("2026-01-01T04:00:00")

    public = html_of(client.get(f"/enterprises/{uscc}"))
    assert "Committed, awaiting verification" in public and "Commitment letter submitted" in public
    assert "Zhang Wei" not in public
    partner = ApiKeys(services.db).create("partner", ["credit:read"])[1]
    st = client.get(f"/v1/enterprises/{uscc}/standing", headers=bearer(partner))
    assert st.json()["status"] == "committed"


def test_replaying_a_used_link_stores_nothing(client, services, writer):
    uscc = licensed(services)
    link = letter_link(client, uscc, writer)
    page = client.get(path_of(link)).text
    assert client.post(path_of(link), data=form_fields(page)).status_code == 200
    count = event_count(services, uscc)

    again = client.post(path_of(link), data=form_fields(page))
    assert again.status_code == 409 and "already recorded" in html_of(again)
    assert client.get(path_of(link)).status_code == 409
    # a second print of the same letter is the same letter: spent too
    reprint = letter_link(client, uscc, writer)
    assert client.get(path_of(reprint)).status_code == 200  # a renewed letter, new version
    assert event_count(services, uscc) == count


def test_a_renewed_letter_after_a_commitment_is_a_new_letter(client, services, writer):
    uscc = licensed(services)
    first = letter_link(client, uscc, writer)
    assert commit_via_qr(client, first).status_code == 200
    renewed = client.get(f"/letters/{uscc}", headers=bearer(writer))
    assert "renewed letter" in renewed.text and f"CL-{uscc}-V2" in renewed.text
    assert commit_via_qr(client, qr_link(renewed.text)).status_code == 200
    assert event_count(services, uscc) == 3


def test_two_prints_of_one_letter_commit_once(client, services, writer):
    uscc = licensed(services)
    one, two = letter_link(client, uscc, writer), None
    services.ledger.clock.now += timedelta(hours=1)  # printed again later: another expiry
    two = letter_link(client, uscc, writer)
    assert one != two
    page_two = client.get(path_of(two)).text
    assert commit_via_qr(client, one).status_code == 200
    assert client.post(path_of(two), data=form_fields(page_two)).status_code == 409
    assert event_count(services, uscc) == 2


def test_a_form_field_sent_twice_is_422_and_commits_nothing(client, services, writer):
    uscc = licensed(services)
    link = letter_link(client, uscc, writer)
    fields = form_fields(client.get(path_of(link)).text)
    r = client.post(path_of(link), data={**fields, "signatory": ["Zhang Wei", "Li Na"]})
    assert r.status_code == 422 and "signatory" in r.text and "more than once" in r.text
    assert event_count(services, uscc) == 1
    # the ticked conditions share one name by design; the form still commits
    assert len(fields["ack"]) > 1
    assert client.post(path_of(link), data=fields).status_code == 200
    assert event_count(services, uscc) == 2


def test_sign_in_with_a_field_sent_twice_is_422_and_opens_no_session(client, services, writer):
    form = client.get("/signin").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = client.post("/signin", data={"csrf_token": csrf, "api_key": ["lk_wrong", writer]},
                    follow_redirects=False)
    assert r.status_code == 422 and "ledger_session" not in client.cookies
    with services.db.transaction() as tx:
        assert tx.value("SELECT COUNT(*) FROM web_sessions") == 0


def tamper(link: str, part: int, value: str) -> str:
    token = path_of(link).rsplit("/", 1)[1]
    pieces = token.split(".")
    pieces[part] = value
    return "/commit/" + ".".join(pieces)


def test_a_tampered_link_is_refused_and_stores_nothing(client, services, writer):
    uscc = licensed(services)
    other = licensed(services, name="Someone Else's Shop")
    link = letter_link(client, uscc, writer)
    good = client.get(path_of(link)).text
    token = path_of(link).rsplit("/", 1)[1]
    for bad in (
        tamper(link, 0, other),  # another enterprise
        tamper(link, 1, "2"),  # another letter
        tamper(link, 2, str(int(token.split(".")[2]) + 86400 * 365)),  # a later expiry
        tamper(link, 3, "A" * 22),  # another signature
        path_of(link)[:-3],  # truncated
        "/commit/%3Cscript%3E",
    ):
        r = client.get(bad)
        assert r.status_code in (400, 403) and "This link cannot be used" in html_of(r), bad
        assert "<script>" not in r.text
        assert client.post(bad, data=form_fields(good)).status_code in (400, 403), bad
    assert event_count(services, uscc) == 1 and event_count(services, other) == 1


def test_an_expired_link_is_refused_and_stores_nothing(client, services, writer):
    uscc = licensed(services)
    link = letter_link(client, uscc, writer)
    page = client.get(path_of(link)).text
    days = services.settings.letter_token_days
    services.ledger.clock.now += timedelta(days=days, seconds=1)
    r = client.get(path_of(link))
    assert r.status_code == 410 and "expired" in html_of(r)
    assert client.post(path_of(link), data=form_fields(page)).status_code == 410
    assert event_count(services, uscc) == 1


def test_a_link_signed_with_another_secret_is_refused(client, services):
    uscc = licensed(services)
    forged = letters.sign_token(b"guessed", uscc, 1, services.ledger.clock() + timedelta(days=1))
    assert client.get(f"/commit/{forged}").status_code == 403


def test_a_validly_signed_link_to_a_letter_never_issued_is_refused(client, services):
    uscc = licensed(services)
    secret = letters.secret_key(services.db, services.settings.secret_key)
    future = letters.sign_token(secret, uscc, 7, services.ledger.clock() + timedelta(days=1))
    assert client.get(f"/commit/{future}").status_code == 403


def test_an_incomplete_form_is_a_422_page_and_stores_nothing(client, services, writer):
    uscc = licensed(services)
    link = letter_link(client, uscc, writer)
    complete = form_fields(client.get(path_of(link)).text)
    for missing in ("signatory", "ack", "ack_legal", "one_ack"):
        fields = dict(complete)
        if missing == "one_ack":
            fields["ack"] = fields["ack"][1:]
        elif missing == "signatory":
            fields["signatory"] = "   "
        else:
            del fields[missing]
        r = client.post(path_of(link), data=fields)
        assert r.status_code == 422 and "Please correct the form" in html_of(r), missing
        assert 'role="alert"' in r.text and 'aria-invalid="true"' in r.text
        if missing != "signatory":
            assert 'value="Zhang Wei"' in r.text  # what was typed is kept
    assert event_count(services, uscc) == 1


def test_an_overlong_or_garbled_signatory_is_a_422_page(client, services, writer):
    uscc = licensed(services)
    link = letter_link(client, uscc, writer)
    for bad in ("x" * 101, "Zhang\x00Wei", "Zhang\x1bWei"):
        fields = form_fields(client.get(path_of(link)).text) | {"signatory": bad}
        assert client.post(path_of(link), data=fields).status_code == 422
    assert event_count(services, uscc) == 1


def test_the_commitment_form_needs_its_form_token(client, services, writer):
    uscc = licensed(services)
    link = letter_link(client, uscc, writer)
    fields = form_fields(client.get(path_of(link)).text)
    other = letter_link(client, licensed(services), writer)
    wrong = form_fields(client.get(path_of(other)).text)["csrf_token"]
    for token in (None, "forged", wrong):
        data = {k: v for k, v in fields.items() if k != "csrf_token"}
        if token is not None:
            data["csrf_token"] = token
        assert client.post(path_of(link), data=data).status_code == 403
    assert event_count(services, uscc) == 1


def test_a_link_to_an_enterprise_banned_since_is_refused(client, services, writer):
    uscc = licensed(services)
    link = letter_link(client, uscc, writer)
    page = client.get(path_of(link)).text
    services.ledger.ban(uscc, banned_at="2025-12-31T10:00:00+08:00", reason="fire exits")
    assert client.get(path_of(link)).status_code == 409
    r = client.post(path_of(link), data=form_fields(page))
    assert r.status_code == 409 and "banned" in r.text
    assert event_count(services, uscc) == 2


def test_error_pages_are_html_and_noindex(client):
    r = client.get("/commit/nonsense")
    assert r.status_code == 400
    assert 'content="noindex"' in html_of(r) and "Back to the search page" in r.text
