"""Scheduling test fixtures: a harness around a runtime on a real database."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from scheduling_support import MONDAY_8AM, Clock, Harness, scheduling_harness  # noqa: E402


@pytest.fixture
async def harness(database_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with scheduling_harness(database_url, tmp_path / "policy.yaml", Clock(MONDAY_8AM)) as h:
        yield h
