"""The HTML pages served beside the API.

Public, no key: ``/`` (search), ``/enterprises/{uscc}``, ``/lists/reward``,
``/lists/punishment`` and the commitment page behind a letter's QR code,
``/commit/{token}``, whose signed token is its only credential. For regulators (a
``ledger:write`` key as Bearer, or signed in at ``/signin``): ``/letters/{uscc}`` and
``/supervision``. Pages call the same application services as the API's routes
(``services.standing``, ``services.reads``; the one write, a commitment through a
letter, ``services.letters``); they run no SQL and open no transaction. Errors are
HTML pages, never a 500.
"""

from __future__ import annotations

import functools
import io
import logging
import unicodedata
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from api import i18n
from api import page_auth as auth
from api.i18n import (
    CLASS_LABELS,
    CLASS_MEANINGS,
    DUE_LABELS,
    GRADE_LABELS,
    RECORD_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
)
from api.strict import OnceEach
from ledger import values
from ledger.aggregates.enterprise import PLACE_TYPES
from ledger.bootstrap import Services
from ledger.errors import EnterpriseNotFound, InvalidInput, RuleViolation, VersionConflict
from ledger.projections import compare as comparison
from ledger.projections import queries
from ledger.services import letters
from ledger.services.access import ApiKeys
from ledger.services.commitments import Claimed, LetterRefused
from ledger.services.replica import ReadView
from ledger.storage.events import LoggedEvent
from ledger.values import CST, today_cst

logger = logging.getLogger("ledger.pages")
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
PAGE_LIMIT = 50
PAGE_MAX_LIMIT = 100  # a public page's cost is bounded: at most 100 rows
SEARCH_LIMIT = 50
MAX_QUERY = 100

TOKEN_STATUS = {"malformed": 400, "signature": 403, "expired": 410}
FormText = Annotated[str | None, Form(max_length=2000)]
# Pages run no script of their own but the letter's print button (allowed by its hash).
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "script-src 'unsafe-hashes' 'sha256-MguIPR6qNR8D3B+eAlK+bIRTZe8t3wkOY4B/56Me9FU='; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Pages with charts load the vendored Chart.js and /static/charts.js (no inline script).
CHART_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class PageError(Exception):
    """Shown as an error page with this status."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        super().__init__(detail)


# -- the error boundary -------------------------------------------------------------------


class PageRoute(APIRoute):
    """Every page's failures become HTML pages (sign-in redirect, 401/403, 4xx)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except auth.SignInRequired:
                if auth.wants_html(request):
                    query = request.url.query
                    target = request.url.path + (f"?{query}" if query else "")
                    return RedirectResponse(
                        "/signin?" + urlencode({"next": target}), status_code=303
                    )
                return error_page(
                    request, 401, "Sign-in required 需要登录",
                    "This page is for regulators: send 'Authorization: Bearer <key>' with a "
                    "ledger:write key, or sign in at /signin.",
                    headers={"WWW-Authenticate": 'Bearer realm="ledger"'},
                )
            except auth.Forbidden as e:
                headers = {"WWW-Authenticate": 'Bearer realm="ledger"'} if e.status == 401 else None
                title = "Not signed in 未登录" if e.status == 401 else "Forbidden 无权访问"
                return error_page(request, e.status, title, e.detail, headers=headers)
            except PageError as e:
                return error_page(request, e.status, e.title, e.detail)
            except InvalidInput as e:
                return error_page(request, 422, "Invalid input 输入有误", str(e))
            except RequestValidationError as e:
                fields = "; ".join(
                    f"{'.'.join(str(p) for p in err.get('loc', ())[1:])}: {err.get('msg')}"
                    for err in e.errors()
                )
                return error_page(request, 422, "Invalid input 输入有误", fields)
            except EnterpriseNotFound as e:
                return error_page(
                    request, 404, "Not found 未找到", f"No enterprise with USCC {e.uscc}."
                )

        return route


router = APIRouter(route_class=PageRoute, include_in_schema=False, tags=["pages"])


# -- helpers -----------------------------------------------------------------------------


