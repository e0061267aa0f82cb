"""The daily call-back sample (FBK-4), run over a generated month of work (pure domain)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from feedback.domain.exceptions import SamplingDayNotDue
from feedback.domain.policy import BusinessType, FeedbackPolicy
from feedback.domain.sampling import WorkRecord, check_run_day, draw, in_window

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = FeedbackPolicy()
TECHNICIANS = [f"tech-{i}" for i in range(8)]
#: Share of each technician's work by business type; the 10 % types dominate.
MIX = {
    BusinessType.OTHER_REPAIR: 0.55,
    BusinessType.OTHER_INSTALLATION: 0.25,
    BusinessType.OWN_BRAND_REPAIR: 0.1,
    BusinessType.PAID_REPAIR: 0.05,
    BusinessType.GAS_LEAK_REPAIR: 0.03,
    BusinessType.OWN_BRAND_INSTALLATION: 0.02,
}
#: Service-hall clerks and their share of the desk business (walk-in requests, desk payments).
CLERKS = {"clerk-a": 0.5, "clerk-b": 0.3, "clerk-c": 0.2}
#: Stated tolerance of a configured rate over a month: ±1.5 percentage points.
RATE_TOLERANCE = 0.015
#: Stated balance: sampled call-backs per technician differ by at most this many over the month.
BALANCE_TOLERANCE = 2


def generated_month(seed: int = 7) -> list[WorkRecord]:
    """Thirty days of completed work; technicians' workloads differ up to threefold."""
    rng = random.Random(seed)
    records: list[WorkRecord] = []
    types = list(MIX)
    weights = list(MIX.values())
    for day in range(30):
        work_day = date(2026, 3, 1) + timedelta(days=day)
        for t, technician in enumerate(TECHNICIANS):
            for n in range(4 + t + rng.randint(0, 4)):  # tech-7 does about 3x tech-0's work
                closed_at = datetime.combine(work_day, time(9 + n % 9), tzinfo=SHANGHAI)
                records.append(
                    WorkRecord(
                        order_id=f"o-{day}-{t}-{n}",
                        work_id=f"v-{day}-{t}-{n}",
                        worker_id=technician,
                        network_id="net-1",
                        business_type=rng.choices(types, weights)[0],
                        closed_at=closed_at.astimezone(UTC),
                    )
                )
        for n in range(40 + rng.randint(0, 20)):  # the hall's day: requests and payments
            done_at = datetime.combine(work_day, time(8 + n % 10, n % 60), tzinfo=SHANGHAI)
            records.append(
                WorkRecord(
                    order_id=f"o-{day}-desk-{n}",
                    work_id=f"d-{day}-{n}",
                    worker_id=rng.choices(list(CLERKS), list(CLERKS.values()))[0],
                    network_id=None,
                    business_type=BusinessType.DESK_BUSINESS,
                    closed_at=done_at.astimezone(UTC),
                    at_desk=True,
                )
            )
    return records


def run_month(records: list[WorkRecord], policy: FeedbackPolicy = POLICY) -> list[WorkRecord]:
    """The daily job over the month: each day draws from work done 3-5 days before that nobody
    considered yet, balancing against the call-backs each technician already got."""
    considered: set[str] = set()
    picked: list[WorkRecord] = []
    sampled_so_far: Counter[str] = Counter()
    for offset in range(3, 36):
        run_day = date(2026, 3, 1) + timedelta(days=offset)
        candidates = [
            r
            for r in records
            if r.work_id not in considered and in_window(r, run_day, policy, SHANGHAI)
        ]
        result = draw(candidates, run_day=run_day, policy=policy, prior_counts=sampled_so_far)
        considered.update(r.work_id for r in candidates)
        for pick in result.picks:
            picked.append(pick.record)
            if pick.explanation["rate_percent"] < 100:
                sampled_so_far[pick.record.stratum] += 1
    return picked


def test_fbk_4_a_month_of_sampling_hits_each_configured_rate_within_tolerance() -> None:
    records = generated_month()
    picked = run_month(records)

    population = Counter(r.business_type for r in records)
    selected = Counter(r.business_type for r in picked)
    for business_type, rate in POLICY.sampling_rates_percent.items():
        achieved = selected[business_type] / population[business_type]
        assert abs(achieved - rate / 100) <= RATE_TOLERANCE, (business_type, achieved)
    assert len({r.work_id for r in picked}) == len(picked)  # nothing drawn twice


