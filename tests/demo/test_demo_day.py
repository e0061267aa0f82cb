"""`make demo` against the five services as real processes: a small day runs to the figures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from support.platform import SERVICES, Platform

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `demo` is run from the checkout (`make demo`), not installed
    sys.path.insert(0, str(ROOT))

from demo.day import Day, total_row  # noqa: E402
from demo.plan import SPECIALS, Kind, make_plan  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.broker]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(tmp_path_factory.mktemp("platform")).start()
    try:
        yield running
    finally:
        stubborn = running.stop()
    assert not stubborn, f"did not stop within 20 s of SIGTERM: {stubborn}"


def _demo(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "demo", *args],
        cwd=ROOT,
        env={**env, "COLUMNS": "160", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_plan_is_a_function_of_the_seed() -> None:
    day = date(2026, 3, 2)
    first = make_plan(seed=11, orders=12, technicians=4, today=day)
    assert first == make_plan(seed=11, orders=12, technicians=4, today=day)
    assert first != make_plan(seed=12, orders=12, technicians=4, today=day)
    assert {o.kind for o in first.orders} >= set(SPECIALS)
    assert first.duplicate_of is not None and first.complaint_about is not None
    assert first.orders[first.complaint_about].kind is Kind.LATE


def test_demo_without_the_platform_says_how_to_start_it() -> None:
    env = {**os.environ, "FSM_BOOTSTRAP_API_KEY": "k" * 30}
    for n, name in enumerate(SERVICES):
        env[f"FSM_DEMO_{name.upper()}_URL"] = f"http://127.0.0.1:{9 + n}"  # nothing listens
    done = _demo(env, "--orders", "2", timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "make run" in done.stdout and "FSM_BOOTSTRAP_API_KEY" in done.stdout


def test_demo_day_runs_to_the_quality_figures(platform: Platform) -> None:
    env = {**os.environ, "FSM_BOOTSTRAP_API_KEY": platform.admin_key}
    for name, url in platform.urls.items():
        env[f"FSM_DEMO_{name.upper()}_URL"] = url
    done = _demo(env, "--seed", "3", "--orders", "12")
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Quality figures" in out
    [total] = [line for line in out.splitlines() if line.strip("│┃ ").startswith("All")]
    cells = [c.strip() for c in total.strip("│┃ ").split("│")]
    assert len(cells) == 8, total
    assert all(c and c != "–" for c in cells), total
    assert "%" in cells[2] and "%" in cells[3] and "/ 10" in cells[5]


def test_fbk_11_the_demo_total_is_the_sum_of_this_runs_technicians() -> None:
    def row(key: str, arrivals: int, on_time: int, att: list[int], ab: list[int]) -> dict[str, Any]:
        return {
            "key": key,
            "arrivals": arrivals,
            "on_time_rate": round(on_time / arrivals, 4),
            "first_visits": 3,
            "first_time_fix_rate": round(2 / 3, 4),
            "visits": arrivals,
            "repeat_visit_rate": round(1 / arrivals, 4),
            "repairs": 3,
            "repair_pass_rate": 1.0,
            "satisfaction": {
                "surveys": len(att),
                "service_attitude": round(sum(att) / len(att), 4),
                "professional_ability": round(sum(ab) / len(ab), 4),
                "overall": None,
            },
            "confirmed_conduct_findings": 0,
            "complaints_by_class": {"A": 0, "B": 0, "C": 1, "none": 0, "not_at_fault": 0},
            "complaints_level_2": 0,
            "call_back_coverage": {
                "repair_records": 3,
                "surveyed": 1,
                "percent": 33.33,
                "minimum_percent": 8,
                "alarm": False,
            },
        }

    total = total_row([row("t-1", 7, 6, [9, 8, 10], [7, 7, 8]), row("t-2", 3, 3, [5, 9], [4, 10])])

    assert total["key"] == "all"
    assert (total["arrivals"], total["on_time_rate"]) == (10, 0.9)
    assert (total["first_visits"], total["first_time_fix_rate"]) == (6, round(4 / 6, 4))
    assert (total["visits"], total["repeat_visit_rate"]) == (10, 0.2)
    assert (total["repairs"], total["repair_pass_rate"]) == (6, 1.0)
    assert total["satisfaction"] == {
        "surveys": 5,
        "service_attitude": 8.2,
        "professional_ability": 7.2,
        "overall": 7.7,
    }
    assert total["complaints_by_class"]["C"] == 2
    assert total["call_back_coverage"]["surveyed"] == 2
    assert total["call_back_coverage"]["percent"] == round(2 / 6 * 100, 2)


def test_fbk_11_each_demo_run_has_its_own_technicians() -> None:
    plan = make_plan(seed=3, orders=4, technicians=2, today=date(2026, 3, 2))
    platform: Any = None  # nothing is called before set_up
    first, second = Day(platform, plan), Day(platform, plan)

    ids = [{t.technician_id for t in d.plan.technicians} for d in (first, second)]
    assert not ids[0] & ids[1]
    assert all(t.startswith("demo-tech-") for t in ids[0] | ids[1])
    assert [t.name for t in first.plan.technicians] == [t.name for t in plan.technicians]


def _cells(out: str, starts: str) -> list[str]:
    [line] = [line for line in out.splitlines() if line.strip("│┃ ").startswith(starts)]
    return [c.strip() for c in line.strip("│┃ ").split("│")]


def test_fbk_11_a_second_demo_run_the_same_day_shows_only_its_own_day(platform: Platform) -> None:
    env = {**os.environ, "FSM_BOOTSTRAP_API_KEY": platform.admin_key}
    for name, url in platform.urls.items():
        env[f"FSM_DEMO_{name.upper()}_URL"] = url
    runs = [_demo(env, "--seed", "5", "--orders", "9") for _ in range(2)]
    for done in runs:
        assert done.returncode == 0, done.stdout + done.stderr
    out = runs[1].stdout
    # rule FBK-11: the All row is this run's day: its arrivals are the arrivals this run made
    arrivals = int(_cells(out, "Visits (arrivals)")[1])
    assert int(_cells(out, "All")[1]) == arrivals
    technicians = [
        [c.strip() for c in line.strip("│┃ ").split("│")]
        for line in out.splitlines()
        if "demo-tech-" in line and "│" in line
    ]
    assert technicians and sum(int(cells[1]) for cells in technicians) == arrivals
    first_ids = {w for w in runs[0].stdout.split() if "demo-tech-" in w}
    second_ids = {w for w in out.split() if "demo-tech-" in w}
    assert first_ids and second_ids and not first_ids & second_ids