@dataclass
class PageServices:
    services: Services
    secret: bytes
    keys: ApiKeys

    @functools.cached_property
    def config(self) -> letters.LetterConfig:
        """The letter's configuration, read when a letter is first needed: a bad
        ``LEDGER_LETTER_CONDITIONS`` file stops letters (503), not the public pages."""
        try:
            return letters.load_config(self.services.settings.letter_conditions)
        except InvalidInput as e:
            logger.error("LEDGER_LETTER_CONDITIONS: %s", e)
            raise PageError(
                503, "Letters unavailable 承诺书暂不可用",
                f"The letter configuration (LEDGER_LETTER_CONDITIONS) is invalid: {e}",
            ) from None

    def now(self) -> datetime:
        return self.services.ledger.clock()

    def today(self) -> str:
        return today_cst(self.now()).isoformat()


def page_services(request: Request) -> PageServices:
    """The services, the HMAC secret and the letter configuration (read once per app)."""
    state = getattr(request.app.state, "api", None)  # api.deps.ApiState, set at start-up
    if state is None:
        raise PageError(503, "Starting 正在启动", "The ledger is starting; retry shortly.")
    services: Services = state.services
    cached = getattr(request.app.state, "pages", None)
    if cached is None or cached.services is not services:
        cached = PageServices(services, services.letters.secret, state.keys)
        request.app.state.pages = cached
    return cached


def page_reads(request: Request, ps: PageServices) -> ReadView:
    """Where a page reads (the replica when set, else the primary); the response carries
    ``Ledger-Position`` like the API's reads."""
    view: ReadView | None = getattr(request.state, "read_view", None)  # the page cache's
    if view is None:
        view = ps.services.read.choose(None)
        request.state.read_view = view
    return view


def regulator(request: Request, ps: PageServices) -> auth.Regulator:
    return auth.regulator(request, ps.keys, ps.services.sessions, ps.secret, ps.now())


def label(pair: tuple[str, str] | None, fallback: str = "") -> str:
    return pair[1] if pair else fallback


TEMPLATES.env.globals.update(
    STATUS_LABELS=STATUS_LABELS,
    CLASS_LABELS=CLASS_LABELS,
    CLASS_MEANINGS=CLASS_MEANINGS,
    GRADE_LABELS=GRADE_LABELS,
    RECORD_LABELS=RECORD_LABELS,
    SEVERITY_LABELS=SEVERITY_LABELS,
    DUE_LABELS=DUE_LABELS,
    PLACE_TYPE_LABELS=letters.PLACE_TYPE_LABELS,
    DISTRICTS=letters.DISTRICTS,
    district_label=letters.district_label,
)


