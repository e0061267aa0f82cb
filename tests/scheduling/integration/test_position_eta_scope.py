"""SCH-6 / SCH-7: the ETA a position ping gives for one job is never taken for another's."""

from __future__ import annotations

from datetime import datetime

from scheduling_support import DONGYING, Harness, created, local, near, window


async def test_sch_6_sch_7_an_eta_for_an_order_not_ahead_of_the_technician_warns_nobody(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(10, hours=1)]))  # 10:00-11:00
    assert (await harness.order("o1"))["technician_id"] == "t1"
    tech = await harness.key("technician", technician_id="t1")
    harness.clock.now = local(10, 40)

    # 1 km away: on time for o1; the 11:20 ETA is for a job that is not among t1's
    response = await harness.client.post(
        "/v1/technicians/t1/position",
        json={
            "position": near(DONGYING, north_km=1).model_dump(),
            "eta": local(11, 20).isoformat(),
            "order_id": "not-t1s-order",
        },
        headers=tech,
    )

    assert response.status_code == 200, response.text
    assert await harness.published("ArrivalLate") == []
    [o1] = response.json()
    assert o1["order_id"] == "o1"
    assert datetime.fromisoformat(o1["predicted_arrival"]) < local(11)
