"""Scheduling reads a day only as ``YYYY-MM-DD`` and a moment only as ISO 8601 with its offset:
a number is not a Unix timestamp (``"start": 0`` was an appointment in 1970, SCH-3)."""

from __future__ import annotations

import httpx
from scheduling_support import DONGYING, Harness, created, local, technician_body, window

# 14:00-16:00 on the test Monday in Shanghai, as Unix timestamps.
START, END = int(window(14).start.timestamp()), int(window(14).end.timestamp())


def _fields(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    return sorted(e["field"] for e in answer.json()["errors"])


async def test_sch_1_a_day_off_sent_as_a_number_is_a_422_naming_it(harness: Harness) -> None:
    created_ = await harness.client.post(
        "/v1/technicians", json=technician_body("t1", days_off=[1795392000])
    )
    assert _fields(created_) == ["days_off.0"]
    await harness.add_technician("t1")
    update = {k: v for k, v in technician_body("t1").items() if k != "technician_id"}
    updated = await harness.client.put("/v1/technicians/t1", json={**update, "days_off": [0]})
    assert _fields(updated) == ["days_off.0"]


async def test_sch_3_shift_times_sent_as_numbers_are_422_naming_them(harness: Harness) -> None:
    # 36000 was read as 36,000 seconds after midnight UTC (10:00+00:00), refused as a time with
    # an offset.
    created_ = await harness.client.post(
        "/v1/technicians", json=technician_body("t1", shift_start=36000, shift_end="18:00")
    )
    assert _fields(created_) == ["shift_start"]
    # said as what it is, not as a time "with a UTC offset" the client never wrote
    assert "HH:MM" in str(created_.json()["errors"][0]), created_.text
    taken = await harness.client.post(
        "/v1/technicians", json=technician_body("t1", shift_start="10:00", shift_end="18:00")
    )
    assert taken.status_code == 201, taken.text
    assert taken.json()["shift_start"].startswith("10:00")


async def test_sch_3_sch_6_windows_and_position_times_sent_as_numbers_are_422_naming_them(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1"))
    tech = await harness.key("technician", technician_id="t1")
    numbers = {"start": START, "end": END}
    booked = await harness.client.post("/v1/orders/o1/appointment", json=numbers)
    moved = await harness.client.post(
        "/v1/orders/o1/reschedule", json={**numbers, "reason": "asked", "customer_consent": True}
    )
    called = await harness.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "later_time", "window": {"start": START, "end": "1795420800"}},
        headers=tech,
    )
    naive = await harness.client.post(
        "/v1/orders/o1/appointment",
        json={"start": "2026-11-23T14:00:00", "end": "2026-11-23T16:00:00"},
    )
    pinged = await harness.client.post(
        "/v1/technicians/t1/position",
        json={"position": DONGYING.model_dump(), "at": 0, "eta": END},
        headers=tech,
    )

    assert _fields(booked) == ["end", "start"] and _fields(moved) == ["end", "start"]
    assert _fields(called) == ["window.end", "window.start"]
    assert _fields(naive) == ["end", "start"]
    assert _fields(pinged) == ["at", "eta"]
    assert (await harness.order("o1"))["appointment"] is None


async def test_webhook_replays_and_the_delivery_log_refuse_a_moment_sent_as_a_number(
    harness: Harness,
) -> None:
    replay = await harness.client.post(
        "/v1/webhooks/subscriptions/s1/replay", json={"since": 0, "until": END}
    )
    log = await harness.client.get("/v1/webhooks/deliveries", params={"until": str(END)})
    assert _fields(replay) == ["since", "until"]
    assert _fields(log) == ["until"]


async def test_iso_days_and_moments_with_their_offset_are_taken(harness: Harness) -> None:
    tech = await harness.add_technician("t1", days_off=["2026-11-25"])
    assert tech["days_off"] == ["2026-11-25"]
    await harness.feed(created("o1"))
    technician = await harness.key("technician", technician_id="t1")
    booked = await harness.client.post(
        "/v1/orders/o1/appointment",
        json={"start": "2026-11-23T14:00:00+08:00", "end": "2026-11-23T08:00:00Z"},
    )
    assert booked.status_code == 200, booked.text
    pinged = await harness.client.post(
        "/v1/technicians/t1/position",
        json={"position": DONGYING.model_dump(), "at": local(8).isoformat()},
        headers=technician,
    )
    assert pinged.status_code == 200, pinged.text
    log = await harness.client.get(
        "/v1/webhooks/deliveries", params={"since": "2026-11-23T00:00:00+08:00"}
    )
    assert log.status_code == 200, log.text
