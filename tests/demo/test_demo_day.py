"""`make demo` against the five services as real processes: a small day runs to the figures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from support.platform import SERVICES, Platform

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `demo` is run from the checkout (`make demo`), not installed
    sys.path.insert(0, str(ROOT))

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
