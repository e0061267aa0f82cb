"""What scheduling's REST API answers at its edges, on SQLite and PostgreSQL: the order lists page
with cursors and a network lists what it holds now, shift times are whole minutes, windows are
offered only where a booking could follow, a re-optimisation honours `Idempotency-Key`, and an
unknown technician's jobs are a 404."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
from scheduling_support import MONDAY_8AM, Harness, created, technician_body, window

from contracts.envelope import EventEnvelope
from contracts.fieldwork import VisitClosed, VisitOutcome
from contracts.intake import OrderCancelled


def _w(w) -> dict[str, str]:
    return {"start": w.start.isoformat(), "end": w.end.isoformat()}


async def _received(h: Harness, order_id: str, minutes: int) -> None:
    """An order of the Dongying district, received ``minutes`` after the test's start."""
    envelope = EventEnvelope.wrap(created(order_id), time=MONDAY_8AM + timedelta(minutes=minutes))
    await h.runtime.handle_event(envelope)


async def _walk(h: Harness, limit: int, headers: dict[str, str] | None = None) -> list[list[str]]:
    """Every page of ``GET /v1/orders``, following `next_cursor` to the last page."""
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = await h.client.get("/v1/orders", params=params, headers=headers or {})
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([o["order_id"] for o in body["items"]])
        if body["next_cursor"] is None:
            return pages
        params = {"limit": limit, "cursor": body["next_cursor"]}


def _problem_fields(response: httpx.Response) -> set[str]:
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"] for e in response.json()["errors"]}


# -- order lists (SCH-1) -------------------------------------------------------------------


async def test_sch_1_a_network_lists_the_orders_it_holds_now_newest_first_page_by_page(
    harness: Harness,
) -> None:
    response = await harness.client.post(
        "/v1/networks",
        json={"network_id": "n1", "name": "东营网点", "skills": ["*"], "areas": ["Dongying"]},
    )
    assert response.status_code == 201, response.text
    # no technician of the centre: each order is given to the network (SCH-1)
    await _received(harness, "a-cancelled", 0)
    await harness.feed(OrderCancelled(order_id="a-cancelled", reason="x", cancelled_by="agent"))
    await _received(harness, "b-old", 1)
    await _received(harness, "c-tie", 2)
    await _received(harness, "d-tie", 2)  # received at the same instant: ties go by id
    await _received(harness, "e-new", 3)
    cancelled = await harness.order("a-cancelled")
    assert (cancelled["status"], cancelled["network_id"]) == ("cancelled", "n1")
    partner = await harness.key("partner", network_id="n1")

    pages = await _walk(harness, 2, partner)

    assert pages == [["e-new", "c-tie"], ["d-tie", "b-old"]]  # no history, nothing dropped
    first = await harness.client.get("/v1/orders", params={"limit": 1}, headers=partner)
    assert first.json()["items"][0]["order_id"] == "e-new"  # the newly given one comes first
    as_centre = await _walk(harness, 10, None)
    assert as_centre == [["e-new", "c-tie", "d-tie", "b-old", "a-cancelled"]]
    of_network = await harness.client.get("/v1/orders", params={"network_id": "n1"})
    assert [o["order_id"] for o in of_network.json()["items"]] == pages[0] + pages[1]


async def test_the_centre_walks_every_order_with_the_cursor_without_repeats(
    harness: Harness,
) -> None:
    for minute, order_id in enumerate(["o1", "o2", "o3", "o4", "o5"]):
        await _received(harness, order_id, minute)

    pages = await _walk(harness, 2)

    assert pages == [["o5", "o4"], ["o3", "o2"], ["o1"]]


async def test_a_cursor_of_another_list_or_a_garbled_one_is_422_naming_the_cursor(
    harness: Harness,
) -> None:
    for minute, order_id in enumerate(["o1", "o2"]):
        await _received(harness, order_id, minute)
    centre = (await harness.client.get("/v1/orders", params={"limit": 1})).json()["next_cursor"]
    assert centre is not None

    partner = await harness.key("partner", network_id="n1")
    other = await harness.client.get("/v1/orders", params={"cursor": centre}, headers=partner)
    garbled = await harness.client.get("/v1/orders", params={"cursor": "not-a-cursor"})
    edge = {"s": "centre", "r": "0001-01-01T00:00:00+14:00", "i": "o1"}  # before year 1 in UTC
    beyond = base64.urlsafe_b64encode(json.dumps(edge).encode()).decode()
    overflow = await harness.client.get("/v1/orders", params={"cursor": beyond})

    assert other.status_code == 422 and _problem_fields(other) == {"cursor"}
    assert garbled.status_code == 422 and _problem_fields(garbled) == {"cursor"}
    assert overflow.status_code == 422 and _problem_fields(overflow) == {"cursor"}


# -- shifts (SCH-1, SCH-3) -----------------------------------------------------------------


