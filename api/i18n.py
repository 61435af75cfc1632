"""The pages' two languages: Chinese first, English as a choice.

Every label is a ``(zh, en)`` pair. The language of a request is ``?lang=zh|en`` when
given (and then remembered in the ``lang`` cookie, so a toggle sticks), else the
cookie, else Chinese. Pages and templates pick with ``t(pair_or_key)``:

    from api.i18n import LangDep, t
    def page(request: Request, lang: LangDep) -> Response: ...
    {{ t("nav.search") }}  {{ t(CLASS_LABELS["A"]) }}  (in a template)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request
from starlette.responses import Response

Label = tuple[str, str]
LANGS = ("zh", "en")
DEFAULT = "zh"
COOKIE = "lang"
COOKIE_SECONDS = 365 * 24 * 3600

STATUS_LABELS: dict[str, Label] = {
    "licensed": ("已领照，待承诺", "Licensed, no commitment yet"),
    "committed": ("已承诺，待核查", "Committed, awaiting verification"),
    "compliant": ("符合条件", "Compliant"),
    "rectifying": ("限期整改中", "Rectifying"),
    "overdue": ("逾期未整改", "Rectification overdue"),
    "banned": ("已取缔", "Banned"),
}
CLASS_LABELS: dict[str, Label] = {
    "A": ("守信", "Trustworthy"),
    "B": ("良好", "Good"),
    "C": ("警示", "Warning"),
    "D": ("失信", "Untrustworthy"),
}
# what each credit class means, in one line (domain.md, "Credit class")
CLASS_MEANINGS: dict[str, Label] = {
    "A": ("列入守信联合激励名单（红名单），无不良记录。",
          "On the joint reward (red) list, with no adverse record."),
    "B": ("无有效不良记录，尚未达到红名单条件。",
          "No active adverse record; not (yet) on the reward list."),
    "C": ("有一般不良记录（如逾期未整改），公示期内。",
          "A general adverse record (such as an overdue rectification) is on display."),
    "D": ("有严重不良记录（如被依法取缔），列入失信联合惩戒名单。",
          "A serious adverse record (such as a ban): on the joint punishment list."),
}
RECORD_LABELS: dict[str, Label] = {
    "rectification_overdue": ("逾期未整改", "Rectification overdue"),
    "banned": ("依法取缔", "Operation banned"),
}
SEVERITY_LABELS: dict[str, Label] = {"general": ("一般", "General"), "serious": ("严重", "Serious")}
DUE_LABELS: dict[str, Label] = {
    "verification": ("首次现场核查", "First on-site verification"),
    "rectification": ("整改期限", "Rectification deadline"),
}
# the hygiene grade as public places display it (quantified grading): face and score band
GRADE_LABELS: dict[str, tuple[str, Label, Label]] = {
    "A": ("😊", ("卫生状况良好", "Good hygiene"), ("90–100 分", "score 90–100")),
    "B": ("😐", ("卫生状况一般", "Fair hygiene"), ("70–89 分", "score 70–89")),
    "C": ("☹️", ("卫生状况较差", "Poor hygiene"), ("60–69 分", "score 60–69")),
}

# what the statistics count each month (ledger/projections/stats.py EVENTS): the dashboard
EVENT_LABELS: dict[str, Label] = {
    "licences": ("领照", "Licences"),
    "commitments": ("承诺", "Commitments"),
    "inspections": ("核查", "Inspections"),
    "rectifications": ("整改验收", "Rectifications"),
    "bans": ("取缔", "Bans"),
    "repairs": ("信用修复", "Repairs"),
}

LABELS: dict[str, Label] = {
    "site.title": ("公共场所卫生信用信息公示", "Public Place Credit Publicity"),
    "site.area": ("哈尔滨片区", "Harbin Area"),
    "site.footer": (
        "数据来自中国（黑龙江）自由贸易试验区哈尔滨片区信用账本。日期均为北京时间。",
        "Data from the credit ledger of the Harbin Area, China (Heilongjiang) Pilot Free "
        "Trade Zone. Dates are China Standard Time.",
    ),
    "skip": ("跳到正文", "Skip to content"),
    "nav.search": ("查询", "Search"),
    "nav.reward": ("红名单", "Reward list"),
    "nav.punishment": ("黑名单", "Punishment list"),
    "nav.supervision": ("监管队列", "Supervision"),
    "nav.analysis": ("政策比较", "Analysis"),
    "nav.dashboard": ("统计", "Dashboard"),
    "signin": ("监管人员登录", "Regulators: sign in"),
    "signout": ("退出", "Sign out"),
    "signed_in_as": ("已登录：", "Signed in as"),
    "lang.switch": ("English", "中文"),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
    "all": ("全部", "All"),
    "apply": ("筛选", "Apply"),
    "show": ("查看", "Show"),
    "as_of": ("截至日期", "As of"),
    "place_type": ("场所类型", "Place type"),
    "district": ("区域", "District"),
    "enterprise": ("企业", "Enterprise"),
    "uscc": ("统一社会信用代码", "USCC"),
    "date_hint": ("格式：年-月-日，如 2026-12-02", "Format: YYYY-MM-DD, e.g. 2026-12-02"),
    "class": ("信用等级", "Class"),
    "first_page": ("首页", "First page"),
    "next_page": ("下一页", "Next page"),
    "month": ("月份", "Month"),
    # the regulators' dashboard (api/dashboard.py, dashboard.html, its CSV)
    "dashboard.title": ("统计概览", "Dashboard"),
    "dashboard.lead": (
        "全市“四小”场所信用状况：名单与信用等级随时间的变化、每月监管事项，"
        "以及按区域和场所类型的当前分布。",
        "The city's \"four small\" places at a glance: the lists and credit classes over "
        "time, the regulators' work each month, and today's split by district and place type.",
    ),
    "dashboard.filters": ("筛选条件", "Filters"),
    "dashboard.as_of": ("截至", "As of"),
    "dashboard.months": ("月份范围", "Months"),
    "dashboard.enterprises": ("在册企业", "Enterprises"),
    "dashboard.verification_due": ("待首次核查（已到期）", "Verifications due"),
    "dashboard.rectification_overdue": ("逾期未整改", "Rectifications overdue"),
    "dashboard.lists": ("红黑名单（每月末）", "The lists at each month's end"),
    "dashboard.classes": ("信用等级构成（每月末）", "Credit classes at each month's end"),
    "dashboard.events": ("每月监管事项", "Events each month"),
    "dashboard.districts": ("按区域（今日）", "By district (today)"),
    "dashboard.place_types": ("按场所类型（今日）", "By place type (today)"),
    "dashboard.csv": ("下载数据（CSV）", "Download the numbers (CSV)"),
    "dashboard.district_code": ("区划代码", "District code"),
    "dashboard.place_type_code": ("场所类型代码", "Place type code"),
}


def pick(pair: Label, lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def bilingual(text: str) -> Label | None:
    """A message written "English 中文" (the error pages' titles, form errors) as a
    (zh, en) pair; None when it is not one."""
    at = next((i for i, ch in enumerate(text) if "\u4e00" <= ch <= "\u9fff"), None)
    if not at or not any(ch.isascii() and ch.isalpha() for ch in text[:at]):
        return None
    return text[at:].strip(), text[:at].strip()


def translator(lang: str) -> Callable[..., str]:
    """``t(key)`` or ``t((zh, en))``: the text in ``lang``; an unknown key is itself
    (or, written "English 中文", the part in ``lang``)."""

    def t(what: str | Label | list[str] | None, fallback: str = "") -> str:
        if what is None:
            return fallback
        if isinstance(what, str):
            found = LABELS.get(what) or bilingual(what)
            return pick(found, lang) if found else what
        return pick((what[0], what[1]), lang)

    return t


def chosen(request: Request) -> str | None:
    """The language asked for in the query string, if any (and valid)."""
    asked = request.query_params.get("lang")
    return asked if asked in LANGS else None


def page_lang(request: Request) -> str:
    """The request's language: ``?lang=``, else the cookie, else Chinese."""
    asked = chosen(request)
    if asked:
        return asked
    kept = request.cookies.get(COOKIE)
    return kept if kept in LANGS else DEFAULT


LangDep = Annotated[str, Depends(page_lang)]


def remember(request: Request, response: Response) -> None:
    """Keep a language chosen with ``?lang=`` for the next pages (the toggle sticks)."""
    asked = chosen(request)
    if asked and request.cookies.get(COOKIE) != asked:
        response.set_cookie(COOKIE, asked, max_age=COOKIE_SECONDS, path="/", samesite="lax")


def switch_url(request: Request, lang: str) -> str:
    """This page in the other language (same path and query, ``lang`` replaced)."""
    other = "en" if lang == "zh" else "zh"
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    params.append(("lang", other))
    return f"{request.url.path}?{urlencode(params)}"


def context(request: Request) -> dict[str, object]:
    """What every template gets: ``lang``, ``t`` and the toggle's link."""
    lang = page_lang(request)
    return {"lang": lang, "t": translator(lang), "switch_url": switch_url(request, lang)}