def test_fbk_4_a_month_of_sampling_gives_every_technician_a_similar_number_of_call_backs() -> None:
    records = generated_month()
    picked = run_month(records)

    sampled = Counter(
        r.stratum
        for r in picked
        if POLICY.sampling_rates_percent[r.business_type] < 100 and not r.at_desk
    )
    workload = Counter(r.stratum for r in records if not r.at_desk)
    assert set(sampled) == set(TECHNICIANS)
    assert max(sampled.values()) - min(sampled.values()) <= BALANCE_TOLERANCE, sampled
    # ...although the busiest technician did far more work than the least busy one.
    assert max(workload.values()) > 2 * min(workload.values())


def test_fbk_4_desk_business_is_sampled_as_a_share_balanced_across_the_desk_clerks() -> None:
    records = generated_month()
    picked = run_month(records)

    desk = [r for r in records if r.business_type is BusinessType.DESK_BUSINESS]
    sampled = Counter(r.stratum for r in picked if r.business_type is BusinessType.DESK_BUSINESS)
    workload = Counter(r.stratum for r in desk)
    rate = POLICY.sampling_rates_percent[BusinessType.DESK_BUSINESS] / 100
    assert abs(sum(sampled.values()) / len(desk) - rate) <= RATE_TOLERANCE
    assert set(sampled) == set(CLERKS)
    assert max(sampled.values()) - min(sampled.values()) <= BALANCE_TOLERANCE, sampled
    # ...although clerk-a served more than twice clerk-c's customers.
    assert workload["clerk-a"] > 2 * workload["clerk-c"]


def test_fbk_4_the_draw_is_reproducible_from_its_seed_and_changes_with_it() -> None:
    records = generated_month()[:400]
    day = date(2026, 3, 10)

    first = draw(records, run_day=day, policy=POLICY)
    again = draw(list(reversed(records)), run_day=day, policy=POLICY)
    other = draw(records, run_day=day, policy=FeedbackPolicy(sampling_seed=1))

    ids = [p.record.work_id for p in first.picks]
    assert ids == [p.record.work_id for p in again.picks]
    assert ids != [p.record.work_id for p in other.picks]


def test_fbk_4_each_pick_explains_its_rate_and_stratum() -> None:
    records = generated_month()[:200]

    result = draw(records, run_day=date(2026, 3, 10), policy=POLICY)

    sampled = [p for p in result.picks if p.record.business_type is BusinessType.OTHER_REPAIR]
    full = [p for p in result.picks if p.record.business_type is BusinessType.PAID_REPAIR]
    assert sampled and full
    explanation = sampled[0].explanation
    assert explanation["rate_percent"] == 10
    assert explanation["stratum"] == sampled[0].record.worker_id
    assert explanation["method"] == "stratified by front-line worker"
    assert explanation["population"] == result.by_type["other_repair"]["population"]
    assert all(p.explanation["rate_percent"] == 100 for p in full)
    paid = [r for r in records if r.business_type is BusinessType.PAID_REPAIR]
    assert len(full) == len(paid)  # 100 %: all of it


def test_fbk_4_only_work_from_3_to_5_days_before_the_run_day_is_in_the_window() -> None:
    run_day = date(2026, 3, 10)

    def on(day: date) -> WorkRecord:
        moment = datetime.combine(day, time(23, 30), tzinfo=SHANGHAI).astimezone(UTC)
        return WorkRecord("o", "v", "t", None, BusinessType.OTHER_REPAIR, moment)

    inside = [on(run_day - timedelta(days=d)) for d in (3, 4, 5)]
    outside = [on(run_day - timedelta(days=d)) for d in (2, 6)]
    assert all(in_window(r, run_day, POLICY, SHANGHAI) for r in inside)
    assert not any(in_window(r, run_day, POLICY, SHANGHAI) for r in outside)


def test_fbk_4_a_day_whose_window_of_work_is_not_over_cannot_be_drawn() -> None:
    today = date(2026, 3, 10)

    for refused in (today + timedelta(days=1), today + timedelta(days=4), date.max, date.min):
        with pytest.raises(SamplingDayNotDue) as caught:
            check_run_day(refused, today=today, policy=POLICY)
        assert caught.value.extensions["latest_day"] == today.isoformat()
    # today's draw (the daily sweep's) and a missed day caught up
    check_run_day(today, today=today, policy=POLICY)
    check_run_day(today - timedelta(days=30), today=today, policy=POLICY)