def render(
    request: Request, template: str, status: int = 200, headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    context.setdefault("regulator", None)
    for key, value in i18n.context(request).items():
        context.setdefault(key, value)
    response = TEMPLATES.TemplateResponse(
        request, template, context, status_code=status, headers=headers
    )
    i18n.remember(request, response)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", CSP)
    return response


def error_page(
    request: Request, status: int, title: str, detail: str,
    headers: dict[str, str] | None = None,
) -> Response:
    return render(
        request, "error.html", status=status, headers=headers, title=title, detail=detail,
        status_code=status,
    )


def day_param(value: str | None, default: str, field: str = "as_of") -> str:
    if value is None or value == "":
        return default
    return queries.check_day(value, field)


def limit_param(value: str | None, default: int = PAGE_LIMIT) -> int:
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 6 \
            or not 1 <= int(value) <= PAGE_MAX_LIMIT:
        raise InvalidInput(
            "limit", "range", f"limit: must be an integer from 1 to {PAGE_MAX_LIMIT}"
        )
    return int(value)


def place_type_param(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value not in PLACE_TYPES:
        raise InvalidInput(
            "place_type", "unknown", f"place_type: must be one of {', '.join(PLACE_TYPES)}"
        )
    return value


def district_param(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    return values.district(value)


def has_control_chars(value: str) -> bool:
    """NUL and other control characters: never part of a name (and PostgreSQL text
    cannot hold NUL)."""
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value)


def uscc_param(value: str) -> str:
    return values.uscc(value.strip())


def query_string(**params: Any) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


# -- public: search ----------------------------------------------------------------------


@router.get("/", name="home")
def home(request: Request, q: str | None = None) -> Response:
    ps = page_services(request)
    q = (q or "").strip()
    if len(q) > MAX_QUERY:
        raise InvalidInput("q", "too_long", f"q: at most {MAX_QUERY} characters")
    if has_control_chars(q):
        raise InvalidInput("q", "format", "q: must not contain control characters")
    results: list[dict[str, Any]] | None = None
    standings: dict[str, dict[str, Any]] = {}
    more = False
    if q:
        view = page_reads(request, ps)
        results = view.reads.search(q, SEARCH_LIMIT + 1)
        more = len(results) > SEARCH_LIMIT
        results = results[:SEARCH_LIMIT]
        standings = view.standing.many([r["uscc"] for r in results], ps.today())
    return render(
        request, "home.html", q=q, results=results, standings=standings, more=more,
        today=ps.today(),
    )


# -- public: one enterprise --------------------------------------------------------------


def public_event(event: LoggedEvent) -> dict[str, Any]:
    """One event as the public may see it: what happened, never who (no personal data);
    ``title`` and ``detail`` are (zh, en) pairs."""
    d = event.data
    detail: tuple[str, str] = ("", "")
    if event.type == "Licensed":
        title = ("取得营业执照", "Business licence issued")
    elif event.type == "Committed":
        title = ("提交告知承诺书", "Commitment letter submitted")
        qr = d.get("channel") == "qr"
        detail = ("扫码提交", "by QR code") if qr else ("窗口提交", "at the counter")
    elif event.type == "Inspected":
        title = ("现场核查", "On-site inspection")
        outcomes = {"compliant": ("符合条件", "compliant"),
                    "rectify": ("责令限期整改", "rectification ordered"),
                    "ban": ("不符合条件", "conditions not met")}
        zh, en = outcomes.get(d.get("outcome", ""), (d.get("outcome", ""),) * 2)
        detail = (f"{d.get('score')} 分，{zh}", f"score {d.get('score')}, {en}")
        if d.get("rectification_deadline"):
            deadline = d["rectification_deadline"]
            detail = (f"{detail[0]}，整改期限 {deadline}", f"{detail[1]}, deadline {deadline}")
    elif event.type == "Rectified":
        title = ("整改验收通过", "Rectification verified")
    elif event.type == "Banned":
        title = ("依法取缔", "Operation banned")
        reason = d.get("reason", "")
        if d.get("decision_no"):
            reason += f" ({d['decision_no']})"
        detail = (reason, reason)
    elif event.type == "CreditRepaired":
        title = ("信用修复", "Credit repaired")
        detail = record_name(d.get("record", ""))
    else:
        title = (event.type, event.type)
    return {"on": event.occurred_on, "title": title, "detail": detail if detail[0] else None}


def record_name(record_id: str) -> tuple[str, str]:
    """A record id (``rectification_overdue-3``) as words."""
    kind = record_id.rsplit("-", 1)[0]
    zh, en = RECORD_LABELS.get(kind, (record_id, record_id))
    return (f"记录：{zh}", f"record: {en}")


@router.get("/enterprises/{uscc}", name="enterprise")
def enterprise(request: Request, uscc: str, as_of: str | None = None) -> Response:
    ps = page_services(request)
    code = uscc_param(uscc)
    day = day_param(as_of, ps.today())
    view = page_reads(request, ps)
    try:  # public page: no personal data
        standing = view.standing.standing(code, day, personal=False)
    except EnterpriseNotFound:
        raise PageError(
            404, "Not found 未找到",
            f"No enterprise with USCC {code} is in the ledger"
            + (f" on {day}." if as_of else "."),
        ) from None
    events = view.standing.events(code)
    history = [public_event(e) for e in events if e.occurred_on <= day]
    return render(
        request, "enterprise.html", s=standing, history=list(reversed(history)), as_of=day,
        today=ps.today(),
    )


# -- public: the joint lists -------------------------------------------------------------


def joint_list(request: Request, which: str) -> Response:
    ps = page_services(request)
    params = request.query_params
    day = day_param(params.get("as_of"), ps.today())
    place_type = place_type_param(params.get("place_type"))
    district = district_param(params.get("district"))
    limit = limit_param(params.get("limit"))
    cursor = params.get("cursor") or None
    reads = page_reads(request, ps).reads
    lister = reads.reward_list if which == "reward" else reads.punishment_list
    items, next_cursor = lister(day, place_type, district, limit, cursor)
    filters = {"as_of": params.get("as_of"), "place_type": place_type, "district": district,
               "limit": params.get("limit")}
    next_url = (
        f"{request.url.path}?{query_string(**filters, cursor=next_cursor)}" if next_cursor else None
    )
    first_url = f"{request.url.path}?{query_string(**filters)}" if cursor else None
    return render(
        request, f"list_{which}.html", items=items, as_of=day, place_type=place_type,
        district=district, next_url=next_url, first_url=first_url, which=which,
        today=ps.today(),
    )


@router.get("/lists/reward", name="reward_list")
def reward(request: Request) -> Response:
    return joint_list(request, "reward")


@router.get("/lists/punishment", name="punishment_list")
def punishment(request: Request) -> Response:
    return joint_list(request, "punishment")


# -- regulators: sign-in -----------------------------------------------------------------


def signin_form(
    request: Request, ps: PageServices, next_url: str, error: str | None = None,
    status: int = 200,
) -> Response:
    value, fresh = auth.csrf_cookie(request)
    response = render(
        request, "signin.html", status=status, next=next_url, error=error,
        csrf=auth.form_token(ps.secret, "signin:" + value),
    )
    if fresh:
        auth.set_cookie(response, auth.CSRF_COOKIE, value, None)
    return response


@router.get("/signin", name="signin")
def signin(request: Request, next: str | None = None) -> Response:
    return signin_form(request, page_services(request), auth.safe_next(next))


@router.post("/signin", dependencies=[Depends(OnceEach())])
def signin_post(
    request: Request,
    csrf_token: FormText = None,
    api_key: FormText = None,
    next: FormText = None,
) -> Response:
    ps = page_services(request)
    next_url = auth.safe_next(next)
    cookie = request.cookies.get(auth.CSRF_COOKIE)
    if not cookie or not auth.form_token_ok(ps.secret, "signin:" + cookie, csrf_token):
        return signin_form(
            request, ps, next_url, "The form expired or was not sent from this site. "
            "Please try again. 表单已失效，请重试。", status=403,
        )
    try:
        name = auth.check_key(ps.keys, (api_key or "").strip())
    except auth.Forbidden as e:
        return signin_form(request, ps, next_url, e.detail, status=e.status)
    cookie_value = auth.open_session(ps.services.sessions, ps.secret, name, ps.now())
    response = RedirectResponse(next_url, status_code=303)
    auth.set_cookie(response, auth.SESSION_COOKIE, cookie_value, auth.SESSION_HOURS * 3600)
    return response


@router.post("/signout", name="signout", dependencies=[Depends(OnceEach())])
def signout(request: Request, csrf_token: FormText = None) -> Response:
    ps = page_services(request)
    sid = auth.session_id(ps.secret, request.cookies.get(auth.SESSION_COOKIE))
    if sid is not None:
        if not auth.form_token_ok(ps.secret, "signout:" + sid, csrf_token):
            raise PageError(403, "Forbidden 无权访问", "The sign-out form was not sent from "
                            "this site. Please sign out from the page's own button.")
        ps.services.sessions.close(sid)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        auth.SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax"
    )
    return response


def regulator_context(ps: PageServices, who: auth.Regulator) -> dict[str, Any]:
    csrf = auth.form_token(ps.secret, "signout:" + who.session_id) if who.session_id else None
    return {"regulator": who, "signout_csrf": csrf}


# -- regulators: the letter --------------------------------------------------------------


def qr_png(link: str) -> str:
    return str(segno.make(link, error="m", micro=False).png_data_uri(scale=8, border=4))


LETTER_REFUSED = {  # LetterRefused.reason -> status and title
    "used": (409, "Already submitted 已提交"),
    "banned": (409, "Commitment not possible 不能承诺"),
    "unissued": (403, "This link cannot be used 链接无效"),
}


def refused(e: LetterRefused) -> PageError:
    status, title = LETTER_REFUSED[e.reason]
    return PageError(status, title, e.detail)


@router.get("/letters/{uscc}", name="letter")
def letter(request: Request, uscc: str) -> Response:
    ps = page_services(request)
    who = regulator(request, ps)
    code = uscc_param(uscc)
    try:
        issued = ps.services.letters.issue(code, ps.now(), ps.config)
    except LetterRefused as e:
        raise PageError(
            409, "No letter for a banned enterprise 已取缔，不能出具承诺书", e.detail
        ) from None
    return render(
        request, "letter.html", letter=issued.letter, link=issued.link, qr=qr_png(issued.link),
        renewed=issued.renewed, **regulator_context(ps, who),
    )


# -- regulators: the supervision queue ---------------------------------------------------


@router.get("/supervision", name="supervision")
def supervision(request: Request) -> Response:
    ps = page_services(request)
    who = regulator(request, ps)
    params = request.query_params
    horizon_raw = params.get("horizon")
    if horizon_raw in (None, ""):
        horizon = ps.services.settings.queue_horizon_days
    elif horizon_raw.isascii() and horizon_raw.isdigit() and int(horizon_raw) <= 3660:
        horizon = int(horizon_raw)
    else:
        raise InvalidInput("horizon", "range", "horizon: must be a whole number of days (0-3660)")
    limit = limit_param(params.get("limit"))
    cursor = params.get("cursor") or None
    today = ps.today()
    reads = page_reads(request, ps).reads
    items, next_cursor = reads.supervision_queue(today, horizon, limit, cursor)
    keep = {"horizon": horizon_raw, "limit": params.get("limit")}
    next_url = f"/supervision?{query_string(**keep, cursor=next_cursor)}" if next_cursor else None
    return render(
        request, "supervision.html", items=items, today=today, horizon=horizon,
        next_url=next_url, first_url=f"/supervision?{query_string(**keep)}" if cursor else None,
        **regulator_context(ps, who),
    )


# -- regulators: comparing two projection sets (policy analysis) ---------------------------


def comparison_chart(found: dict[str, Any], t: Callable[..., str]) -> dict[str, Any]:
    """A Chart.js bar chart: each set's list and class counts side by side."""
    labels = [t("nav.reward"), t("nav.punishment"),
              *(t("class") + " " + c for c in comparison.CLASSES)]

    def values(side: dict[str, Any]) -> list[int]:
        return [side["reward_list"], side["punishment_list"],
                *(side["by_class"].get(c, 0) for c in comparison.CLASSES)]

    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": [
            {"label": f"A: {found['a']['id']}", "data": values(found["totals"]["a"]),
             "backgroundColor": "#0b3d91"},
            {"label": f"B: {found['b']['id']}", "data": values(found["totals"]["b"]),
             "backgroundColor": "#d97706"},
        ]},
        "options": {"plugins": {"legend": {"position": "bottom"}},
                    "scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}}},
    }


