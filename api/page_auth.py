"""Who may see the regulator pages, and the forms' CSRF tokens.

A regulator shows a ``ledger:write`` API key, either as ``Authorization: Bearer`` or
once through the sign-in form, which opens a server-side session: the cookie holds a
random id signed with the service's secret (Secure, HttpOnly, SameSite=Lax); only a
hash of the id is stored (by ``ledger.services.sessions``), and every request
re-checks that the key behind the session is still unrevoked and still has the scope.
Sign-out deletes the session.

CSRF: every POST form carries a token. Before sign-in it is the HMAC of a random
``ledger_csrf`` cookie (signed double submit); for sign-out, the HMAC of the session
id; on the public commitment page, the HMAC of the link itself (that page has no
ambient credential to abuse: the link is the credential).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from ledger.services.access import ApiKeys
from ledger.services.letters import derive_key
from ledger.services.sessions import SESSION_HOURS as SESSION_HOURS
from ledger.services.sessions import Sessions

WRITE_SCOPE = "ledger:write"
SESSION_COOKIE = "ledger_session"
CSRF_COOKIE = "ledger_csrf"


class SignInRequired(Exception):
    """No credential at all: browsers go to the sign-in form, other clients get 401."""


class Forbidden(Exception):
    """A credential that is unknown/revoked (401) or lacks the scope (403)."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(detail)


@dataclass(frozen=True)
class Regulator:
    key_name: str
    via: str  # "bearer" or "session"
    session_id: str | None = None


def _mac(secret: bytes, purpose: bytes, value: str) -> str:
    return hmac.new(derive_key(secret, purpose), value.encode(), hashlib.sha256).hexdigest()


# -- keys ------------------------------------------------------------------------------------


def check_key(keys: ApiKeys, raw_key: str) -> str:
    """The key's name when it may write to the ledger; `Forbidden` otherwise."""
    key = keys.authenticate(raw_key) if raw_key else None
    if key is None or key.revoked:
        raise Forbidden(401, "This API key is unknown or revoked.")
    if not key.has(WRITE_SCOPE):
        raise Forbidden(403, f"This API key lacks the {WRITE_SCOPE} scope needed here.")
    return key.name


# -- sessions --------------------------------------------------------------------------------


def open_session(sessions: Sessions, secret: bytes, key_name: str, now: datetime) -> str:
    """Store a new session; returns the cookie value (id and signature)."""
    sid = secrets.token_urlsafe(32)
    sessions.open(sid, key_name, now)
    return f"{sid}.{_mac(secret, b'session', sid)}"


def session_id(secret: bytes, cookie: str | None) -> str | None:
    """The session id of a cookie this service signed, else None."""
    if not cookie or cookie.count(".") != 1:
        return None
    sid, mac = cookie.split(".")
    return sid if hmac.compare_digest(mac, _mac(secret, b"session", sid)) else None


def regulator(
    request: Request, keys: ApiKeys, sessions: Sessions, secret: bytes, now: datetime
) -> Regulator:
    """The regulator making this request, from a Bearer key or a session cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Forbidden(401, "Use 'Authorization: Bearer <key>'.")
        return Regulator(check_key(keys, raw.strip()), "bearer")
    sid = session_id(secret, request.cookies.get(SESSION_COOKIE))
    if sid is not None:
        name = sessions.key_of(sid, now, WRITE_SCOPE)
        if name is not None:
            return Regulator(name, "session", sid)
    raise SignInRequired()


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="lax"
    )


# -- CSRF ------------------------------------------------------------------------------------


def csrf_cookie(request: Request) -> tuple[str, bool]:
    """The browser's CSRF cookie value, and whether it must be (re)set."""
    value = request.cookies.get(CSRF_COOKIE)
    if value and 20 <= len(value) <= 100:
        return value, False
    return secrets.token_urlsafe(24), True


def form_token(secret: bytes, bound_to: str) -> str:
    return _mac(secret, b"csrf", bound_to)


def form_token_ok(secret: bytes, bound_to: str | None, sent: object) -> bool:
    return (
        bool(bound_to)
        and isinstance(sent, str)
        and hmac.compare_digest(sent, form_token(secret, bound_to or ""))
    )


def safe_next(value: object) -> str:
    """Only a local path: never another site (open redirect)."""
    if (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith(("//", "/\\"))
        and value.isprintable()
        and len(value) <= 500
    ):
        return value
    return "/supervision"
