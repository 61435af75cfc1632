"""The Public Place Sanitation Notification and Commitment Letter and its QR link.

A letter is issued for an enterprise as it stands at one version: its id is
``CL-<uscc>-V<version>``, so every print of the letter for that state is the same
letter, and once a commitment naming it is stored every copy of its link is spent.
The QR code carries a link to the public commitment page whose token is the only
credential: ``<uscc>.<version>.<expires>.<mac>``, where ``mac`` is an HMAC-SHA256
(truncated to 128 bits, base64url) over the rest, keyed for this one purpose.

Everything here is pure except `secret_key`, which reads (and on first start stores)
the service's HMAC secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ledger.aggregates.enterprise import letter_id_for
from ledger.errors import InvalidInput
from ledger.values import CST

TOKEN_PURPOSE = b"ledger/letter-commit/v1"
MAC_BYTES = 16
MAX_TOKEN_DAYS = 3650  # LEDGER_LETTER_TOKEN_DAYS at most: ten years
MAX_EXPIRES = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
_TOKEN = re.compile(r"^([0-9A-Z]{18})\.([1-9][0-9]{0,8})\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{22})$")


# -- what the letter says ------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One condition the enterprise commits to meet; ``code`` is stable, the text is
    what the signatory reads (Chinese, the legal text, and English)."""

    code: str
    zh: str
    en: str

    def as_recorded(self) -> str:
        """How an acknowledged condition is stored on the ``Committed`` event."""
        return f"{self.code}: {self.zh} / {self.en}"


PLACE_TYPE_LABELS = {
    "hotel": ("旅店", "Hotel"),
    "bathhouse": ("公共浴室", "Bathhouse"),
    "beauty_salon": ("美容店", "Beauty salon"),
    "barbershop": ("理发店", "Barbershop"),
}

DISTRICTS = {
    "230102": ("道里区", "Daoli District"),
    "230103": ("南岗区", "Nangang District"),
    "230104": ("道外区", "Daowai District"),
    "230108": ("平房区", "Pingfang District"),
    "230109": ("松北区", "Songbei District"),
    "230110": ("香坊区", "Xiangfang District"),
    "230111": ("呼兰区", "Hulan District"),
    "230112": ("阿城区", "Acheng District"),
    "230113": ("双城区", "Shuangcheng District"),
}

COMMON_CONDITIONS = (
    Condition(
        "health_certificates",
        "直接为顾客服务的从业人员持有有效健康合格证明，并经卫生知识培训。",
        "Every employee who serves customers directly holds a valid health certificate "
        "and has had sanitation training.",
    ),
    Condition(
        "sanitation_management",
        "建立卫生管理制度和卫生管理档案，配备专（兼）职卫生管理人员。",
        "Sanitation rules and a sanitation file are in place, with a named (full- or "
        "part-time) sanitation manager.",
    ),
    Condition(
        "annual_testing",
        "每年对空气、微小气候、水质、采光、照明、噪声及顾客用品用具进行卫生检测，并公示检测结果。",
        "Air, microclimate, water, lighting, noise and customer articles are tested every "
        "year and the results are displayed publicly.",
    ),
    Condition(
        "ventilation_and_pests",
        "通风设施运行正常，具备防鼠、防蚊、防蝇、防蟑螂等设施。",
        "Ventilation works properly, and rodents, mosquitoes, flies and cockroaches are "
        "kept out.",
    ),
    Condition(
        "no_smoking",
        "室内场所全面禁止吸烟，并设置醒目的禁止吸烟标识。",
        "Smoking is banned indoors, with clear no-smoking signs.",
    ),
)

PLACE_CONDITIONS = {
    "hotel": (
        Condition(
            "hotel_disinfection_room",
            "设置专用清洗消毒间，配备清洗、消毒、保洁设施，茶具和洁具分池清洗。",
            "A dedicated cleaning and disinfection room, with separate sinks for cups and "
            "for sanitary ware.",
        ),
        Condition(
            "hotel_linen",
            "床上用品一客一换，设置布草间，清洁与污染布草分开存放。",
            "Bedding is changed for every guest; clean and used linen are stored apart.",
        ),
    ),
    "bathhouse": (
        Condition(
            "bath_articles",
            "毛巾、浴巾、拖鞋等公共用品一客一换一消毒。",
            "Towels, bath towels and slippers are changed and disinfected for every customer.",
        ),
        Condition(
            "bath_notice",
            "在显著位置设置禁止患有性病和传染性皮肤病等疾病的顾客就浴的标志。",
            "A prominent sign bars customers with sexually transmitted or contagious skin "
            "diseases from bathing.",
        ),
        Condition(
            "bath_water",
            "浴池水质符合卫生标准，定期换水、循环过滤和消毒。",
            "Pool water meets the hygiene standard and is changed, filtered and disinfected "
            "regularly.",
        ),
    ),
    "beauty_salon": (
        Condition(
            "beauty_tools",
            "美容用具一客一消毒，配备消毒设施，设置皮肤病患者专用工具。",
            "Tools are disinfected after every customer, with disinfection equipment and "
            "separate tools for customers with skin diseases.",
        ),
        Condition(
            "beauty_cosmetics",
            "使用的化妆品具有合法批准文号或备案，且在有效期内。",
            "Cosmetics in use are registered or filed as the law requires and within their "
            "shelf life.",
        ),
    ),
    "barbershop": (
        Condition(
            "barber_tools",
            "理发工具一客一消毒，设置头癣等皮肤病患者专用理发工具。",
            "Tools are disinfected after every customer, with separate tools for customers "
            "with scalp or skin diseases.",
        ),
        Condition(
            "barber_towels",
            "毛巾、围布一客一换一消毒，清洁与使用过的分开存放。",
            "Towels and capes are changed and disinfected for every customer; clean and used "
            "ones are kept apart.",
        ),
        Condition(
            "barber_dyes",
            "染发、烫发产品具有合法批准文号，在有效期内使用。",
            "Hair-dye and perm products are registered as the law requires and used within "
            "their shelf life.",
        ),
    ),
}

