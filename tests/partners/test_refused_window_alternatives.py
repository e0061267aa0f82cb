"""SCH-3 / SCH-12: a window refused to a network names only the network's own technicians as
alternatives; the centre's and other networks' (their names, their free time) are not its to
read."""

from __future__ import annotations

from partner_support import AREAS, add_network, add_network_technician, order_for
from scheduling_support import Harness, technician_body, window


async def test_sch_12_a_network_refused_a_window_is_offered_only_its_own_technicians(
    partners: Harness,
) -> None:
    h = partners
    await add_network(h, "n1")
    await add_network(h, "n2")
    await order_for(h, "o1", "n1")  # held by n1, no technician named yet
    # others who could keep the order's windows: the centre's and n2's, in its district
    for body in (
        technician_body("centre", areas=[AREAS["n1"]]),
        technician_body("nt2", areas=[AREAS["n1"]], network_id="n2"),
    ):
        response = await h.client.post("/v1/technicians", json=body)
        assert response.status_code == 201, response.text
    await add_network_technician(h, "nt1", "n1")
    key = await h.key("partner", network_id="n1")
    too_short = window(14, hours=0.1).model_dump(mode="json")

    booked = await h.client.post("/v1/orders/o1/appointment", json=too_short, headers=key)
    assert booked.status_code == 409, booked.text
    assert booked.headers["content-type"].startswith("application/problem+json")
    offered = {a["technician_id"] for a in booked.json()["alternatives"]}
    assert offered == {"nt1"}

    called = await h.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "later_time", "window": too_short},
        headers=key,
    )
    assert called.status_code == 409, called.text
    assert called.headers["content-type"].startswith("application/problem+json")
    assert not called.json().get("alternatives")  # SCH-2: it names its technician first
