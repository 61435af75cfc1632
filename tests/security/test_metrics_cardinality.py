"""/metrics cannot be grown by requests: unknown methods and unserved paths are counted
under one label each (``other``, ``unmatched``)."""

from __future__ import annotations

import random
import string


def series(client) -> set[str]:
    text = client.get("/metrics").text
    return {line.rsplit(" ", 1)[0] for line in text.splitlines()
            if line.startswith("ledger_http_")}


def junk(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(n))


def test_random_methods_and_paths_add_no_series(make_client) -> None:
    client, _ = make_client(public_rate_limit=1e6)  # statuses are bounded too; not 429 here
    rng = random.Random(7)
    client.request("M0", "/healthz")  # the bounded labels exist once
    client.get("/nowhere")
    client.request("M0", "/nowhere")
    before = series(client)
    for _ in range(40):
        client.request(junk(rng, rng.randint(1, 60)), "/healthz")
        client.request(junk(rng, 8), "/" + junk(rng, rng.randint(1, 200)))
        client.get("/v1/" + junk(rng, 30))
        client.get("/static/" + junk(rng, 12))
    after = series(client)
    assert after - before <= {s for s in after if "/metrics" in s}  # only the scrape itself
    assert not any("M0" in s for s in after)
    assert any('method="other"' in s for s in after)
    assert any('route="unmatched"' in s for s in after)
