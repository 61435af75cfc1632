"""The pages in Chinese first, English as a choice, on SQLite and PostgreSQL: the
language by ?lang= (remembered in a cookie), records as words with their dates, the
hygiene grade with its face and band, each class's meaning, ISO date inputs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.test_pages import BASE, make_app
from tests.factories import licence, random_uscc


@pytest.fixture
def browser(services) -> Iterator[TestClient]:
    c = TestClient(make_app(services), base_url=BASE)  # no lang cookie: a first visit
    yield c
    c.close()


def at(day: str) -> str:
    return f"{day}T10:00:00+08:00"


def overdue(services) -> str:
    uscc = random_uscc()
    services.ledger.license(**licence(uscc, licensed_at=at("2025-01-02")))
    services.ledger.commit(uscc, committed_at=at("2025-01-10"), signatory="Wang Li")
    services.ledger.inspect(uscc, inspected_at=at("2025-02-01"), inspector="Li", score=65,
                            outcome="rectify", rectification_deadline="2025-02-15")
    return uscc


def graded(services, score: int) -> str:
    uscc = random_uscc()
    services.ledger.license(**licence(uscc, licensed_at=at("2025-01-02")))
    services.ledger.commit(uscc, committed_at=at("2025-01-10"), signatory="Wang Li")
    for day in ("2025-02-01", "2025-06-01"):
        services.ledger.inspect(uscc, inspected_at=at(day), inspector="Li", score=score,
                                outcome="compliant")
    return uscc


def test_pages_are_chinese_first(browser):
    page = browser.get("/").text
    assert '<html lang="zh-Hans">' in page
    assert ">查询<" in page and ">红名单<" in page and ">黑名单<" in page
    assert "Search" not in page.split("<main")[0].split("</title>")[1]  # no English label
    assert 'href="/?lang=en"' in page and ">English<" in page


def test_lang_en_switches_to_english_and_the_choice_sticks(browser):
    first = browser.get("/lists/reward", params={"lang": "en", "district": "230109"})
    assert '<html lang="en">' in first.text and "Joint reward" in first.text
    assert first.cookies.get("lang") == "en" or browser.cookies.get("lang") == "en"
    again = browser.get("/lists/punishment")  # no ?lang: the cookie keeps English
    assert '<html lang="en">' in again.text and "Joint punishment" in again.text
    # the toggle keeps the page and its filters
    assert 'href="/lists/reward?district=230109&amp;lang=zh"' in first.text
    back = browser.get("/lists/punishment", params={"lang": "zh"})
    assert '<html lang="zh-Hans">' in back.text and "失信联合惩戒名单" in back.text


def test_a_record_reads_as_words_with_its_dates(browser, services):
    uscc = overdue(services)
    zh = browser.get(f"/enterprises/{uscc}", params={"as_of": "2025-03-01"}).text
    assert "逾期未整改" in zh and "自 2025-02-16 起，公示至 2026-02-16" in zh
    assert "rectification_overdue-" not in zh  # never a raw id
    en = browser.get(f"/enterprises/{uscc}", params={"as_of": "2025-03-01", "lang": "en"}).text
    assert "Rectification overdue" in en and "since 2025-02-16, shown until 2026-02-16" in en
    assert "A general adverse record" in en  # class C's meaning
    assert "有一般不良记录" in zh


@pytest.mark.parametrize("score, grade, face, band", [
    (95, "A", "😊", "90–100 分"), (75, "B", "😐", "70–89 分"), (62, "C", "☹️", "60–69 分"),
])
def test_the_hygiene_grade_shows_its_face_and_band(browser, services, score, grade, face, band):
    uscc = graded(services, score)
    page = browser.get(f"/enterprises/{uscc}", params={"as_of": "2025-07-01"}).text
    assert f'<span class="grade grade-{grade}"><span class="letter">{grade}</span>' in page
    assert face in page and band in page


def test_every_date_input_is_iso_text_not_the_browsers_locale(browser, services):
    uscc = overdue(services)
    for path in ("/lists/reward", "/lists/punishment", f"/enterprises/{uscc}"):
        page = browser.get(path).text
        assert 'type="date"' not in page, path
        assert 'pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}"' in page and 'placeholder="YYYY-MM-DD"' in page