LEGAL_CLAUSE = (
    "本单位承诺已知晓并具备上述公共场所卫生许可条件，所填报信息真实有效。如作出虚假承诺"
    "或承诺后经核查不符合条件，愿意承担相应法律责任：责令限期改正，逾期不改或不具备条件的"
    "依法撤销或禁止经营，并记入信用记录、纳入失信联合惩戒，修复信用前不再适用告知承诺制。",
    "We have read the conditions above, meet them, and declare the information given to be "
    "true. If this commitment is false, or an on-site verification finds the conditions not "
    "met, we accept the legal consequences: an order to correct within a time limit; if not "
    "corrected or the conditions cannot be met, revocation or a ban on operating; an entry "
    "in our credit record and on the joint punishment list; and no use of the commitment "
    "route until our credit is repaired.",
)


@dataclass(frozen=True)
class LetterConfig:
    """The configurable parts of the letter: conditions per place type and who verifies.
    The defaults are built in; a JSON file can replace them (see `load_config`)."""

    common: tuple[Condition, ...] = COMMON_CONDITIONS
    by_place_type: dict[str, tuple[Condition, ...]] = field(
        default_factory=lambda: dict(PLACE_CONDITIONS)
    )
    verifier: tuple[str, str] = (
        "中国（黑龙江）自由贸易试验区哈尔滨片区公共场所卫生监督执法人员",
        "Public-place sanitation inspectors of the Harbin Area, China (Heilongjiang) "
        "Pilot Free Trade Zone",
    )

    def conditions(self, place_type: str) -> tuple[Condition, ...]:
        return self.common + self.by_place_type.get(place_type, ())


def load_config(path: str | Path | None) -> LetterConfig:
    """Read a letter configuration: ``{"common": [{code, zh, en}...], "place_types":
    {"hotel": [...], ...}, "verifier": {"zh": ..., "en": ...}}``; keys left out keep
    their defaults. No path: the defaults."""
    if path is None:
        return LetterConfig()
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidInput("letter_conditions", "unreadable", f"letter conditions: {e}") from None

    def conditions(items: Any, where: str) -> tuple[Condition, ...]:
        if not isinstance(items, list):
            raise InvalidInput("letter_conditions", "format", f"{where}: must be a list")
        found = []
        for item in items:
            if not (isinstance(item, dict) and all(
                isinstance(item.get(k), str) and item[k].strip() for k in ("code", "zh", "en")
            )):
                raise InvalidInput(
                    "letter_conditions", "format", f"{where}: each needs code, zh and en"
                )
            found.append(Condition(item["code"], item["zh"], item["en"]))
        return tuple(found)

    base = LetterConfig()
    common = conditions(doc["common"], "common") if "common" in doc else base.common
    by_type = dict(base.by_place_type)
    for place_type, items in (doc.get("place_types") or {}).items():
        if place_type not in PLACE_TYPE_LABELS:
            raise InvalidInput(
                "letter_conditions", "unknown", f"place_types: unknown type {place_type!r}"
            )
        by_type[place_type] = conditions(items, f"place_types.{place_type}")
    verifier = base.verifier
    if "verifier" in doc:
        v = doc["verifier"]
        if not (isinstance(v, dict) and all(isinstance(v.get(k), str) for k in ("zh", "en"))):
            raise InvalidInput("letter_conditions", "format", "verifier: needs zh and en")
        verifier = (v["zh"], v["en"])
    return LetterConfig(common, by_type, verifier)


