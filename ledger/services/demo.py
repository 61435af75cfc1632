"""A synthetic city: realistic histories of "four small" places across Harbin's districts.

Two halves. ``generate`` is pure: from a seed (and the day the histories stop) it
plans each enterprise's life as a list of commands -- licence, commitment, a first
verification within about 60 days, routine inspections, rectifications on time and
late, renewed commitments, credit repairs, occasional bans. ``write`` applies those
commands through the Enterprise aggregate's public methods, so every rule of the
domain is checked, and saves many enterprises per transaction, catching the
projections up after each batch.

Reproducible: enterprise ``i`` of seed ``S`` draws from its own ``random.Random``
seeded with ``"S:i"``, so the same seed and the same ``until`` give the same events
(``recorded_at`` aside: the ledger stamps that when it stores them), and a bigger
``--enterprises`` only adds enterprises.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from ledger.aggregates.enterprise import Enterprise, enterprise_id
from ledger.errors import InvalidInput, RuleViolation
from ledger.services.privacy import PERSONAL_FIELDS, Sealed
from ledger.values import ALPHABET, CST, add_months, check_character, today_cst

START = date(2021, 1, 4)  # the reform began on 2020-10-01; the city's ledger a little later
_ORG_SPACE = 31**6

# Harbin's districts (division code, name, streets), weighted roughly by population;
# the English name keeps a few places' English names realistic.
DISTRICTS: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("230102", "道里区", ("中央大街", "尚志大街", "经纬街", "安字街", "友谊路", "西十三道街",
                         "上海街", "地段街"), 16),
    ("230103", "南岗区", ("西大直街", "红军街", "果戈里大街", "学府路", "和兴路", "东大直街",
                         "宣化街", "中山路"), 20),
    ("230104", "道外区", ("靖宇街", "南十三道街", "太古街", "承德街", "南勋街", "景阳街"), 12),
    ("230108", "平房区", ("友协大街", "新疆大街", "星海路", "联盟大街"), 4),
    ("230109", "松北区", ("创新路", "世茂大道", "松北大道", "学院路", "智谷大街", "中源大道"), 10),
    ("230110", "香坊区", ("中山路", "公滨路", "哈民路", "香政街", "香江路", "红旗大街"), 14),
    ("230111", "呼兰区", ("南大街", "兴华路", "兰河大街", "利业大街"), 8),
    ("230112", "阿城区", ("金城路", "延川大街", "上京大道", "通城街"), 6),
    ("230113", "双城区", ("承旭路", "永和街", "新兴街", "光华街"), 6),
)
DISTRICT_EN = {
    "230102": "Daoli", "230103": "Nangang", "230104": "Daowai", "230108": "Pingfang",
    "230109": "Songbei", "230110": "Xiangfang", "230111": "Hulan", "230112": "Acheng",
    "230113": "Shuangcheng",
}
# place type -> (what its names end with, weight, English endings for the few English names)
PLACES: dict[str, tuple[tuple[str, ...], int, tuple[str, ...]]] = {
    "barbershop": (("理发店", "美发店", "发艺", "美发工作室", "造型"), 35,
                   ("Barbershop", "Hair Studio")),
    "beauty_salon": (("美容院", "美容店", "美容养生馆", "皮肤管理中心", "美甲美容"), 30,
                     ("Beauty Salon", "Beauty Studio")),
    "hotel": (("宾馆", "旅馆", "快捷酒店", "商务宾馆", "招待所"), 20, ("Hotel", "Inn")),
    "bathhouse": (("浴池", "洗浴中心", "汗蒸馆", "浴室"), 15, ("Bathhouse", "Spa & Bath")),
}
WORDS = (
    "丁香", "松花江", "冰城", "雪城", "红星", "冰灯", "和谐", "朝阳", "北方明珠", "翠玉", "牡丹",
    "光明", "祥云", "白桦", "老街", "青松", "金麦", "春风", "水晶", "幸福", "常青", "星桥",
    "枫叶", "蓝天", "百年", "凤凰", "荷花", "温馨", "友谊", "新世纪", "兰亭", "长城", "天鹅",
    "彩虹", "鑫源", "福顺", "兴隆", "金色阳光",
)
WORDS_EN = ("Riverside", "Snow City", "Lilac", "Northern Pearl", "Silver Birch", "Maple")
SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "孙", "马", "朱", "胡",
            "郭", "何", "高", "林", "于", "宋", "韩", "曲")
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
         "涛", "明", "超", "秀英", "桂兰", "海燕", "丹", "红", "波", "鑫", "丽娟", "建国", "爽",
         "宇", "鹏", "慧")
CONDITIONS = {
    "common": (
        "health certificates for all staff on display",
        "public goods cleaned and disinfected after each customer, with records",
        "no-smoking signs and a smoking ban in the premises",
        "ventilation meets GB 37488 for indoor air",
        "sanitation management rules and a named person responsible",
    ),
    "hotel": ("separate cleaning room for cups and bedding", "bedding changed per guest"),
    "bathhouse": ("pool water tested twice a day", "foot-disease customers refused entry"),
    "beauty_salon": ("disposable tools not reused", "cosmetics with registration numbers"),
    "barbershop": ("skin-disease tools kept apart", "towels disinfected per customer"),
}
FINDINGS = {
    "compliant": ("各项条件均符合", "记录完整，场所整洁", "条件符合，已就通风提出改进建议"),
    "rectify": ("消毒记录不完整", "两名从业人员健康证明过期", "后间通风不达标",
                "毛巾未做到一客一消毒", "未张贴禁烟标识"),
    "ban": ("经多次责令仍未设置消毒间，继续经营", "虚假承诺：承诺条件现场核查不存在",
            "严重卫生隐患：池水污染"),
}
BAN_REASONS = ("经投诉调查发现虚假承诺", "责令停业期间继续经营", "疾控中心报告严重卫生事件")


@dataclass(frozen=True)
class Step:
    """One command of a history: the aggregate method, when, and its other arguments."""

    command: str  # commit | inspect | rectify | ban | repair
    at: datetime
    args: dict[str, Any]

    @property
    def events(self) -> int:
        return 2 if self.command == "inspect" and self.args["outcome"] == "ban" else 1


@dataclass(frozen=True)
class History:
    """An enterprise's planned life: its licence and then its commands in order."""

    uscc: str
    licence: dict[str, Any]
    licensed_at: datetime
    steps: tuple[Step, ...] = field(default=())

    @property
    def events(self) -> int:
        return 1 + sum(s.events for s in self.steps)

    def build(self, now: datetime, sealed: Sealed | None = None) -> Enterprise:
        """The enterprise with every event pending, each command checked by the
        aggregate's own rules (a broken history raises, it is never forced in); with
        ``sealed``, personal fields are committed to as the ledger's commands do."""

        def seal(args: dict[str, Any]) -> dict[str, Any]:
            if sealed is None:
                return args
            return {k: sealed.seal(k, v) if k in PERSONAL_FIELDS else v for k, v in args.items()}

        enterprise = Enterprise.license(
            **seal(self.licence), occurred_at=self.licensed_at, now=now
        )
        for step in self.steps:
            getattr(enterprise, step.command)(occurred_at=step.at, now=now, **seal(step.args))
        return enterprise


