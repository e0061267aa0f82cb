"""The daily call-back sample of completed work (FBK-4).

Work completed 3-5 days before the run day is drawn at the rate of its business type (100 % for
own-brand installation and repair, paid repairs and gas-leak repairs; 10 % for the rest and for
desk business; all from the policy). Within a business type the sample is *stratified by
front-line worker* (the technician of a visit, the clerk of desk business): the slots go one by
one to the worker who has had the fewest sampled call-backs so far, so every front-line worker
gets a similar number. The draw is reproducible: its random choices come from a generator seeded
with the policy seed, the run day and the business type, over candidates in a fixed order.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from feedback.domain.exceptions import SamplingDayNotDue
from feedback.domain.policy import BusinessType, FeedbackPolicy

#: The stratum of work with no known front-line worker.
UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class WorkRecord:
    """Completed work that may be sampled: a visit, or business done at a service-hall desk."""

    order_id: str
    work_id: str
    """The visit's id, or the desk work's id."""
    worker_id: str | None
    """Who did the work: the visit's technician, or the desk clerk."""
    network_id: str | None
    business_type: BusinessType
    closed_at: datetime
    at_desk: bool = False

    @property
    def stratum(self) -> str:
        """The front-line worker stratum the record belongs to."""
        return self.worker_id or UNASSIGNED


@dataclass(frozen=True)
class Pick:
    """A record the draw selected, with why (rate and stratum)."""

    record: WorkRecord
    explanation: dict[str, Any]


@dataclass(frozen=True)
class Draw:
    """The outcome of one day's draw."""

    run_day: date
    seed: int
    considered: list[WorkRecord]
    picks: list[Pick]
    by_type: dict[str, dict[str, int]]
    """Per business type: population, selected and the rate in percent."""


@dataclass(frozen=True)
class SamplingRun:
    """A day's draw as recorded once it ran: its seed and, per business type, the population,
    how many were selected and the rate (``Draw.by_type``)."""

    run_day: date
    ran_at: datetime
    seed: int
    by_type: dict[str, dict[str, int]]

    @property
    def considered(self) -> int:
        """The work the draw looked at, over all business types."""
        return sum(counts["population"] for counts in self.by_type.values())

    @property
    def selected(self) -> int:
        """The work it picked for a call-back, over all business types."""
        return sum(counts["selected"] for counts in self.by_type.values())


def window(run_day: date, policy: FeedbackPolicy) -> tuple[date, date]:
    """The first and last work day (inclusive) the draw of ``run_day`` looks at."""
    near, far = policy.sampling_window_days
    return run_day - timedelta(days=far), run_day - timedelta(days=near)


def check_run_day(run_day: date, *, today: date, policy: FeedbackPolicy) -> None:
    """Refuse a draw of ``run_day`` whose window of work is not over by ``today`` (FBK-4): the
    draw of a day samples the work done ``near``..``far`` days before it, so a later day than
    today would draw work not that old yet (or not done yet), and the day's real draw, the daily
    sweep's included, would then be refused as already run. Past days may be drawn (a missed
    day caught up), but not one whose window reaches back to the calendar's first day."""
    near, far = policy.sampling_window_days
    if run_day > today:
        raise SamplingDayNotDue(
            run_day.isoformat(),
            f"it samples the work done {near} to {far} days before it, which is not over yet; "
            f"days up to {today.isoformat()} can be drawn",
            latest=today.isoformat(),
        )
    if run_day.toordinal() - far <= date.min.toordinal():
        raise SamplingDayNotDue(
            run_day.isoformat(),
            f"its window of work ({far} days before it) reaches the first day of the calendar",
            latest=today.isoformat(),
        )


def in_window(record: WorkRecord, run_day: date, policy: FeedbackPolicy, tz: tzinfo) -> bool:
    """Whether the record's work day lies in the draw window of ``run_day``."""
    first, last = window(run_day, policy)
    return first <= record.closed_at.astimezone(tz).date() <= last


def day_seed(policy_seed: int, run_day: date, business_type: str) -> int:
    """The seed of one business type's draw on ``run_day`` (stable across processes)."""
    digest = hashlib.sha256(f"{policy_seed}:{run_day.isoformat()}:{business_type}".encode())
    return int.from_bytes(digest.digest()[:8], "big")


def draw(
    candidates: Iterable[WorkRecord],
    *,
    run_day: date,
    policy: FeedbackPolicy,
    prior_counts: Mapping[str, int] | None = None,
) -> Draw:
    """Draw the day's sample from ``candidates`` (already limited to the window)."""
    counts: dict[str, int] = defaultdict(int, prior_counts or {})
    records = sorted(candidates, key=lambda r: (r.business_type, r.stratum, r.closed_at, r.work_id))
    by_type_records: dict[BusinessType, list[WorkRecord]] = defaultdict(list)
    for record in records:
        by_type_records[record.business_type].append(record)

    picks: list[Pick] = []
    summary: dict[str, dict[str, int]] = {}
    for business_type in sorted(by_type_records):
        population = by_type_records[business_type]
        rate = policy.sampling_rates_percent[business_type]
        rng = random.Random(day_seed(policy.sampling_seed, run_day, business_type))
        chosen = _draw_type(population, rate=rate, rng=rng, counts=counts)
        strata: dict[str, list[WorkRecord]] = defaultdict(list)
        for record in population:
            strata[record.stratum].append(record)
        taken: dict[str, int] = defaultdict(int)
        for record in chosen:
            taken[record.stratum] += 1
        for record in chosen:
            picks.append(
                Pick(
                    record=record,
                    explanation={
                        "rule": "FBK-4",
                        "run_day": run_day.isoformat(),
                        "business_type": str(business_type),
                        "rate_percent": rate,
                        "population": len(population),
                        "selected": len(chosen),
                        "stratum": record.stratum,
                        "stratum_size": len(strata[record.stratum]),
                        "stratum_selected": taken[record.stratum],
                        "seed": policy.sampling_seed,
                        "method": "all" if rate >= 100 else "stratified by front-line worker",
                    },
                )
            )
        summary[str(business_type)] = {
            "population": len(population),
            "selected": len(chosen),
            "rate_percent": rate,
        }
    return Draw(
        run_day=run_day,
        seed=policy.sampling_seed,
        considered=records,
        picks=picks,
        by_type=summary,
    )


def _draw_type(
    population: list[WorkRecord], *, rate: int, rng: random.Random, counts: dict[str, int]
) -> list[WorkRecord]:
    if rate >= 100:
        return list(population)
    if rate <= 0 or not population:
        return []
    exact = len(population) * rate / 100
    target = math.floor(exact)
    # Stochastic rounding keeps the long-run rate exact without carrying state between days.
    if rng.random() < exact - target:
        target += 1

    strata: dict[str, list[WorkRecord]] = defaultdict(list)
    for record in population:
        strata[record.stratum].append(record)
    order = sorted(strata)
    rng.shuffle(order)  # seeded tie-break between workers with equal counts
    rank = {stratum: i for i, stratum in enumerate(order)}
    allocated: dict[str, int] = defaultdict(int)
    for _ in range(target):
        open_strata = [s for s in order if allocated[s] < len(strata[s])]
        if not open_strata:
            break
        stratum = min(open_strata, key=lambda s: (counts[s] + allocated[s], rank[s]))
        allocated[stratum] += 1
    chosen: list[WorkRecord] = []
    for stratum in sorted(allocated):
        chosen.extend(rng.sample(strata[stratum], allocated[stratum]))
        counts[stratum] += allocated[stratum]
    return chosen