async def test_shift_times_with_seconds_are_422_naming_the_field(harness: Harness) -> None:
    body = technician_body("t1", shift_start="10:00:10", shift_end="10:00:50")
    response = await harness.client.post("/v1/technicians", json=body)
    assert response.status_code == 422, response.text
    assert _problem_fields(response) == {"shift_start", "shift_end"}
    late = technician_body("t1", shift_start="09:00", shift_end="23:59:59")
    assert _problem_fields(await harness.client.post("/v1/technicians", json=late)) == {"shift_end"}
    assert (await harness.client.get("/v1/technicians/t1")).status_code == 404


async def test_whole_minute_shifts_read_back_as_given_and_can_be_written_back(
    harness: Harness,
) -> None:
    body = technician_body("t1", shift_start="10:00:00", shift_end="23:59")
    assert (await harness.client.post("/v1/technicians", json=body)).status_code == 201

    read = (await harness.client.get("/v1/technicians/t1")).json()

    assert (read["shift_start"], read["shift_end"]) == ("10:00:00", "23:59:00")
    again = {k: read[k] for k in ("name", "skills", "areas", "home", "shift_start", "shift_end")}
    assert (await harness.client.put("/v1/technicians/t1", json=again)).status_code == 200


# -- slots (SCH-3) -------------------------------------------------------------------------


async def test_sch_3_no_windows_are_offered_for_an_order_that_cannot_be_booked(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("done"))
    visit_id = (await harness.order("done"))["visit_id"]
    await harness.feed(
        VisitClosed(
            order_id="done",
            visit_id=visit_id,
            technician_id="t1",
            outcome=VisitOutcome.DECLINED,
            closed_at=harness.clock.now,
        )
    )
    await harness.feed(created("cancelled"))
    await harness.feed(OrderCancelled(order_id="cancelled", reason="x", cancelled_by="agent"))
    await harness.feed(created("open"))

    for order_id, status in (("done", "visit_done"), ("cancelled", "cancelled")):
        offered = await harness.client.get(f"/v1/orders/{order_id}/slots")
        assert offered.status_code == 409, offered.text
        assert offered.headers["content-type"].startswith("application/problem+json")
        assert offered.json()["current_status"] == status
        booked = await harness.client.post(
            f"/v1/orders/{order_id}/appointment", json=_w(window(15))
        )
        assert booked.status_code == 409  # the same check refuses the booking
    assert (await harness.client.get("/v1/orders/open/slots")).json()  # a bookable one has some


# -- plans (SCH-4) -------------------------------------------------------------------------


async def test_sch_4_a_retried_optimisation_gets_the_first_answer_without_solving_again(
    harness: Harness,
) -> None:
    await harness.add_technician("t1")
    await harness.feed(created("o1", preferred=[window(10)]))
    url = "/v1/plans/2026-11-23/optimisation?time_limit=0.3"
    key = {"Idempotency-Key": "plan-monday-1"}
    first = await harness.client.post(url, headers=key)
    assert first.status_code == 200, first.text
    assert [v["order_id"] for v in first.json()["visits"]] == ["o1"]
    await harness.feed(created("o2", preferred=[window(14)]))  # a new solve would plan it too

    retried = await harness.client.post(url, headers=key)
    other_body = await harness.client.post(
        "/v1/plans/2026-11-23/optimisation?time_limit=0.2", headers=key
    )

    assert retried.status_code == 200 and retried.headers.get("Idempotent-Replayed") == "true"
    assert retried.json() == first.json()
    assert other_body.status_code == 422
    fresh = await harness.client.post(url, headers={"Idempotency-Key": "plan-monday-2"})
    assert {v["order_id"] for v in fresh.json()["visits"]} == {"o1", "o2"}


# -- technicians ---------------------------------------------------------------------------


async def test_an_unknown_technicians_jobs_are_a_404(harness: Harness) -> None:
    response = await harness.client.get("/v1/technicians/nobody/jobs")
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    await harness.add_technician("t1")
    assert (await harness.client.get("/v1/technicians/t1/jobs")).json() == []


async def test_a_page_is_the_policys_default_size_and_a_larger_limit_is_cut_to_its_maximum(
    harness: Harness,
) -> None:
    # as every list of the platform pages: list_page_default rows unless asked, list_page_max
    # at most, the rest behind next_cursor
    deps = harness.runtime.app.state.deps
    deps["policy"] = deps["policy"].model_copy(update={"list_page_default": 2, "list_page_max": 3})
    for n in range(5):
        await _received(harness, f"o{n}", minutes=n)
        await harness.add_technician(f"t{n}")

    orders = await harness.client.get("/v1/orders")
    many_orders = await harness.client.get("/v1/orders", params={"limit": 1000})
    technicians = await harness.client.get("/v1/technicians")
    many_technicians = await harness.client.get("/v1/technicians", params={"limit": 1000})

    assert [len(r.json()["items"]) for r in (orders, many_orders)] == [2, 3]
    assert [len(r.json()["items"]) for r in (technicians, many_technicians)] == [2, 3]
    assert all(
        r.json()["next_cursor"] for r in (orders, many_orders, technicians, many_technicians)
    )
