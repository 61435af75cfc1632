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

# Harbin's districts (division code, name, streets), weighted roughly by population.
DISTRICTS: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("230102", "Daoli", ("Zhongyang Street", "Shangzhi Street", "Jingwei Street",
                         "Anzhai Street", "Youyi Road", "Xishisan Dao Street"), 16),
    ("230103", "Nangang", ("Xidazhi Street", "Hongjun Street", "Guogeli Street",
                           "Xuefu Road", "Hexing Road", "Dongdazhi Street"), 20),
    ("230104", "Daowai", ("Jingyu Street", "Nanshisan Dao Street", "Taigu Street",
                          "Chengde Street", "Nanxun Street"), 12),
    ("230108", "Pingfang", ("Youxie Street", "Xinjiang Street", "Xinghai Road"), 4),
    ("230109", "Songbei", ("Chuangxin Road", "Shimao Avenue", "Songbei Avenue",
                           "Xueyuan Road", "Zhihui Avenue"), 10),
    ("230110", "Xiangfang", ("Zhongshan Road", "Gongbin Road", "Hamin Road",
                             "Xiangzheng Street", "Xiangjiang Road"), 14),
    ("230111", "Hulan", ("Nan Street", "Xinghua Road", "Lanhe Avenue"), 8),
    ("230112", "Acheng", ("Jincheng Road", "Yanchuan Street", "Shangjing Avenue"), 6),
    ("230113", "Shuangcheng", ("Chengxin Road", "Yonghe Street", "Xinxing Street"), 6),
)
PLACES: dict[str, tuple[tuple[str, ...], int]] = {
    "barbershop": (("Barbershop", "Hair Salon", "Hair Studio", "Cut & Style"), 35),
    "beauty_salon": (("Beauty Salon", "Beauty Studio", "Skin Care Salon", "Nail & Beauty"), 30),
    "hotel": (("Hotel", "Inn", "Guesthouse", "Express Hotel", "Business Hotel"), 20),
    "bathhouse": (("Bathhouse", "Bath Centre", "Spa & Bath", "Sauna House"), 15),
}
WORDS = (
    "Riverside", "Snow City", "Songhua", "Red Star", "Lilac", "Ice Lantern", "Harmony",
    "Sunrise", "Northern Pearl", "Jade", "Peony", "Everbright", "Lucky Cloud", "Silver Birch",
    "Old Town", "Pine", "Golden Wheat", "Spring Breeze", "Crystal", "Happy Family",
    "Evergreen", "Star Bridge", "Maple", "Blue Sky", "Heritage", "Phoenix", "Lotus",
    "Warm Home", "Friendship", "New Century", "Orchid", "Great Wall", "Swan", "Rainbow",
)
SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu",
            "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Gao", "Lin", "Yu", "Song", "Han", "Qu")
GIVEN = ("Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang", "Yong",
         "Yan", "Jie", "Juan", "Tao", "Ming", "Chao", "Xiuying", "Guilan", "Haiyan", "Dan",
         "Hong", "Bo", "Xin", "Lijuan", "Jianguo", "Shuang", "Yu", "Peng", "Hui")
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
    "compliant": ("all conditions met", "records complete; premises clean",
                  "conditions met; minor advice given on ventilation"),
    "rectify": ("disinfection records incomplete", "two staff health certificates expired",
                "ventilation below standard in the back room",
                "towels not disinfected between customers", "no-smoking signs missing"),
    "ban": ("operating without the required disinfection room after repeated orders",
            "falsified commitment: conditions declared but absent on site",
            "serious hygiene hazard: contaminated pool water"),
}
BAN_REASONS = ("false commitment found by a complaint investigation",
               "continued operation during an ordered suspension",
               "serious hygiene incident reported by the CDC")


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
    return f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}"


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
            f"{_person(random.Random(f'{uscc[2:8]}:{i}'))} ({self.district[1]} health "
            f"supervision, badge {uscc[2:8]}-{i:03d})" for i in range(1, 6)
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

    def history(self) -> History:
        rng = self.rng
        code, district_name, streets, _ = self.district
        place_type = rng.choices(list(PLACES), weights=[p[1] for p in PLACES.values()])[0]
        self.place_type = place_type
        self._representative = _person(rng)
        span = (self.until - START).days
        licensed_on = START + timedelta(days=rng.randrange(max(span, 1)))
        suffix = rng.choice(PLACES[place_type][0])
        name = f"{district_name} {rng.choice(WORDS)} {suffix}"
        if rng.random() < 0.3:
            name = f"{rng.choice(SURNAMES)}'s {suffix}" if rng.random() < 0.5 else \
                f"{rng.choice(WORDS)} {suffix} ({rng.choice(streets).split()[0]} branch)"
        licence = {
            "uscc": self.uscc,
            "name": name,
            "place_type": place_type,
            "address": f"{rng.randint(1, 399)} {rng.choice(streets)}, {district_name} District, "
                       "Harbin, Heilongjiang",
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