@dataclass(frozen=True)
class Letter:
    """Everything printed on one letter (the QR link is added by the caller)."""

    letter_id: str
    uscc: str
    version: int
    name: str
    place_type: str
    address: str
    district: str
    issued_on: str
    valid_until: str
    conditions: tuple[Condition, ...]
    verifier: tuple[str, str]
    verification_days: int
    legal_clause: tuple[str, str] = LEGAL_CLAUSE
    legal_representative: str | None = None

    @property
    def place_type_label(self) -> tuple[str, str]:
        return PLACE_TYPE_LABELS.get(self.place_type, (self.place_type, self.place_type))

    @property
    def district_label(self) -> tuple[str, str]:
        return district_label(self.district)


def district_label(code: str) -> tuple[str, str]:
    return DISTRICTS.get(code, (code, f"Division {code}"))


def letter_id(uscc: str, version: int) -> str:
    """The letter's id: the aggregate's one rule (a counter commitment made on this
    version takes the same id)."""
    return letter_id_for(uscc, version)


def compose(
    licence: dict[str, Any],
    version: int,
    issued_at: datetime,
    expires_at: datetime,
    config: LetterConfig,
    verification_days: int,
    with_personal_data: bool = False,
) -> Letter:
    """The letter for an enterprise (``licence`` = its ``Licensed`` event data plus
    ``uscc``) at ``version``."""
    uscc = licence["uscc"]
    return Letter(
        letter_id=letter_id(uscc, version),
        uscc=uscc,
        version=version,
        name=licence["name"],
        place_type=licence["place_type"],
        address=licence["address"],
        district=licence["district"],
        issued_on=issued_at.astimezone(CST).date().isoformat(),
        valid_until=expires_at.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
        conditions=config.conditions(licence["place_type"]),
        verifier=config.verifier,
        verification_days=verification_days,
        legal_representative=(
            licence.get("legal_representative") if with_personal_data else None
        ),
    )


# -- the signed link ----------------------------------------------------------------------


class BadToken(Exception):
    """A commitment link that cannot be used; ``reason`` is ``malformed``,
    ``signature`` or ``expired``."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class LetterClaim:
    """What a valid token grants: one commitment for this enterprise and letter."""

    uscc: str
    version: int
    expires_at: datetime

    @property
    def letter_id(self) -> str:
        return letter_id(self.uscc, self.version)


def derive_key(secret: bytes, purpose: bytes) -> bytes:
    """A key per purpose, so a MAC made for one use never verifies for another."""
    return hmac.new(secret, b"ledger-key/" + purpose, hashlib.sha256).digest()


def _mac(secret: bytes, message: str) -> str:
    digest = hmac.new(derive_key(secret, TOKEN_PURPOSE), message.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:MAC_BYTES]).decode().rstrip("=")


def sign_token(secret: bytes, uscc: str, version: int, expires_at: datetime) -> str:
    message = f"{uscc}.{version}.{int(expires_at.timestamp())}"
    return f"{message}.{_mac(secret, message)}"


def verify_token(secret: bytes, token: str, now: datetime) -> LetterClaim:
    """The claim of a token this service signed and that has not expired at ``now``."""
    match = _TOKEN.match(token or "")
    if match is None:
        raise BadToken("malformed", "This link is not a commitment link (it is incomplete "
                       "or was changed).")
    uscc, version, expires, mac = match.groups()
    if int(expires) > MAX_EXPIRES:  # past 9999-12-31: no link this service signs
        raise BadToken("malformed", "This link is not a commitment link (its expiry is "
                       "out of range).")
    message = f"{uscc}.{version}.{expires}"
    if not hmac.compare_digest(mac, _mac(secret, message)):
        raise BadToken("signature", "This link was not issued by the regulator or was "
                       "changed after it was issued.")
    expires_at = datetime.fromtimestamp(int(expires), timezone.utc)
    if now >= expires_at:
        raise BadToken("expired", "This link expired on "
                       f"{expires_at.astimezone(CST).strftime('%Y-%m-%d %H:%M')} (China Standard "
                       "Time). Ask the regulator for a new letter.")
    return LetterClaim(uscc, int(version), expires_at)


def expiry(now: datetime, days: int) -> datetime:
    """When a link issued ``now`` stops working (whole seconds)."""
    return (now + timedelta(days=days)).replace(microsecond=0)


def commit_link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/commit/{token}"


# -- the service's secret ---------------------------------------------------------------------


def secret_key(db: Any, configured: str | None) -> bytes:
    """``LEDGER_SECRET_KEY`` when set; otherwise the secret generated at first start
    and kept in the ``service_secrets`` table (the same for every process)."""
    if configured:
        return configured.encode()
    with db.transaction(write=True) as tx:
        tx.execute(
            "INSERT INTO service_secrets (name, value, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            ("hmac", secrets.token_urlsafe(32), datetime.now(timezone.utc).isoformat()),
        )
        value = tx.value("SELECT value FROM service_secrets WHERE name = ?", ("hmac",))
    return str(value).encode()


def today_in(moment: datetime) -> date:
    return moment.astimezone(CST).date()
