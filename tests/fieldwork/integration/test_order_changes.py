"""The order changing under its visits, through the events of the other services: a cancellation
or a phone resolution that reaches fieldwork before or after the assignment (events of different
services are not ordered between them), an order handed back to the centre, a rescheduled
appointment (SCH-3, SCH-6, SCH-8, SCH-12, INT-4, INT-7, FLD-11)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx

from contracts.common import (
    AssigneeKind,
    Channel,
    Customer,
    Fault,
    Product,
    TimeWindow,
    WarrantyStatus,
)
from contracts.envelope import EventEnvelope
from contracts.identity import Role
from contracts.intake import (
    OrderCancelled,
    OrderCreated,
    OrderReopened,
    OrderResolvedRemotely,
    OrderVerified,
    RemoteResolutionCause,
)
from contracts.scheduling import (
    AppointmentConfirmed,
    AppointmentRescheduled,
    OrderAssigned,
    OrderReassigned,
    OrderReturnedToCentre,
    RescheduleInitiator,
    ReturnReason,
    RevisitBooked,
    RevisitReason,
)
from fieldwork.domain.policy import DEFAULT_KIT
from fieldwork.domain.visit import Visit, VisitState
from servicekit.auth import generate_key, issued_event
from servicekit.runtime import ServiceRuntime

from ..conftest import (
    T0,
    Clock,
    act,
    offline_item,
    ok,
    on_site,
    order,
    outbox,
    published,
    upload,
)

# --- helpers --------------------------------------------------------------------------------------


async def deliver(runtime: ServiceRuntime, payload: Any, at: datetime = T0) -> None:
    await runtime.handle_event(EventEnvelope.wrap(payload, time=at))


def _client(runtime: ServiceRuntime, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.app),
        base_url="http://fieldwork",
        headers={"Authorization": f"Bearer {key}"},
    )


async def technician(runtime: ServiceRuntime, technician_id: str) -> httpx.AsyncClient:
    """A client with a fresh key of the technician."""
    raw = generate_key()
    role: Role = "technician"
    await deliver(
        runtime,
        issued_event(
            key_id=str(uuid.uuid4()),
            raw_key=raw,
            role=role,
            name=f"师傅 {technician_id}",
            network_id=None,
            technician_id=technician_id,
            expires_at=None,
        ),
    )
    return _client(runtime, raw)


def created(order_id: str = "o-1") -> OrderCreated:
    return OrderCreated(
        order_id=order_id,
        customer=Customer.model_validate(
            {"name": "王芳", "phones": ["+8613800138000"], "address": {"detail": "西四路100号"}}
        ),
        product=Product.model_validate({"line": "water_heater", "model": "JSQ24"}),
        fault=Fault(description="热水器打不着火"),
        channel=Channel.HOTLINE,
    )


def assigned(
    visit_id: str = "v-1", technician_id: str = "tech-7", window: TimeWindow | None = None
) -> OrderAssigned:
    return OrderAssigned(
        order_id="o-1",
        visit_id=visit_id,
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id=technician_id,
        appointment=window,
        assigned_by="dispatcher-1",
    )


CANCELLED = OrderCancelled(order_id="o-1", reason="客户打错电话", cancelled_by="agent-1")
RESOLVED = OrderResolvedRemotely(
    order_id="o-1", cause=RemoteResolutionCause.MISUSE, guidance="燃气阀未完全打开"
)


def depart(clock: Clock) -> dict[str, Any]:
    return {
        "type": "depart",
        "eta": (clock.now + timedelta(minutes=30)).isoformat(),
        "kit_checked": list(DEFAULT_KIT),
    }


def window(hours: float) -> TimeWindow:
    return TimeWindow(start=T0 + timedelta(hours=hours), end=T0 + timedelta(hours=hours + 2))


async def stored_visit(runtime: ServiceRuntime, visit_id: str) -> Visit:
    async with runtime.app.state.uow_factory() as uow:
        visit = await uow.visits.get(visit_id)
    assert visit is not None
    return visit


async def listed(client: httpx.AsyncClient) -> list[str]:
    """The visit ids on the technician's list (visits not over)."""
    response = await client.get("/v1/visits")
    assert response.status_code == 200, response.text
    return [v["visit_id"] for v in response.json()["items"]]


def refused_as_problem(response: httpx.Response, status: int = 409) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


# --- (a) a cancellation that reaches fieldwork before the assignment (SCH-12) ---------------------


