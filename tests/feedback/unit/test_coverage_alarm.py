"""Call-back coverage against its minimum (FBK-11): the alarm compares the exact share of repair
records with a feedback survey, not the share as rounded for display."""

from __future__ import annotations

from feedback.domain.figures import Figures
from feedback.domain.policy import FeedbackPolicy

MINIMUM = FeedbackPolicy().min_call_back_coverage_percent


def test_fbk_11_coverage_just_below_the_minimum_raises_the_alarm() -> None:
    # 87 of 1088 repair records is 7.996 %: below 8 %, though it reads 8.0 once rounded.
    row = Figures(key="all", repairs=1088, repairs_surveyed=87, min_coverage_percent=MINIMUM)

    assert row.repairs_surveyed * 100 < MINIMUM * row.repairs
    assert row.coverage_alarm is True


def test_fbk_11_coverage_exactly_at_the_minimum_raises_no_alarm() -> None:
    row = Figures(key="all", repairs=1000, repairs_surveyed=80, min_coverage_percent=MINIMUM)

    assert (row.coverage_percent, row.coverage_alarm) == (8.0, False)


def test_fbk_11_no_repair_records_raise_no_alarm() -> None:
    row = Figures(key="all", min_coverage_percent=MINIMUM)

    assert (row.coverage_percent, row.coverage_alarm) == (None, False)
