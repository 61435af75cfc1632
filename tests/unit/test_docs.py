"""The docs in the repository: every curl example of docs/api.md calls a route the app
serves (by its own OpenAPI), every write and read of the contract has an example, and
the README links the docs and nothing outside the repository."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from api.app import create_app

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"

CONTRACT = {  # every write and read of the contract, as the OpenAPI names the path
    ("POST", "/v1/enterprises"),
    ("POST", "/v1/enterprises/{uscc}/commitments"),
    ("POST", "/v1/enterprises/{uscc}/inspections"),
    ("POST", "/v1/enterprises/{uscc}/rectifications"),
    ("POST", "/v1/enterprises/{uscc}/bans"),
    ("POST", "/v1/enterprises/{uscc}/repairs"),
    ("GET", "/v1/enterprises/{uscc}/standing"),
    ("POST", "/v1/standings:lookup"),
    ("GET", "/v1/lists/punishment"),
    ("GET", "/v1/lists/reward"),
    ("GET", "/v1/stats"),
    ("GET", "/v1/stats/monthly"),
    ("GET", "/v1/feed"),
    ("GET", "/v1/enterprises/{uscc}/events"),
    ("GET", "/v1/audit/checkpoint"),
    ("GET", "/v1/audit/public-key"),
    ("GET", "/v1/audit/proofs/inclusion"),
    ("GET", "/v1/audit/proofs/consistency"),
}


def curl_calls() -> list[tuple[str, str, str]]:
    """(method, path, query) of every curl command in the guide's shell blocks."""
    text = API_DOC.read_text(encoding="utf-8")
    calls = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        words = shlex.split(block.replace("\\\n", " "), comments=True)
        starts = [i for i, w in enumerate(words) if w == "curl"]
        if not starts:
            continue
        for start, end in zip(starts, [*starts[1:], len(words)], strict=True):
            command = words[start:end]
            url = next(w for w in command if w.startswith("$BASE"))
            method = command[command.index("-X") + 1] if "-X" in command else (
                "POST" if "-d" in command else "GET")
            path, _, query = url.removeprefix("$BASE").partition("?")
            calls.append((method, path, query))
    return calls


@pytest.fixture(scope="module")
def served() -> dict[str, set[str]]:
    schema = create_app().openapi()
    return {path: {m.upper() for m in ops} for path, ops in schema["paths"].items()}


def template_of(path: str, served: dict[str, set[str]]) -> str | None:
    for template in served:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    return None


def test_the_guide_has_curl_examples():
    assert len(curl_calls()) >= len(CONTRACT)


@pytest.mark.parametrize(("method", "path", "query"), curl_calls())
def test_every_curl_example_calls_a_route_the_app_serves(method, path, query, served):
    template = template_of(path, served)
    assert template is not None, f"{path} is not in the OpenAPI"
    assert method in served[template], f"{method} {template} is not served"


def test_every_write_and_read_of_the_contract_has_an_example(served):
    shown = {(m, template_of(p, served)) for m, p, _ in curl_calls()}
    assert CONTRACT - shown == set()


def test_the_guide_shows_the_headers_and_parameters_users_rely_on():
    text = API_DOC.read_text(encoding="utf-8")
    queries = " ".join(q for _, _, q in curl_calls())
    for header in ("Idempotency-Key:", "If-Match:", "Authorization: Bearer"):
        assert header in text
    for param in ("as_of=", "known_at=", "cursor", "after=", "position=", "first="):
        assert param in queries or param in text


def test_the_readme_links_the_docs_and_nothing_outside_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/domain.md" in readme and "docs/api.md" in readme
    assert "../" not in readme
    for target in re.findall(r"\]\(([^)#]+)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), target
