"""INT-5: admins' warranty periods are read once per TTL, and a change clears them at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from intake.service_layer.handlers import WarrantyPeriodCache


@dataclass
class _Row:
    product_line: str
    months: int


@dataclass
class _Periods:
    rows: list[_Row]
    reads: int = 0

    async def all(self) -> list[_Row]:
        self.reads += 1
        return list(self.rows)


@dataclass
class _Uow:
    warranty_periods: _Periods = field(default_factory=lambda: _Periods([_Row("tv", 24)]))


class _Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_int5_periods_are_read_once_while_fresh_and_again_after_the_ttl() -> None:
    uow, clock = _Uow(), _Monotonic()
    cache = WarrantyPeriodCache(5.0, monotonic=clock)
    uow_any: Any = uow

    assert await cache.months_by_line(uow_any) == {"tv": 24}
    uow.warranty_periods.rows = [_Row("tv", 36)]
    clock.now += 4.9
    assert await cache.months_by_line(uow_any) == {"tv": 24}
    assert uow.warranty_periods.reads == 1

    clock.now += 0.1
    assert await cache.months_by_line(uow_any) == {"tv": 36}
    assert uow.warranty_periods.reads == 2


async def test_int5_clearing_the_cache_reads_the_periods_on_the_next_order() -> None:
    uow, clock = _Uow(), _Monotonic()
    cache = WarrantyPeriodCache(60.0, monotonic=clock)
    uow_any: Any = uow
    await cache.months_by_line(uow_any)
    uow.warranty_periods.rows = []
    cache.clear()
    assert await cache.months_by_line(uow_any) == {}
    assert uow.warranty_periods.reads == 2


async def test_int5_a_zero_ttl_reads_the_periods_for_every_order() -> None:
    uow, clock = _Uow(), _Monotonic()
    cache = WarrantyPeriodCache(0.0, monotonic=clock)
    uow_any: Any = uow
    for _ in range(3):
        await cache.months_by_line(uow_any)
    assert uow.warranty_periods.reads == 3
