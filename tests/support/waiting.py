"""Explicit waits: poll a condition until it holds or a deadline passes (never a blind sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    probe: Callable[[], Awaitable[T]] | Callable[[], T],
    *,
    within: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> T:
    """Poll ``probe`` (sync or async) until it returns something truthy; return that value.

    Raises ``AssertionError`` naming ``message`` and the last value seen after ``within`` s.
    """
    deadline = time.monotonic() + within
    last: object = None
    while True:
        result = probe()
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        last = result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within}s waiting for {message}; last: {last!r}")
        await asyncio.sleep(interval)