async def test_sch_12_an_assignment_heard_after_the_cancellation_makes_no_live_visit(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await deliver(runtime, created(), T0 - timedelta(hours=2))
    await deliver(runtime, CANCELLED, T0 - timedelta(hours=1))
    await deliver(runtime, assigned(), T0 - timedelta(minutes=59))

    assert (await stored_visit(runtime, "v-1")).state is VisitState.CANCELLED
    async with await technician(runtime, "tech-7") as tech7:
        assert await listed(tech7) == []
        refused = refused_as_problem(await act(tech7, "v-1", **depart(clock)))
    assert refused["state"] == "cancelled" and refused["allowed"] == []
    assert "TechnicianDeparted" not in await published(runtime)


async def test_sch_12_a_revisit_or_confirmation_heard_after_the_cancellation_stays_called_off(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await deliver(runtime, created(), T0 - timedelta(hours=2))
    await deliver(runtime, CANCELLED, T0 - timedelta(hours=1))
    await deliver(
        runtime,
        RevisitBooked(
            order_id="o-1", visit_id="v-2", reason=RevisitReason.OTHER, technician_id="tech-7"
        ),
    )
    await deliver(
        runtime,
        AppointmentConfirmed(
            order_id="o-1", visit_id="v-3", window=window(1), technician_id="tech-7"
        ),
    )

    states = [v["state"] for v in (await admin.get("/v1/orders/o-1/visits")).json()["visits"]]
    assert states == ["cancelled", "cancelled"]


async def test_sch_12_a_visit_left_live_on_a_cancelled_order_refuses_every_technician_action(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # A visit made live before fieldwork called off late assignments: the order's cancellation
    # is on file but the visit is still scheduled.
    await order(runtime, "o-1")
    async with runtime.app.state.uow_factory() as uow:
        await uow.orders.lock("o-1")
        context = await uow.orders.get("o-1")
        assert context is not None
        context.cancelled = True
        await uow.orders.save(context)
        await uow.commit()

    async with await technician(runtime, "tech-7") as tech7:
        refused = refused_as_problem(await act(tech7, "v-1", **depart(clock)))
        batch = await tech7.post(
            "/v1/offline/batches",
            json={
                "actions": [
                    {
                        "client_id": "c-1",
                        "visit_id": "v-1",
                        "occurred_at": clock.now.isoformat(),
                        "action": depart(clock),
                    }
                ]
            },
        )

    assert refused["rule"] == "SCH-12"
    result = batch.json()["results"][0]
    assert result["status"] == "refused" and result["problem"]["rule"] == "SCH-12"
    assert (await stored_visit(runtime, "v-1")).state is VisitState.SCHEDULED


# --- (b) resolved by phone after the assignment (INT-4) -------------------------------------------


async def test_int_4_an_order_resolved_by_phone_calls_off_the_visit_not_yet_started(
    runtime: ServiceRuntime, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await deliver(runtime, RESOLVED)

    assert (await stored_visit(runtime, "v-1")).state is VisitState.CANCELLED
    async with await technician(runtime, "tech-7") as tech7:
        assert await listed(tech7) == []
        refused_as_problem(await act(tech7, "v-1", **depart(clock)))


async def test_int_4_a_trip_under_way_when_resolved_by_phone_is_called_off(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # Intake resolved the order before it heard of the departure: every service must agree the
    # order was resolved by phone, so the technician turns back.
    await order(runtime, "o-1")
    await ok(admin, "v-1", **depart(clock))

    await deliver(runtime, RESOLVED)

    assert (await stored_visit(runtime, "v-1")).state is VisitState.CANCELLED
    clock.advance(minutes=30)
    refused_as_problem(await act(admin, "v-1", type="arrive"))
    assert "VisitClosed" not in await published(runtime)  # nothing was done at the customer's


async def test_int_4_a_visit_on_site_when_resolved_by_phone_ends_aborted_and_says_so(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await ok(admin, "v-1", **depart(clock))
    clock.advance(minutes=30)
    await ok(admin, "v-1", type="arrive")

    await deliver(runtime, RESOLVED, clock.now + timedelta(minutes=1))

    assert (await stored_visit(runtime, "v-1")).state is VisitState.ABORTED
    assert (await published(runtime)).count("VisitClosed") == 1
    refused_as_problem(await act(admin, "v-1", type="diagnose", cause="燃气阀"))


async def test_int_4_an_assignment_heard_after_the_phone_resolution_is_called_off(
    runtime: ServiceRuntime,
) -> None:
    await deliver(runtime, created(), T0 - timedelta(hours=2))
    await deliver(runtime, RESOLVED, T0 - timedelta(hours=1))
    await deliver(runtime, assigned(), T0 - timedelta(minutes=59))

    assert (await stored_visit(runtime, "v-1")).state is VisitState.CANCELLED


async def test_int_4_a_reopened_order_gets_its_new_visit_whichever_topic_is_read_first(
    runtime: ServiceRuntime,
) -> None:
    await order(runtime, "o-1")
    await deliver(runtime, RESOLVED)
    # Scheduling's revisit may be read before intake's reopening...
    await deliver(
        runtime,
        RevisitBooked(
            order_id="o-1",
            visit_id="v-2",
            previous_visit_id="v-1",
            reason=RevisitReason.OTHER,
            technician_id="tech-7",
        ),
    )
    assert (await stored_visit(runtime, "v-2")).state is VisitState.SCHEDULED
    await deliver(runtime, OrderReopened(order_id="o-1", reason="按指导操作后仍无法点火"))
    assert (await stored_visit(runtime, "v-1")).state is VisitState.CANCELLED
    # ... or after it: resolved by phone again, then reopened again.
    await deliver(runtime, RESOLVED.model_copy(), T0 + timedelta(hours=1))
    assert (await stored_visit(runtime, "v-2")).state is VisitState.CANCELLED
    await deliver(
        runtime, OrderReopened(order_id="o-1", reason="还是不行"), T0 + timedelta(hours=2)
    )
    await deliver(runtime, assigned("v-3"), T0 + timedelta(hours=3))
    assert (await stored_visit(runtime, "v-3")).state is VisitState.SCHEDULED


# --- (c) handed back to the centre (SCH-8, SCH-12, INT-7) -----------------------------------------


def returned(
    visit_id: str | None = "v-1",
    technician_id: str | None = "tech-7",
    detail: str | None = None,
    reason: ReturnReason = ReturnReason.OTHER,
) -> OrderReturnedToCentre:
    return OrderReturnedToCentre(
        order_id="o-1",
        visit_id=visit_id,
        reason=reason,
        detail=detail,
        returned_by="dispatcher-1",
        technician_id=technician_id,
    )


def revisit(
    visit_id: str,
    previous: str,
    reason: RevisitReason = RevisitReason.OTHER,
    technician_id: str | None = None,
    window: TimeWindow | None = None,
) -> RevisitBooked:
    return RevisitBooked(
        order_id="o-1",
        visit_id=visit_id,
        previous_visit_id=previous,
        reason=reason,
        technician_id=technician_id,
        window=window,
    )


async def test_sch_12_a_cancelled_assignment_takes_the_visit_from_the_in_house_technician(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")

    await deliver(runtime, returned(detail="assignment cancelled by the dispatcher: 师傅请假"))

    assert (await stored_visit(runtime, "v-1")).technician_id is None
    async with await technician(runtime, "tech-7") as tech7:
        assert await listed(tech7) == []
        refused_as_problem(await act(tech7, "v-1", **depart(clock)), status=404)
    # Nobody holds it, so nobody departs on it (not even with an admin key) ...
    assert refused_as_problem(await act(admin, "v-1", **depart(clock)))["rule"] == "SCH-12"
    # ... until the centre places it again.
    await deliver(runtime, assigned(technician_id="tech-8"))
    async with await technician(runtime, "tech-8") as tech8:
        assert await listed(tech8) == ["v-1"]
        assert (await ok(tech8, "v-1", **depart(clock)))["state"] == "departed"


async def test_int_7_an_emergency_placed_again_leaves_the_former_technician_nothing_to_go_on(
    runtime: ServiceRuntime, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await deliver(
        runtime,
        AppointmentConfirmed(
            order_id="o-1", visit_id="v-1", window=window(26), technician_id="tech-7"
        ),
    )

    await deliver(
        runtime, returned(detail="emergency reported: placed again to be on site within 15 min")
    )
    await deliver(runtime, assigned(technician_id="tech-8", window=window(0)))

    async with await technician(runtime, "tech-7") as tech7:
        assert await listed(tech7) == []
        refused_as_problem(await act(tech7, "v-1", **depart(clock)), status=404)
    visit = await stored_visit(runtime, "v-1")
    assert visit.technician_id == "tech-8" and visit.window == window(0)


async def test_sch_12_a_return_naming_no_visit_takes_the_technicians_visits_not_yet_started(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await deliver(runtime, assigned("v-2", technician_id="tech-8"))

    await deliver(runtime, returned(visit_id=None, technician_id="tech-7"))

    assert (await stored_visit(runtime, "v-1")).technician_id is None
    assert (await stored_visit(runtime, "v-2")).technician_id == "tech-8"


async def test_sch_12_a_return_while_the_technician_is_on_site_leaves_them_the_visit(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")

    await deliver(runtime, returned(), clock.now)

    visit = await stored_visit(runtime, "v-1")
    assert visit.technician_id == "tech-7" and visit.state is VisitState.DIAGNOSING


# --- (c2) a trip called off on the way (SCH-6, SCH-10) -----------------------------------------


def reassigned(technician_id: str, previous: str, reason: str = "堵车, 改派") -> OrderReassigned:
    return OrderReassigned(
        order_id="o-1",
        visit_id="v-1",
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id=technician_id,
        previous_assignee_kind=AssigneeKind.TECHNICIAN,
        previous_technician_id=previous,
        reassigned_by="dispatcher-1",
        reason=reason,
    )


async def test_sch_6_a_reassignment_on_the_way_calls_the_trip_off_and_hands_the_visit_on(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    async with await technician(runtime, "tech-7") as tech7:
        departed_at = clock.now
        assert (await ok(tech7, "v-1", **depart(clock)))["state"] == "departed"
        clock.advance(minutes=10)

        await deliver(runtime, reassigned("tech-8", previous="tech-7"), clock.now)

        visit = (await admin.get("/v1/visits/v-1")).json()
        assert (visit["state"], visit["technician_id"]) == ("scheduled", "tech-8")
        [trip] = visit["trips_called_off"]
        assert trip["technician_id"] == "tech-7" and trip["handed_to"] == "tech-8"
        assert datetime.fromisoformat(trip["departed_at"]) == departed_at
        assert datetime.fromisoformat(trip["called_off_at"]) == clock.now
        assert "堵车" in trip["reason"]
        # the former technician's trip is over: the visit is no longer theirs
        assert await listed(tech7) == []
        refused_as_problem(await act(tech7, "v-1", type="arrive"), status=404)
    async with await technician(runtime, "tech-8") as tech8:
        assert await listed(tech8) == ["v-1"]
        assert (await ok(tech8, "v-1", **depart(clock)))["state"] == "departed"
        clock.advance(minutes=20)
        assert (await ok(tech8, "v-1", type="arrive"))["state"] == "arrived"
    departures = [e for e in await outbox(runtime) if e.event_name == "TechnicianDeparted"]
    assert [e.data["technician_id"] for e in departures] == ["tech-7", "tech-8"]


def offline(
    items: list[tuple[str, datetime, dict[str, Any]]], visit_id: str = "v-1"
) -> dict[str, Any]:
    """An offline batch: (client id, when, action) each."""
    return {
        "actions": [
            offline_item(client_id, at, visit_id, **action) for client_id, at, action in items
        ]
    }


async def test_sch_8_an_arrival_logged_offline_before_the_reassignment_takes_the_visit_back(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # The technician had no signal: the centre, hearing nothing, sent someone else; they were at
    # the door by then, and their app syncs afterwards (on site wins).
    await order(runtime, "o-1")
    departed_at = clock.now
    eta = depart(clock)
    arrived_at = departed_at + timedelta(minutes=20)
    await deliver(
        runtime, reassigned("tech-8", previous="tech-7"), arrived_at + timedelta(minutes=5)
    )
    clock.advance(minutes=30)
    async with await technician(runtime, "tech-7") as tech7:
        synced = await tech7.post(
            "/v1/offline/batches",
            json=offline(
                [
                    ("c-1", departed_at, eta),
                    ("c-2", arrived_at, {"type": "arrive"}),
                ]
            ),
        )
        assert synced.status_code == 200, synced.text
        assert [r["status"] for r in synced.json()["results"]] == ["applied", "applied"]
        assert await listed(tech7) == ["v-1"]
    async with await technician(runtime, "tech-8") as tech8:
        assert await listed(tech8) == []
    visit = await stored_visit(runtime, "v-1")
    assert (visit.state, visit.technician_id, visit.arrived_at) == (
        VisitState.ARRIVED,
        "tech-7",
        arrived_at,
    )
    assert [(h.technician_id, h.handed_to) for h in visit.handovers] == [
        ("tech-7", "tech-8"),
        ("tech-8", "tech-7"),
    ]
    arrivals = [e for e in await outbox(runtime) if e.event_name == "TechnicianArrived"]
    assert [e.data["technician_id"] for e in arrivals] == ["tech-7"]


async def test_sch_6_an_offline_arrival_before_the_trip_was_called_off_lets_the_trip_go_on(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    async with await technician(runtime, "tech-7") as tech7:
        await ok(tech7, "v-1", **depart(clock))
        departed_at = clock.now
        arrived_at = departed_at + timedelta(minutes=15)
        changed_at = arrived_at + timedelta(minutes=10)
        await deliver(runtime, returned(reason=ReturnReason.CANNOT_STAFF), changed_at)
        clock.advance(minutes=40)
        synced = await tech7.post(
            "/v1/offline/batches", json=offline([("c-1", arrived_at, {"type": "arrive"})])
        )
        assert [r["status"] for r in synced.json()["results"]] == ["applied"], synced.text
    visit = await stored_visit(runtime, "v-1")
    assert (visit.state, visit.technician_id) == (VisitState.ARRIVED, "tech-7")
    assert visit.departed_at == departed_at
    [trip] = visit.trips_called_off  # on record: the centre did call it off
    assert trip.technician_id == "tech-7"


async def test_sch_8_an_offline_arrival_after_the_reassignment_is_still_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    changed_at = clock.now + timedelta(minutes=10)
    await deliver(runtime, reassigned("tech-8", previous="tech-7"), changed_at)
    clock.advance(minutes=40)
    async with await technician(runtime, "tech-7") as tech7:
        synced = await tech7.post(
            "/v1/offline/batches",
            json=offline(
                [
                    ("c-1", changed_at - timedelta(minutes=5), depart(clock)),
                    ("c-2", changed_at + timedelta(minutes=1), {"type": "arrive"}),
                ]
            ),
        )
    assert [r["status"] for r in synced.json()["results"]] == ["refused", "refused"]
    visit = await stored_visit(runtime, "v-1")
    assert (visit.state, visit.technician_id) == (VisitState.SCHEDULED, "tech-8")


async def test_sch_8_an_offline_arrival_does_not_take_a_visit_its_new_holder_left_for(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    arrived_at = clock.now + timedelta(minutes=20)
    await deliver(
        runtime, reassigned("tech-8", previous="tech-7"), arrived_at + timedelta(minutes=1)
    )
    clock.advance(minutes=25)
    async with await technician(runtime, "tech-8") as tech8:
        await ok(tech8, "v-1", **depart(clock))
    async with await technician(runtime, "tech-7") as tech7:
        synced = await tech7.post(
            "/v1/offline/batches", json=offline([("c-1", arrived_at, {"type": "arrive"})])
        )
    assert [r["status"] for r in synced.json()["results"]] == ["refused"]
    visit = await stored_visit(runtime, "v-1")
    assert (visit.state, visit.technician_id) == (VisitState.DEPARTED, "tech-8")


async def test_sch_10_a_return_on_the_way_calls_the_trip_off_and_its_loaner_goes_back(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", loaner_required=True)
    registered = await admin.post(
        "/v1/loaners", json={"serial": "L1", "product_line": "water_heater"}
    )
    assert registered.status_code == 201, registered.text
    async with await technician(runtime, "tech-7") as tech7:
        await ok(tech7, "v-1", **depart(clock), loaner_serial="L1")
        clock.advance(minutes=10)

        await deliver(
            runtime,
            OrderReturnedToCentre(
                order_id="o-1",
                visit_id="v-1",
                reason=ReturnReason.CUSTOMER_POSTPONED,
                detail="客户临时有事",
                returned_by="tech-7",
                technician_id="tech-7",
            ),
            clock.now,
        )

        refused_as_problem(await act(tech7, "v-1", type="arrive"), status=404)
    visit = await stored_visit(runtime, "v-1")
    assert (visit.state, visit.technician_id, visit.loaner_serial) == (
        VisitState.SCHEDULED,
        None,
        None,
    )
    [trip] = visit.trips_called_off
    assert trip.loaner_serial == "L1" and "customer_postponed" in trip.reason
    loaners = {x["serial"]: x["state"] for x in (await admin.get("/v1/loaners")).json()["items"]}
    assert loaners == {"L1": "available"}
    assert refused_as_problem(await act(admin, "v-1", type="arrive"))["rule"] == "SCH-12"


async def test_sch_10_the_next_visit_booked_after_a_postponement_calls_off_the_one_not_started(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    async with await technician(runtime, "tech-7") as tech7:
        await ok(tech7, "v-1", **depart(clock))
        clock.advance(minutes=10)
        await deliver(runtime, returned(reason=ReturnReason.CUSTOMER_POSTPONED), clock.now)
        await deliver(runtime, revisit("v-2", "v-1", window=window(26)), clock.now)
        await deliver(runtime, assigned("v-2", "tech-8", window(26)), clock.now)

    visits = {v["visit_id"]: v for v in (await admin.get("/v1/orders/o-1/visits")).json()["visits"]}
    assert visits["v-1"]["state"] == "cancelled"
    assert visits["v-2"]["state"] == "scheduled"
    first = await stored_visit(runtime, "v-1")
    [trip] = first.trips_called_off  # the trip stays on record
    assert trip.technician_id == "tech-7"
    assert (await stored_visit(runtime, "v-2")).technician_id == "tech-8"


async def test_sch_10_a_visit_given_back_to_its_technician_on_site_calls_off_its_follower(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # The customer postponed while the technician, unknown to the centre, was at the door:
    # fieldwork keeps the visit on site; scheduling, hearing of the arrival, drops the visit it
    # had booked to replace it (back from its holder) and gives the first one back.
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await deliver(runtime, returned(reason=ReturnReason.CUSTOMER_POSTPONED), clock.now)
    await deliver(runtime, revisit("v-2", "v-1"), clock.now)
    await deliver(runtime, assigned("v-2", "tech-8", window(26)), clock.now)
    assert (await stored_visit(runtime, "v-1")).state is VisitState.DIAGNOSING
    await deliver(runtime, returned("v-2", "tech-8"), clock.now)
    await deliver(runtime, assigned("v-1", "tech-7"), clock.now)

    first, follower = await stored_visit(runtime, "v-1"), await stored_visit(runtime, "v-2")
    assert (first.state, first.technician_id) == (VisitState.DIAGNOSING, "tech-7")
    assert (follower.state, follower.technician_id) == (VisitState.CANCELLED, None)


async def test_fbk_7_a_revisit_for_a_dissatisfied_customer_is_rework_diagnosed_free(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await deliver(
        runtime,
        revisit("v-2", "v-1", RevisitReason.CUSTOMER_DISSATISFIED, technician_id="tech-7"),
        clock.now,
    )
    await on_site(admin, clock, "v-2")
    diagnosed = await ok(admin, "v-2", type="diagnose", cause="点火器接触不良，重新紧固")
    assert (diagnosed["state"], diagnosed["chargeable"]) == ("diagnosing", False)
    # a revisit for another reason goes by the warranty, as before: chargeable, items needed
    await deliver(runtime, revisit("v-3", "v-2", technician_id="tech-7"), clock.now)
    await on_site(admin, clock, "v-3")
    refused = refused_as_problem(await act(admin, "v-3", type="diagnose", cause="x"))
    assert refused["rule"] == "FLD-4"


async def test_sch_8_a_revisit_after_a_visit_that_ended_leaves_that_visit_as_it_ended(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="fail", reason="needs_second_visit")
    await deliver(runtime, revisit("v-2", "v-1"), clock.now)
    assert (await stored_visit(runtime, "v-1")).state is VisitState.FAILED


async def test_sch_8_a_move_heard_after_the_arrival_leaves_the_visit_with_the_technician_there(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    async with await technician(runtime, "tech-7") as tech7:
        await ok(tech7, "v-1", **depart(clock))
        clock.advance(minutes=30)
        await ok(tech7, "v-1", type="arrive")

        # scheduling moved it while tech-7 was on the way; fieldwork hears it after the arrival
        await deliver(runtime, reassigned("tech-8", previous="tech-7"), clock.now)
        await deliver(runtime, returned(), clock.now)
        # ... and scheduling, hearing of the arrival, gives it back to who is there: no change
        back = reassigned("tech-7", previous="tech-8", reason="technician on site")
        await deliver(runtime, back, clock.now)

        visit = await stored_visit(runtime, "v-1")
        assert (visit.state, visit.technician_id) == (VisitState.ARRIVED, "tech-7")
        assert visit.trips_called_off == []
        door = await ok(
            tech7,
            "v-1",
            type="door_outcome",
            outcome="customer_present",
            next_step="proceed",
            id_shown=True,
        )
        assert door["state"] == "diagnosing"
    async with await technician(runtime, "tech-8") as tech8:
        assert await listed(tech8) == []


# --- (d) cancelled while the technician is on site (SCH-12, FLD-11, FBK-3) ------------------------


async def test_fld_11_a_cancellation_on_site_closes_the_visit_with_its_on_site_time(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    registered = await admin.post(
        "/v1/loaners", json={"serial": "L-1", "product_line": "water_heater"}
    )
    assert registered.status_code == 201
    await on_site(admin, clock, "v-1", loaner_serial="L-1")
    await ok(admin, "v-1", type="diagnose", cause="电机轴承损坏")
    arrived_at = clock.now
    clock.advance(minutes=25)

    await deliver(runtime, CANCELLED, clock.now)

    visit = await stored_visit(runtime, "v-1")
    assert visit.state is VisitState.ABORTED and visit.ended_at == clock.now
    closed = [e for e in await outbox(runtime) if e.event_name == "VisitClosed"]
    assert len(closed) == 1
    assert closed[0].data["outcome"] == "aborted"
    assert closed[0].data["technician_id"] == "tech-7"
    assert closed[0].data["on_site_seconds"] == (clock.now - arrived_at).total_seconds()
    assert closed[0].data["service_seconds_total"] == closed[0].data["on_site_seconds"]
    loaners = (await admin.get("/v1/loaners")).json()["items"]
    assert [(x["serial"], x["state"]) for x in loaners] == [("L-1", "available")]
    refused = refused_as_problem(await act(admin, "v-1", type="start_repair"))
    assert refused["state"] == "aborted" and refused["allowed"] == ["report_damage"]


async def test_fld_13_damage_done_before_the_cancellation_is_still_reported(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await deliver(runtime, CANCELLED, clock.now)

    await ok(admin, "v-1", type="report_damage", description="地板划伤")

    assert "DamageReported" in await published(runtime)


async def test_fld_12_a_visit_over_before_the_cancellation_was_heard_keeps_its_sign_off(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="点火针老化")
    await ok(admin, "v-1", type="start_repair")
    await ok(admin, "v-1", type="complete_repair", tested=False, sure_fixed=True)
    await deliver(runtime, CANCELLED, clock.now)

    signed = await ok(admin, "v-1", type="sign_off", signed=False, comments="客户拒签")

    assert signed["state"] == "completed"
    assert (await published(runtime)).count("VisitClosed") == 1


async def test_sch_12_a_cancellation_en_route_calls_the_trip_off_without_closing_a_visit(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await ok(admin, "v-1", **depart(clock))
    clock.advance(minutes=10)

    await deliver(runtime, CANCELLED, clock.now)

    assert (await stored_visit(runtime, "v-1")).state is VisitState.CANCELLED
    assert "VisitClosed" not in await published(runtime)
    refused_as_problem(await act(admin, "v-1", type="arrive"))


async def test_sch_12_a_cancellation_heard_twice_closes_the_visit_once(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    envelope = EventEnvelope.wrap(CANCELLED, time=clock.now)

    await runtime.handle_event(envelope)
    await runtime.handle_event(envelope)
    await deliver(runtime, CANCELLED.model_copy(), clock.now + timedelta(minutes=1))

    assert (await published(runtime)).count("VisitClosed") == 1


# --- (d2) cancelled while the technician was on site offline (SCH-12, SCH-7, BIL-1) ---------------


def door() -> dict[str, Any]:
    return {
        "type": "door_outcome",
        "outcome": "customer_present",
        "next_step": "proceed",
        "id_shown": True,
    }


async def test_sch_12_sch_7_an_arrival_logged_offline_before_the_cancellation_is_kept(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # The technician left online, then lost the signal at the door; the call centre cancelled
    # the order while they were diagnosing, and the app syncs an hour later.
    await order(runtime, "o-1")
    arrived_at = clock.now + timedelta(minutes=30)
    cancelled_at = arrived_at + timedelta(minutes=20)
    batch = offline(
        [
            ("c-1", arrived_at, {"type": "arrive"}),
            ("c-2", arrived_at + timedelta(minutes=1), door()),
            ("c-3", arrived_at + timedelta(minutes=10), {"type": "diagnose", "cause": "轴承"}),
            ("c-4", cancelled_at + timedelta(minutes=5), {"type": "start_repair"}),
        ]
    )
    async with await technician(runtime, "tech-7") as tech7:
        await ok(tech7, "v-1", **depart(clock))
        await deliver(runtime, CANCELLED, cancelled_at)
        assert (await stored_visit(runtime, "v-1")).state is VisitState.CANCELLED
        clock.now = cancelled_at + timedelta(hours=1)

        synced = await tech7.post("/v1/offline/batches", json=batch)
        before = await outbox(runtime)
        replayed = await tech7.post("/v1/offline/batches", json=batch)

    results = synced.json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied", "applied", "refused"]
    assert results[3]["problem"]["rule"] == "SCH-12"
    assert results[3]["problem"]["cancelled_at"] == cancelled_at.isoformat()
    assert "was cancelled at" in results[3]["reason"]
    visit = await stored_visit(runtime, "v-1")
    assert (visit.state, visit.arrived_at, visit.ended_at) == (
        VisitState.ABORTED,
        arrived_at,
        cancelled_at,
    )
    events = {e.event_name: e for e in before}
    arrived, closed = events["TechnicianArrived"], events["VisitClosed"]
    assert arrived.time == arrived_at and arrived.data["technician_id"] == "tech-7"
    assert closed.time == cancelled_at and closed.data["outcome"] == "aborted"
    assert closed.data["on_site_seconds"] == 20 * 60
    assert events["DiagnosisRecorded"].time == arrived_at + timedelta(minutes=10)
    # The same batch again changes nothing.
    again = replayed.json()["results"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate", "duplicate", "refused"]
    assert again[3]["problem"]["rule"] == "SCH-12"
    assert [e.id for e in await outbox(runtime)] == [e.id for e in before]
    assert (await stored_visit(runtime, "v-1")).ended_at == cancelled_at


async def test_sch_12_bil_1_a_repair_completed_offline_before_the_cancellation_stays_completed(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # Nothing reached fieldwork from the visit: it was still scheduled when the order was
    # cancelled, after the repair was done and signed for.
    await order(runtime, "o-1")
    t = clock.now
    completed_at = t + timedelta(minutes=70)
    cancelled_at = t + timedelta(minutes=90)
    await deliver(runtime, CANCELLED, cancelled_at)
    clock.now = cancelled_at + timedelta(hours=2)
    async with await technician(runtime, "tech-7") as tech7:
        signature = await upload(tech7, "v-1", "signature")
        batch = offline(
            [
                ("c-1", t, depart(clock)),
                ("c-2", t + timedelta(minutes=30), {"type": "arrive"}),
                ("c-3", t + timedelta(minutes=31), door()),
                ("c-4", t + timedelta(minutes=40), {"type": "diagnose", "cause": "点火针老化"}),
                ("c-5", t + timedelta(minutes=41), {"type": "start_repair"}),
                (
                    "c-6",
                    completed_at,
                    {"type": "complete_repair", "tested": False, "sure_fixed": True},
                ),
                (
                    "c-7",
                    completed_at + timedelta(minutes=2),
                    {"type": "sign_off", "signed": True, "signature_ref": signature},
                ),
            ]
        )

        synced = await tech7.post("/v1/offline/batches", json=batch)
        before = await outbox(runtime)
        replayed = await tech7.post("/v1/offline/batches", json=batch)

    assert [r["status"] for r in synced.json()["results"]] == ["applied"] * 7, synced.text
    visit = await stored_visit(runtime, "v-1")
    assert (visit.state, visit.ended_at) == (VisitState.COMPLETED, completed_at)
    assert visit.signed_off is not None
    [closed] = [e for e in before if e.event_name == "VisitClosed"]
    assert closed.data["outcome"] == "completed"
    assert closed.time == completed_at
    assert closed.data["closed_at"] == completed_at.isoformat().replace("+00:00", "Z")
    [repaired] = [e for e in before if e.event_name == "RepairCompleted"]
    assert repaired.time == completed_at < cancelled_at
    assert [r["status"] for r in replayed.json()["results"]] == ["duplicate"] * 7
    assert [e.id for e in await outbox(runtime)] == [e.id for e in before]


# --- (e) a rescheduled appointment (SCH-3, SCH-6) -------------------------------------------------


def rescheduled(visit_id: str, new: TimeWindow, old: TimeWindow | None = None) -> Any:
    return AppointmentRescheduled(
        order_id="o-1",
        visit_id=visit_id,
        old_window=old,
        new_window=new,
        reason="客户改约明天",
        requested_by=RescheduleInitiator.CUSTOMER,
        customer_consent=True,
    )


async def test_sch_3_a_rescheduled_appointment_moves_the_window_the_technician_sees(
    runtime: ServiceRuntime,
) -> None:
    await order(runtime, "o-1")
    await deliver(
        runtime,
        AppointmentConfirmed(
            order_id="o-1", visit_id="v-1", window=window(1), technician_id="tech-7"
        ),
    )

    await deliver(runtime, rescheduled("v-1", window(25), window(1)))

    async with await technician(runtime, "tech-7") as tech7:
        seen = (await tech7.get("/v1/visits/v-1")).json()
    assert TimeWindow.model_validate(seen["window"]) == window(25)


async def test_sch_6_a_new_time_agreed_on_the_way_moves_the_window_but_not_after_arrival(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await deliver(runtime, assigned("v-2", window=window(30)))
    await ok(admin, "v-1", **depart(clock))

    await deliver(runtime, rescheduled("v-1", window(2)))
    assert (await stored_visit(runtime, "v-1")).window == window(2)
    assert (await stored_visit(runtime, "v-2")).window == window(30)

    clock.advance(minutes=30)
    await ok(admin, "v-1", type="arrive")
    await deliver(runtime, rescheduled("v-1", window(3)))
    assert (await stored_visit(runtime, "v-1")).window == window(2)


# --- (g) details the centre corrected at verification (INT-2) ------------------------------------


async def test_int_2_the_fault_clarified_at_verification_replaces_the_reported_one(
    runtime: ServiceRuntime,
) -> None:
    await deliver(runtime, created())
    await deliver(
        runtime,
        OrderVerified(
            order_id="o-1", verified=["fault"], fault=Fault(description="热水器底部漏水")
        ),
    )
    await deliver(runtime, OrderVerified(order_id="o-1", verified=["customer"]))

    async with runtime.app.state.uow_factory() as uow:
        context = await uow.orders.get("o-1")
    assert context is not None
    # the technician's service report states the fault as the centre clarified it
    assert context.fault == "热水器底部漏水"


async def test_int_6_the_loaner_prediction_re_derived_at_verification_refits_scheduled_visits(
    runtime: ServiceRuntime,
) -> None:
    await deliver(runtime, created())
    await deliver(runtime, assigned("v-1"))
    assert (await stored_visit(runtime, "v-1")).loaner_required is False
    microwave = Product.model_validate({"line": "microwave_oven", "model": "M1"})
    await deliver(runtime, OrderVerified(order_id="o-1", product=microwave, loaner_required=True))
    # the first visit now brings a loaner (INT-6, FLD-6)
    assert (await stored_visit(runtime, "v-1")).loaner_required is True
    # an OrderVerified that did not re-derive it (published before it could) leaves it
    await deliver(runtime, OrderVerified(order_id="o-1", verified=["customer"]))
    assert (await stored_visit(runtime, "v-1")).loaner_required is True
    await deliver(runtime, OrderVerified(order_id="o-1", product=microwave, loaner_required=False))
    assert (await stored_visit(runtime, "v-1")).loaner_required is False
    async with runtime.app.state.uow_factory() as uow:
        context = await uow.orders.get("o-1")
    assert context is not None and context.loaner_required is False


async def _reassigned_before_an_offline_arrival(runtime: ServiceRuntime, clock: Clock) -> datetime:
    """o-1's visit v-1 handed from tech-7 to tech-8 five minutes after the time tech-7 will
    sync an arrival for, half an hour later; returns that arrival time."""
    await order(runtime, "o-1")
    arrived_at = clock.now + timedelta(minutes=20)
    await deliver(
        runtime, reassigned("tech-8", previous="tech-7"), arrived_at + timedelta(minutes=5)
    )
    clock.advance(minutes=30)
    return arrived_at


async def test_sch_8_an_offline_arrival_without_a_departure_takes_no_visit_back(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # The former holder never left for the visit (no departure before the change, none in the
    # batch): their arrival cannot be applied, so the visit stays with its new holder.
    arrived_at = await _reassigned_before_an_offline_arrival(runtime, clock)
    async with await technician(runtime, "tech-7") as tech7:
        synced = await tech7.post(
            "/v1/offline/batches", json=offline([("c-1", arrived_at, {"type": "arrive"})])
        )
        assert [r["status"] for r in synced.json()["results"]] == ["refused"], synced.text
        assert await listed(tech7) == []
    async with await technician(runtime, "tech-8") as tech8:
        assert await listed(tech8) == ["v-1"]
    visit = await stored_visit(runtime, "v-1")
    assert (visit.state, visit.technician_id) == (VisitState.SCHEDULED, "tech-8")
    assert [(h.technician_id, h.handed_to) for h in visit.handovers] == [("tech-7", "tech-8")]


async def test_sch_8_an_offline_arrival_after_a_refused_departure_takes_no_visit_back(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # The departure in the batch is dated after the arrival: it cannot have preceded it.
    arrived_at = await _reassigned_before_an_offline_arrival(runtime, clock)
    async with await technician(runtime, "tech-7") as tech7:
        synced = await tech7.post(
            "/v1/offline/batches",
            json=offline(
                [
                    ("c-1", arrived_at, {"type": "arrive"}),
                    ("c-2", arrived_at + timedelta(minutes=1), depart(clock)),
                ]
            ),
        )
        assert synced.status_code == 200, synced.text
    visit = await stored_visit(runtime, "v-1")
    assert (visit.state, visit.technician_id) == (VisitState.SCHEDULED, "tech-8")


async def test_a_technician_key_bound_to_no_technician_sees_no_visit_nobody_holds(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    # A technician key acts on its technician's visits only: one bound to none has none, not
    # the visits back at the centre (nobody holds them) with the customer's report.
    await order(runtime, "o-1")
    await deliver(runtime, returned(), clock.now)
    assert (await admin.get("/v1/visits/v-1")).json()["technician_id"] is None
    raw = generate_key()
    await deliver(
        runtime,
        issued_event(
            key_id=str(uuid.uuid4()),
            raw_key=raw,
            role="technician",
            name="unbound",
            network_id=None,
            technician_id=None,
            expires_at=None,
        ),
    )
    async with _client(runtime, raw) as unbound:
        assert (await unbound.get("/v1/visits/v-1")).status_code == 404
        assert (await unbound.get("/v1/visits/v-1/report.pdf")).status_code == 404
        assert await listed(unbound) == []