# -- the pure half: planning histories --------------------------------------------------------


def uscc_for(seed: int, index: int) -> str:
    """The USCC of enterprise ``index`` of ``seed``: unique within a seed (the
    organisation code is a bijection of the index), valid for `stdnum.cn.uscc`."""
    rng = random.Random(f"uscc:{seed}:{index}")
    district = rng.choices(DISTRICTS, weights=[d[3] for d in DISTRICTS])[0][0]
    kind = "2" if rng.random() < 0.8 else "1"  # most "four small" places are individual
    offset = random.Random(f"org:{seed}").randrange(_ORG_SPACE)
    value = (index * 7_919 + offset) % _ORG_SPACE  # 7919 is prime to 31: a bijection
    digits = ""
    for _ in range(6):
        value, r = divmod(value, 31)
        digits = ALPHABET[r] + digits
    body = "9" + kind + district + "MA" + str(rng.randrange(10)) + digits
    return body + check_character(body)


def _moment(day: date, rng: random.Random) -> datetime:
    minutes = rng.randrange(8 * 60 + 30, 17 * 60 + 30)
    return datetime.combine(day, time(minutes // 60, minutes % 60), CST)


def _person(rng: random.Random) -> str:
    return f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}"


class _Planner:
    """Plans one enterprise's life forward in time, mirroring the domain's rules just
    enough to plan valid commands (the aggregate checks them for real when written)."""

    def __init__(self, rng: random.Random, uscc: str, until: date) -> None:
        self.rng = rng
        self.uscc = uscc
        self.until = until
        self.steps: list[Step] = []
        self.version = 1
        self.day = START
        self.done = False
        self.order_version = 0
        self.place_type = "barbershop"
        self._representative = ""
        self.district = next(d for d in DISTRICTS if d[0] == uscc[2:8])
        self.inspectors = [
            f"{_person(random.Random(f'{uscc[2:8]}:{i}'))}（{self.district[1]}卫生监督所，"
            f"执法证号 {uscc[2:8]}-{i:03d}）" for i in range(1, 6)
        ]

    def at(self, days: int) -> date | None:
        """Move ``days`` (at least one) forward; None once past the horizon."""
        self.day += timedelta(days=max(days, 1))
        if self.day >= self.until:
            self.done = True
            return None
        return self.day

    def add(self, command: str, **args: Any) -> None:
        step = Step(command, _moment(self.day, self.rng), args)
        self.steps.append(step)
        self.version += step.events
        if step.events == 2 or command == "ban":
            self.done = True

    def commit(self, place_type: str, renewed: bool = False) -> None:
        rng = self.rng
        conditions = [*CONDITIONS["common"], *CONDITIONS[place_type]]
        self.add(
            "commit",
            signatory=self.representative,
            letter_id=f"HRB-{self.day:%Y%m%d}-{self.uscc[-6:]}-{self.version + 1}",
            channel="qr" if rng.random() < (0.85 if renewed else 0.75) else "counter",
            conditions=rng.sample(conditions, k=min(len(conditions), rng.randint(4, 7))),
        )

    def inspect(self, first: bool) -> str:
        """One inspection; returns its outcome."""
        rng = self.rng
        roll = rng.random()
        ban, rectify = (0.03, 0.25) if first else (0.01, 0.13)
        outcome = "ban" if roll < ban else "rectify" if roll < ban + rectify else "compliant"
        if outcome == "compliant":
            score = min(100, max(80, round(rng.gauss(91, 4.5))))
        elif outcome == "rectify":
            score = rng.randint(55, 79)
        else:
            score = rng.randint(20, 54)
        args: dict[str, Any] = {
            "inspector": rng.choice(self.inspectors),
            "score": score,
            "outcome": outcome,
            "findings": rng.choice(FINDINGS[outcome]),
        }
        if outcome == "rectify":
            args["rectification_deadline"] = (self.day + timedelta(days=rng.randint(7, 30)))
        if outcome == "ban":
            args["decision_no"] = f"HWJ-{self.day.year}-{rng.randrange(10_000):04d}"
        self.add("inspect", **args)
        self.order_version = self.version  # an overdue record is named after its order
        return outcome

    def plan(self, place_type: str, licensed_on: date) -> None:
        rng = self.rng
        self.day = licensed_on
        if rng.random() < 0.04 or self.at(rng.randint(1, 30)) is None:
            return  # some never send their commitment (yet)
        self.commit(place_type)
        # the first on-site verification: due 60 days after the commitment, mostly on time
        first = True
        if self.at(round(rng.triangular(3, 80, 35))) is None:
            return
        while not self.done:
            outcome = self.inspect(first)
            first = False
            while outcome == "rectify" and not self.done:
                outcome = self.rectification(place_type)
            if self.done:
                return
            roll = rng.random()
            if roll < 0.08 and self.at(rng.randint(20, 200)) is not None:
                self.commit(place_type, renewed=True)  # a renewed letter
            elif roll < 0.09 and self.at(rng.randint(10, 200)) is not None:
                self.add("ban", reason=rng.choice(BAN_REASONS),
                         decision_no=f"HWJ-{self.day.year}-{rng.randrange(10_000):04d}")
                return
            if self.done or self.at(rng.randint(90, 400)) is None:
                return  # the next routine inspection

    def rectification(self, place_type: str) -> str:
        """What follows an order: returns the outcome of a follow-up inspection when
        there is one (``rectify`` again keeps the order loop going), else ``compliant``."""
        rng = self.rng
        order, version = self.steps[-1], self.order_version
        deadline: date = order.args["rectification_deadline"]
        roll = rng.random()
        if roll < 0.68:  # on time
            span = (deadline - self.day).days
            if self.at(rng.randint(1, span)) is not None:
                self.add("rectify", verified_by=rng.choice(self.inspectors),
                         note=rng.choice(("verified on site", "photos and records checked")))
            return "compliant"
        overdue_since = deadline + timedelta(days=1)
        if roll < 0.88:  # late: the lateness stays on the record
            if self.at((deadline - self.day).days + rng.randint(1, 45)) is None:
                return "compliant"
            self.add("rectify", verified_by=rng.choice(self.inspectors),
                     note="verified after the deadline")
            fixed = True
            outcome = "compliant"
        else:  # not rectified: a follow-up inspection closes the order
            if self.at((deadline - self.day).days + rng.randint(5, 60)) is None:
                return "compliant"
            outcome = self.inspect(first=False)
            fixed = outcome == "compliant"
        if fixed and not self.done and rng.random() < 0.5:
            self.repair(overdue_since, record=f"rectification_overdue-{version}")
        return outcome

    def repair(self, since: date, record: str) -> None:
        """Credit repair: a renewed commitment, then the repair once the minimum
        publicity period (3 months) has passed, before the display ends (12 months)."""
        rng = self.rng
        if self.at(rng.randint(5, 40)) is None:
            return
        self.commit(self.place_type, renewed=True)
        earliest = max(add_months(since, 3), self.day + timedelta(days=1))
        latest = add_months(since, 12) - timedelta(days=1)
        if earliest > latest:
            return
        target = earliest + timedelta(days=rng.randint(0, min(60, (latest - earliest).days)))
        if self.at((target - self.day).days) is not None:
            self.add("repair", record=record, approved_by=rng.choice(self.inspectors))

    @property
    def representative(self) -> str:
        return self._representative

    def name_and_address(
        self, place_type: str, district: str, streets: tuple[str, ...]
    ) -> tuple[str, str]:
        """A trade name as Harbin's "four small" places have them (district and shop name,
        a surname's shop, a chain's branch; a few English names kept) and an address."""
        rng = self.rng
        endings, _, english = PLACES[place_type]
        street = rng.choice(streets)
        number = rng.randint(1, 399)
        address = f"黑龙江省哈尔滨市{district}{street}{number}号"
        style = rng.random()
        if style < 0.06:  # an English name, written as registered
            en = DISTRICT_EN[self.district[0]]
            name = f"{en} {rng.choice(WORDS_EN)} {rng.choice(english)}"
            return name, address
        ending = rng.choice(endings)
        if style < 0.55:
            name = f"哈尔滨市{district}{rng.choice(WORDS)}{ending}"
        elif style < 0.75:
            name = f"{district}{rng.choice(SURNAMES)}{rng.choice(('记', '姐', '氏'))}{ending}"
        else:
            name = f"{rng.choice(WORDS)}{ending}（{street}店）"
        return name, address

    def history(self) -> History:
        rng = self.rng
        code, district_name, streets, _ = self.district
        place_type = rng.choices(list(PLACES), weights=[p[1] for p in PLACES.values()])[0]
        self.place_type = place_type
        self._representative = _person(rng)
        span = (self.until - START).days
        licensed_on = START + timedelta(days=rng.randrange(max(span, 1)))
        name, address = self.name_and_address(place_type, district_name, streets)
        licence = {
            "uscc": self.uscc,
            "name": name,
            "place_type": place_type,
            "address": address,
            "district": code,
            "legal_representative": self._representative,
        }
        licensed_at = _moment(licensed_on, rng)
        self.plan(place_type, licensed_on)
        return History(self.uscc, licence, licensed_at, tuple(self.steps))


def default_until(now: datetime | None = None) -> date:
    """Histories stop before today (CST), so no event is ever in the future."""
    return today_cst(now)


def history(seed: int, index: int, until: date) -> History:
    """Enterprise ``index`` of ``seed``: its life up to (not including) ``until``."""
    if until <= START:
        raise InvalidInput("until", "range", f"until: must be after {START.isoformat()}")
    uscc = uscc_for(seed, index)
    return _Planner(random.Random(f"{seed}:{index}"), uscc, until).history()


def generate(seed: int, enterprises: int, until: date) -> Iterator[History]:
    """The histories of a city of ``enterprises`` places, lazily (constant memory)."""
    for index in range(enterprises):
        yield history(seed, index, until)


# -- the writing half ---------------------------------------------------------------------------


@dataclass
class Seeded:
    enterprises: int = 0
    events: int = 0
    head: int = 0


def batches(histories: Iterable[History], events: int) -> Iterator[list[History]]:
    """Histories grouped so each batch holds about ``events`` events."""
    batch: list[History] = []
    count = 0
    for h in histories:
        batch.append(h)
        count += h.events
        if count >= events:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch


def existing(services: Any, usccs: list[str]) -> list[str]:
    """Which of ``usccs`` the store already holds."""
    found: list[str] = []
    keys = {services.log.key(enterprise_id(u)): u for u in usccs}
    ids = list(keys)
    with services.db.transaction() as tx:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = tx.all(
                "SELECT DISTINCT originator_id FROM stored_events WHERE originator_id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            )
            found.extend(keys[str(r[0]) if services.db.postgres else r[0]] for r in rows)
    return found


def write(
    services: Any,
    histories: Iterable[History],
    batch_events: int = 2_000,
    progress: Callable[[int, int], None] | None = None,
) -> Seeded:
    """Apply each history through the aggregate and save a batch of enterprises per
    transaction, then catch the projections up. ``progress(enterprises, events)``
    after each batch."""
    seeded = Seeded()
    for batch in batches(histories, batch_events):
        now = services.ledger.clock()
        recorded_at = now.astimezone(timezone.utc)  # as the ledger's commands stamp them
        sealed = Sealed()
        pending = [e for h in batch for e in h.build(now, sealed).collect_events()]
        for event in pending:
            object.__setattr__(event, "timestamp", recorded_at)
        stored = services.ledger.store(pending, sealed.record)
        if not stored:
            raise RuleViolation(
                "licensed_once", "an enterprise of this batch is already in the ledger"
            )
        services.projections.catch_up()
        seeded.enterprises += len(batch)
        seeded.events += len(stored)
        seeded.head = stored[-1].position
        if progress is not None:
            progress(seeded.enterprises, seeded.events)
    return seeded


def seed_city(
    services: Any,
    enterprises: int,
    seed: int,
    until: date | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_events: int = 2_000,
) -> Seeded:
    """Write the city of ``seed``; refuses (and writes nothing) when any of its
    enterprises is already in the store."""
    if isinstance(enterprises, bool) or not isinstance(enterprises, int) or enterprises < 1:
        raise InvalidInput("enterprises", "range", "enterprises: must be 1 or more")
    until = until or default_until(services.ledger.clock())
    today = default_until(services.ledger.clock())
    if until > today:
        raise InvalidInput("until", "range", f"until: must not be after today ({today})")
    if until <= START:
        raise InvalidInput("until", "range", f"until: must be after {START.isoformat()}")
    taken = existing(services, [uscc_for(seed, i) for i in range(enterprises)])
    if taken:
        raise RuleViolation(
            "licensed_once",
            f"{len(taken)} of the {enterprises} enterprises of seed {seed} are already in the "
            f"ledger (e.g. {taken[0]}); use another --seed",
        )
    return write(services, generate(seed, enterprises, until), batch_events, progress)
