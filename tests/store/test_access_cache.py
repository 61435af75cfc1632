"""Live keys are remembered briefly in a process; revocations elsewhere apply within
KEY_CACHE_SECONDS, revocations here at once."""

from ledger.services import access
from ledger.services.access import KEY_CACHE_SECONDS, ApiKeys


def test_a_key_revoked_by_another_process_is_refused_within_the_cache_window(
    services, monkeypatch
):
    keys = ApiKeys(services.db)
    _, token = keys.create("partner-cache", ["credit:read"])
    assert not keys.authenticate(token).revoked
    with services.db.transaction(write=True) as tx:  # as `ledger keys revoke` elsewhere would
        tx.execute("UPDATE api_keys SET revoked_at = 'now' WHERE name = 'partner-cache'")
    assert not keys.authenticate(token).revoked  # still remembered here
    now = access.time.monotonic()
    monkeypatch.setattr(access.time, "monotonic", lambda: now + KEY_CACHE_SECONDS + 0.01)
    assert keys.authenticate(token).revoked


def test_a_revocation_in_this_process_applies_at_once(services):
    keys = ApiKeys(services.db)
    _, token = keys.create("partner-here", ["credit:read"])
    assert not keys.authenticate(token).revoked
    ApiKeys(services.db).revoke("partner-here")
    assert keys.authenticate(token).revoked


def test_unknown_tokens_are_not_remembered(services):
    keys = ApiKeys(services.db)
    assert keys.authenticate("lk_not-a-key") is None
    assert all(digest != access.hash_key("lk_not-a-key") for _, digest in access._LIVE_KEYS)