def set_param(value: str | None, field: str) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > 64 or not all(c.isalnum() or c in "._-" for c in value):
        raise InvalidInput(field, "format", f"{field}: not a projection set id")
    return value


@router.get("/analysis", name="analysis")
def analysis(request: Request) -> Response:
    ps = page_services(request)
    who = regulator(request, ps)
    params = request.query_params
    day = day_param(params.get("as_of"), ps.today())
    sets = ps.services.reads.comparable_sets()
    a = set_param(params.get("a"), "a") or "live"
    b = set_param(params.get("b"), "b") or next(
        (st["id"] for st in sets if st["state"] == "ready"), None
    )
    found = ps.services.reads.compare(a, b, day) if b else None
    t = i18n.translator(i18n.page_lang(request))
    csv_url = f"/analysis.csv?{query_string(a=a, b=b, as_of=day)}" if found else None
    return render(
        request, "analysis.html", sets=sets, a=a, b=b, as_of=day, found=found,
        chart=comparison_chart(found, t) if found else None, csv_url=csv_url,
        headers={"Content-Security-Policy": CHART_CSP}, **regulator_context(ps, who),
    )


@router.get("/analysis.csv", name="analysis_csv")
def analysis_csv(request: Request) -> Response:
    """The enterprises that differ, as `ledger projections compare --csv` writes them."""
    ps = page_services(request)
    regulator(request, ps)
    params = request.query_params
    day = day_param(params.get("as_of"), ps.today())
    a = set_param(params.get("a"), "a") or "live"
    b = set_param(params.get("b"), "b")
    if b is None:
        raise InvalidInput("b", "missing", "b: the set to compare with is required")
    found = ps.services.reads.compare(a, b, day)
    out = io.StringIO()
    comparison.write_csv(out, found["moved"])
    return Response(
        out.getvalue(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="compare-{day}.csv"',
                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


# -- public: the commitment page behind the QR code --------------------------------------


def claimed_letter(ps: PageServices, token: str) -> Claimed:
    """The letter a link grants, still unused; a clear 4xx otherwise (nothing stored)."""
    try:
        return ps.services.letters.claim(token, ps.now(), ps.config)
    except letters.BadToken as e:
        raise PageError(
            TOKEN_STATUS[e.reason], "This link cannot be used 链接无效", str(e)
        ) from None
    except LetterRefused as e:
        raise refused(e) from None


def commit_form(
    request: Request, ps: PageServices, token: str, claimed: Claimed,
    errors: dict[str, str] | None = None, signatory: str = "", acked: set[str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request, "commit.html", status=status, letter=claimed.letter, token=token,
        csrf=auth.form_token(ps.secret, "commit:" + token), errors=errors or {},
        signatory=signatory, acked=acked or set(),
    )


@router.get("/commit/{token}", name="commit")
def commit_page(request: Request, token: str) -> Response:
    ps = page_services(request)
    return commit_form(request, ps, token, claimed_letter(ps, token))


@router.post("/commit/{token}", dependencies=[Depends(OnceEach("ack"))])
def commit_post(
    request: Request,
    token: str,
    csrf_token: FormText = None,
    signatory: FormText = None,
    ack: Annotated[list[str] | None, Form()] = None,
    ack_legal: FormText = None,
) -> Response:
    ps = page_services(request)
    claimed = claimed_letter(ps, token)
    if not auth.form_token_ok(ps.secret, "commit:" + token, csrf_token):
        raise PageError(403, "Forbidden 无权访问", "The form was not sent from this page. "
                        "Please open the link again and submit the form there.")
    signatory = (signatory or "").strip()
    acked = set(ack or ())
    conditions = claimed.letter.conditions
    errors: dict[str, str] = {}
    if not signatory:
        errors["signatory"] = "Enter the name of the person signing. 请填写签署人姓名。"
    elif len(signatory) > 100:
        errors["signatory"] = "At most 100 characters. 不超过100个字符。"
    elif has_control_chars(signatory):
        errors["signatory"] = "Use letters only, no control characters. 请勿输入控制字符。"
    missing = [c for c in conditions if c.code not in acked]
    if missing:
        errors["ack"] = (
            f"Confirm each condition ({len(missing)} not confirmed). 请逐条确认承诺条件。"
        )
    if ack_legal != "yes":
        errors["ack_legal"] = "Confirm the clause on false commitments. 请确认法律责任条款。"
    if errors:
        return commit_form(request, ps, token, claimed, errors, signatory, acked, status=422)
    try:
        written = ps.services.letters.commit(
            claimed.claim.uscc,
            committed_at=ps.now(),
            signatory=signatory,
            letter_id=claimed.claim.letter_id,
            channel="qr",
            conditions=[c.as_recorded() for c in conditions],
        )
    except LetterRefused as e:
        raise refused(e) from None
    except VersionConflict:
        raise PageError(409, "Please try again 请重试", "The enterprise's record changed while "
                        "the commitment was being saved. Open the link again.") from None
    except RuleViolation as e:
        raise PageError(409, "Commitment not possible 不能承诺", e.detail) from None
    except InvalidInput as e:
        return commit_form(
            request, ps, token, claimed, {"signatory": str(e)}, signatory, acked, status=422
        )
    standing = ps.services.standing.many([claimed.claim.uscc], ps.today()).get(
        claimed.claim.uscc
    )
    committed_at = datetime.fromisoformat(written.events[-1].occurred_at).astimezone(CST)
    return render(
        request, "committed.html", letter=claimed.letter, written=written, standing=standing,
        committed_at=committed_at.strftime("%Y-%m-%d %H:%M"),
    )

