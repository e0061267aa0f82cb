"""The day's plan: a pure function of the seed, the number of orders and the date.

Nothing here talks to a service, so the same seed always gives the same customers, products,
faults, scenarios, ratings and call-back answers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


class Kind(StrEnum):
    """What happens to an order during the day."""

    IN_WARRANTY = "in_warranty"
    """Free repair, fixed at the first visit."""
    QUOTE_ACCEPTED = "quote_accepted"
    """Out of warranty: quote issued by billing, accepted with a signature, repaired."""
    QUOTE_DECLINED = "quote_declined"
    """Out of warranty: the customer declines the quote; no work."""
    LATE = "late"
    """The technician's ETA pings predict a late arrival (ArrivalLate before the appointment);
    arrives late; the customer files a complaint."""
    NOT_HOME = "not_home"
    """Nobody home after knocking and phoning: note left, rebooked, fixed at the second visit."""
    TAKE_BACK = "take_back"
    """The unit goes to the workshop, a loaner stays; repaired and returned."""
    EMERGENCY = "emergency"
    """Gas leak: someone on site within the emergency time."""
    MISSING_PART = "missing_part"
    """The part is missing: the repair fails, a revisit with the same technician fixes it."""
    DISSATISFIED = "dissatisfied"
    """Repaired, but the call-back finds the customer dissatisfied: revisit, then satisfied."""


#: Scenarios every day shows, in the order they are dropped from when there are few orders.
SPECIALS: tuple[Kind, ...] = (
    Kind.EMERGENCY,
    Kind.LATE,
    Kind.NOT_HOME,
    Kind.TAKE_BACK,
    Kind.QUOTE_DECLINED,
    Kind.DISSATISFIED,
    Kind.MISSING_PART,
    Kind.QUOTE_ACCEPTED,
)
OUT_OF_WARRANTY = frozenset({Kind.QUOTE_ACCEPTED, Kind.QUOTE_DECLINED})

#: Product lines with a warranty period at intake (and the models the demo uses).
REGULAR_LINES: dict[str, tuple[str, ...]] = {
    "water_heater": ("JSQ24-12", "JSQ30-16", "ES60-A"),
    "washing_machine": ("XQG100-B", "XQB80-2"),
    "air_conditioner": ("KFR-35GW", "KFR-50LW"),
    "refrigerator": ("BCD-458", "BCD-216"),
}
FAULTS: dict[str, tuple[str, ...]] = {
    "water_heater": ("热水器打不着火", "热水器出水不热", "热水器显示E1故障"),
    "washing_machine": ("洗衣机不脱水", "洗衣机漏水", "洗衣机不进水"),
    "air_conditioner": ("空调不制冷", "空调外机噪音大", "空调滴水"),
    "refrigerator": ("冰箱冷藏室不冷", "冰箱压缩机不停机", "冰箱结霜严重"),
}
TAKE_BACK_LINE = "microwave_oven"
EMERGENCY_LINE = "gas_stove"

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = ("芳", "伟", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超")
#: (district, street, latitude, longitude) around Dongying.
_DISTRICTS = (
    ("东营区", "西四路", 37.4341, 118.6747),
    ("东营区", "济南路", 37.4420, 118.5880),
    ("垦利区", "胜兴路", 37.5880, 118.5480),
    ("河口区", "河滨路", 37.8860, 118.5290),
)
_TECH_NAMES = ("张师傅", "李师傅", "王师傅", "赵师傅", "刘师傅", "陈师傅", "周师傅", "孙师傅")


@dataclass(frozen=True)
class Technician:
    """A technician of the day."""

    technician_id: str
    name: str
    phone: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Survey:
    """What the customer answers on the call-back."""

    attitude: int
    ability: int
    satisfied: bool


@dataclass(frozen=True)
class OrderPlan:
    """One order of the day and what happens to it."""

    index: int
    kind: Kind
    customer_name: str
    phone: str
    district: str
    street: str
    lat: float
    lon: float
    line: str
    model: str
    serial_suffix: str
    purchase_date: date
    fault: str
    fault_code: str | None
    emergency: bool
    survey: Survey
    """The first call-back's answers."""
    follow_up: Survey | None = None
    """The call-back after a revisit (dissatisfied scenario)."""

    @property
    def out_of_warranty(self) -> bool:
        """Whether the product's warranty has run out."""
        return self.kind in OUT_OF_WARRANTY

    @property
    def address_detail(self) -> str:
        """House number and flat."""
        return f"{self.index % 180 + 1}号{self.index % 6 + 1}单元{self.index % 30 + 101}"


