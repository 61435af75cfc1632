"""An app over a fresh store (both stores) with settings of the test's choosing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.bootstrap import bootstrap
from ledger.settings import Settings
from tests.conftest import FixedClock

BASE = "https://testserver"


@pytest.fixture
def make_client(
    store_settings: Settings, clock: FixedClock
) -> Iterator[Callable[..., tuple[TestClient, Any]]]:
    """``make_client(**settings) -> (client, services)``; ``client=(host, port)`` sets
    the peer address the app sees."""
    opened: list[tuple[TestClient, Any]] = []

    def make(client: tuple[str, int] = ("192.0.2.10", 50000), **overrides: Any) -> Any:
        services = bootstrap(store_settings.model_copy(update=overrides), clock=clock)
        test_client = TestClient(create_app(services=services), base_url=BASE, client=client)
        opened.append((test_client, services))
        return test_client, services

    yield make
    for test_client, services in opened:
        test_client.close()
        services.close()