@dataclass(frozen=True)
class DayPlan:
    """Everything the day does, decided up front."""

    seed: int
    technicians: tuple[Technician, ...]
    orders: tuple[OrderPlan, ...]
    duplicate_of: int | None
    """Index of the order a customer reports a second time (INT-8)."""
    complaint_about: int | None
    """Index of the order the customer complains about (the late one)."""

    def count(self, kind: Kind) -> int:
        """How many orders of ``kind``."""
        return sum(1 for o in self.orders if o.kind is kind)


def _kinds(rng: random.Random, orders: int) -> list[Kind]:
    specials = list(SPECIALS[:orders])
    rest = [
        Kind.QUOTE_ACCEPTED if rng.random() < 0.35 else Kind.IN_WARRANTY
        for _ in range(orders - len(specials))
    ]
    kinds = specials + rest
    # The emergency comes in mid-morning, not first: shuffle all but keep it out of slot 0.
    rng.shuffle(kinds)
    if orders > 1 and kinds[0] is Kind.EMERGENCY:
        kinds[0], kinds[1] = kinds[1], kinds[0]
    return kinds


def _survey(rng: random.Random, *, happy: bool) -> Survey:
    if happy:
        return Survey(attitude=rng.randint(8, 10), ability=rng.randint(7, 10), satisfied=True)
    return Survey(attitude=rng.randint(3, 5), ability=rng.randint(2, 4), satisfied=False)


def make_plan(*, seed: int, orders: int, technicians: int, today: date) -> DayPlan:
    """The day's plan for ``orders`` orders and ``technicians`` technicians."""
    if orders < 1:
        raise ValueError("a day needs at least one order")
    if not 1 <= technicians <= len(_TECH_NAMES):
        raise ValueError(f"between 1 and {len(_TECH_NAMES)} technicians")
    rng = random.Random(seed)
    techs = tuple(
        Technician(
            technician_id=f"demo-tech-{n + 1:02d}",
            name=_TECH_NAMES[n],
            phone=f"139{rng.randint(10_000_000, 99_999_999)}",
            lat=round(37.43 + rng.uniform(-0.05, 0.05), 5),
            lon=round(118.62 + rng.uniform(-0.05, 0.05), 5),
        )
        for n in range(technicians)
    )
    plans = []
    for index, kind in enumerate(_kinds(rng, orders)):
        district, street, lat, lon = rng.choice(_DISTRICTS)
        if kind is Kind.TAKE_BACK:
            line, model = TAKE_BACK_LINE, "M1-211A"
            fault, code = "微波炉不加热", None
        elif kind is Kind.EMERGENCY:
            line, model = EMERGENCY_LINE, "JZT-FD21BE"
            fault, code = "灶具周围有燃气味", "gas_leak"
        else:
            line = rng.choice(sorted(REGULAR_LINES))
            model = rng.choice(REGULAR_LINES[line])
            fault, code = rng.choice(FAULTS[line]), None
        age_days = (
            rng.randint(5 * 365, 8 * 365) if kind in OUT_OF_WARRANTY else rng.randint(20, 300)
        )
        plans.append(
            OrderPlan(
                index=index,
                kind=kind,
                customer_name=rng.choice(_SURNAMES) + rng.choice(_GIVEN),
                phone=f"138{rng.randint(10_000_000, 99_999_999)}",
                district=district,
                street=street,
                lat=round(lat + rng.uniform(-0.01, 0.01), 5),
                lon=round(lon + rng.uniform(-0.01, 0.01), 5),
                line=line,
                model=model,
                serial_suffix=f"{rng.randint(0, 999_999):06d}",
                purchase_date=today - timedelta(days=age_days),
                fault=fault,
                fault_code=code,
                emergency=kind is Kind.EMERGENCY,
                survey=_survey(rng, happy=kind is not Kind.DISSATISFIED),
                follow_up=_survey(rng, happy=True) if kind is Kind.DISSATISFIED else None,
            )
        )
    regular = [p.index for p in plans if p.kind in {Kind.IN_WARRANTY, Kind.QUOTE_ACCEPTED}]
    late = [p.index for p in plans if p.kind is Kind.LATE]
    return DayPlan(
        seed=seed,
        technicians=techs,
        orders=tuple(plans),
        duplicate_of=regular[0] if regular else None,
        complaint_about=late[0] if late else None,
    )
