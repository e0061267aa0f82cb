"""BIL-11 through the consumer handler, on SQLite and PostgreSQL: once billing says an order's
retention is over, nothing scheduling stores names the customer (its tables, the audit, the
copies kept for partner networks' webhooks), the API shows the order erased, what is heard
of the order later is stored (and published) erased too, and the order takes no command any
more (409 "Personal data erased", nothing changed)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from scheduling_support import (
    DONGYING,
    Harness,
    created,
    harness_with,
    local,
    near,
    repaired,
    window,
)
from sqlalchemy import select, update
from sqlmodel import col
from structlog.testing import capture_logs

from contracts.base import EventData
from contracts.billing import OrderRetentionExpired, RetentionClass
from contracts.common import Address, Channel, Customer
from contracts.envelope import EventEnvelope
from contracts.feedback import ComplaintFiled, RevisitRequested
from contracts.fieldwork import (
    CustomerNotHome,
    RepairFailed,
    RepairFailureReason,
    TechnicianDeparted,
)
from contracts.intake import (
    DuplicateLinked,
    OrderReopened,
    OrderResolvedRemotely,
    OrderVerified,
)
from scheduling.adapters.tables import SCHEDULING_REGISTRY, DispatchOrderRow
from servicekit.inbox import InboxMessage
from servicekit.migrations import kit_metadata
from servicekit.webhooks import WEBHOOK_REGISTRY
from servicekit.webhooks.tables import WebhookAttemptRow, WebhookDeliveryRow

NAME, PHONE, STREET = "王芳", "13800138000", "西四路100号"
"""What `created()` says of the customer: their name, phone and street address."""

# The outbox is left out: it holds scheduling's own events on their way to Kafka and deletes
# them `outbox_keep_published_hours` after publication, long before any retention ends.
STORED_TABLES = [
    table
    for metadata in (SCHEDULING_REGISTRY.metadata, WEBHOOK_REGISTRY.metadata, kit_metadata())
    for table in metadata.sorted_tables
    if table.name != "outbox"
]


async def _rows_naming_the_customer(h: Harness) -> dict[str, int]:
    """How many stored rows of each table hold the customer's name, phone or street."""
    found: dict[str, int] = {}
    async with h.runtime.session_factory() as session:
        for table in STORED_TABLES:
            for row in (await session.execute(select(table))).all():
                text = " ".join(str(value) for value in row)
                if any(personal in text for personal in (NAME, PHONE, STREET)):
                    found[table.name] = found.get(table.name, 0) + 1
    return found


def _expired(order_id: str) -> OrderRetentionExpired:
    return OrderRetentionExpired(
        order_id=order_id,
        retention_class=RetentionClass.PAID_WORK,
        ended_at=local(18) - timedelta(days=731),
        expired_at=local(18),
    )


def _verified(order_id: str) -> OrderVerified:
    return OrderVerified(
        order_id=order_id,
        verified=["address"],
        customer=Customer(
            name=NAME,
            phones=[f"+86{PHONE}"],
            address=Address(city="东营市", district="Dongying", detail=STREET, location=DONGYING),
        ),
    )


async def _network_with_webhook(h: Harness, *, area: str) -> None:
    """Network n1, serving ``area`` with every skill, subscribed to its webhooks."""
    assert (
        await h.client.post(
            "/v1/networks",
            json={"network_id": "n1", "name": "网点 n1", "skills": ["*"], "areas": [area]},
        )
    ).status_code == 201
    partner = await h.key("partner", network_id="n1")
    subscribed = await h.client.post(
        "/v1/webhooks/subscriptions", json={"url": "https://8.8.8.8/hook"}, headers=partner
    )
    assert subscribed.status_code == 201, subscribed.text


async def _worked_on_order(h: Harness) -> dict[str, Any]:
    """An order network n1 held, then technician t1, then n1 again, with what people wrote of
    the customer on the way: the verified customer (sent to n1's webhook), the reasons of the
    dispatcher's moves, a call note, a failed repair's detail; and n1's endpoint echoing it."""
    await _network_with_webhook(h, area="Dongying")
    await h.feed(created("o1"))
    assert (await h.order("o1"))["network_id"] == "n1"
    await h.feed(_verified("o1"))
    cancelled = await h.client.post(
        "/v1/orders/o1/assignment/cancellation",
        json={"reason": f"{NAME} wants our own technician, call {PHONE}"},
    )
    assert cancelled.status_code == 200, cancelled.text
    await h.add_technician("t1")
    assigned = await h.client.post(
        "/v1/orders/o1/assignment",
        json={"technician_id": "t1", "reason": f"{NAME} asked for t1"},
    )
    assert assigned.status_code == 200, assigned.text
    called = await h.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "no_answer", "note": f"{NAME} did not answer {PHONE}"},
    )
    assert called.status_code == 200, called.text
    order = await h.order("o1")
    await h.feed(
        RepairFailed(
            order_id="o1",
            visit_id=order["visit_id"],
            technician_id="t1",
            reason=RepairFailureReason.NEEDS_SECOND_VISIT,
            detail=f"{NAME} wants it done on Saturday",
        )
    )
    handed = await h.client.post(
        "/v1/orders/o1/assignment",
        json={"network_id": "n1", "reason": f"n1 is closer to {NAME}"},
    )
    assert handed.status_code == 200, handed.text
    async with h.runtime.session_factory() as session:
        delivery = (await session.execute(select(WebhookDeliveryRow).limit(1))).scalar_one()
        session.add(
            WebhookAttemptRow(
                id=str(uuid.uuid4()),
                delivery_id=delivery.id,
                owner_id="n1",
                subscription_id=delivery.subscription_id,
                attempted_at=h.clock.now,
                url="https://8.8.8.8/hook",
                status_code=500,
                response_excerpt=f"cannot store the order of {NAME}",
            )
        )
        await session.commit()
    return await h.order("o1")


async def test_bil_11_retention_over_erases_the_customer_from_everything_scheduling_stores(
    harness: Harness,
) -> None:
    h = harness
    before = await _worked_on_order(h)
    assert before["location"] is not None
    assert {"dispatch_order", "dispatch_audit", "webhook_message", "webhook_attempt"} <= set(
        await _rows_naming_the_customer(h)
    )

    await h.feed(_expired("o1"))

    assert await _rows_naming_the_customer(h) == {}
    order = await h.order("o1")
    assert order["anonymised_at"] == h.clock.now.isoformat().replace("+00:00", "Z")
    assert order["location"] is None
    assert [v["reason"] for v in order["visits"]] == [None, "work_unfinished: [erased]"]
    # not personal: kept for figures and the audit
    kept = ("order_id", "status", "area", "network_id", "assignee_kind", "received_at")
    assert {k: order[k] for k in kept} == {k: before[k] for k in kept}
    assert [v["visit_id"] for v in order["visits"]] == [v["visit_id"] for v in before["visits"]]
    audit = (await h.client.get("/v1/orders/o1/audit")).json()
    assert [(e["action"], e["reason"]) for e in audit] == [
        ("assign", "[erased]"),
        ("return_to_centre", "[erased]"),
        ("assign", "[erased]"),
        ("contact", "no_answer"),
        ("revisit", "work_unfinished: [erased]"),
        ("reassign", "[erased]"),
        ("personal_data_erased", "paid_work"),
    ]
    assert audit[2]["detail"]["technician_id"] == "t1"
    assert audit[-1]["actor"] == "billing"
    # n1 hears of it, so it erases its own copy
    partner = await h.key("partner", network_id="n1")
    deliveries = (await h.client.get("/v1/webhooks/deliveries", headers=partner)).json()
    assert "fsm.OrderRetentionExpired.v1" in {d["event_type"] for d in deliveries["items"]}


async def test_bil_11_heard_twice_the_erasure_changes_nothing(harness: Harness) -> None:
    h = harness
    await _worked_on_order(h)
    await h.feed(_expired("o1"))
    order, audit = await h.order("o1"), (await h.client.get("/v1/orders/o1/audit")).json()
    assert order["anonymised_at"] is not None and audit[-1]["action"] == "personal_data_erased"

    h.clock.advance(days=1)
    expired = EventEnvelope.wrap(_expired("o1"))
    await h.runtime.handle_event(expired)
    await h.runtime.handle_event(expired)  # redelivered
    await h.feed(_expired("o1"))  # published again

    assert await h.order("o1") == order
    assert (await h.client.get("/v1/orders/o1/audit")).json() == audit


async def test_bil_11_events_heard_after_the_erasure_store_nothing_personal(
    harness: Harness,
) -> None:
    h = harness
    await _worked_on_order(h)
    await h.feed(_expired("o1"))
    h.clock.advance(days=1)
    staged_before = len(await h.published())

    await h.feed(_verified("o1"))
    await h.feed(
        ComplaintFiled(
            order_id="o1",
            complaint_id="c1",
            channel=Channel.HOTLINE,
            description=f"{NAME} ({PHONE}) complains nobody came",
        )
    )
    await h.feed(
        RevisitRequested(order_id="o1", reason=f"{NAME} says it leaks again, call {PHONE}")
    )
    # nobody is sent out for the call-back (tested below); the order takes no command
    called = await h.client.post(
        "/v1/orders/o1/contact-attempts",
        json={"outcome": "no_answer", "note": f"{NAME} did not answer {PHONE}"},
    )
    assert called.status_code == 409, called.text

    assert await _rows_naming_the_customer(h) == {}
    order = await h.order("o1")
    assert order["location"] is None and order["anonymised_at"] is not None
    # what scheduling published meanwhile names nobody either
    staged = (await h.published())[staged_before:]
    assert not any(personal in repr(staged) for personal in (NAME, PHONE, STREET))


def _when(hour: int, *, day: int = 1) -> dict[str, str]:
    return {k: v.isoformat() for k, v in window(hour, day=day).model_dump().items()}


ORDER_COMMANDS: list[tuple[str, dict[str, Any] | None]] = [
    ("assignment", {"technician_id": "t2", "reason": f"{NAME} prefers t2"}),
    ("assignment", {"network_id": "n1", "reason": f"n1 is closer to {NAME}"}),
    ("assignment/cancellation", {"reason": f"{NAME} called it off"}),
    ("return", {"reason": "cannot_arrive_on_time", "detail": f"{NAME} lives too far"}),
    ("acceptance", None),
    ("rejection", {"reason": "nobody free"}),
    ("appointment", _when(10)),
    (
        "contact-attempts",
        {"outcome": "later_time", "window": _when(14), "note": f"call {PHONE} first"},
    ),
    ("contact-attempts", {"outcome": "no_answer", "note": f"{NAME} did not answer"}),
    (
        "reschedule",
        {**_when(16), "reason": f"{NAME} is out until 4 pm", "customer_consent": True},
    ),
    ("lateness/refusal", None),
    ("postponement", {"reason": f"{NAME} is away this week"}),
    (
        "relocation",
        {"location": {"lat": 37.5, "lon": 118.7}, "go_now": False, "customer_consent": True},
    ),
]
"""Every state-changing command on one order, each one it would otherwise take (or refuse for
its own reason): an erased order takes none of them."""


async def _everything_kept_of(h: Harness, order_id: str) -> tuple[Any, ...]:
    """What a command could change: the order, its audit, the events and webhook messages
    staged."""
    async with h.runtime.session_factory() as session:
        messages = (await session.execute(select(col(WebhookDeliveryRow.id)))).scalars().all()
    return (
        await h.order(order_id),
        (await h.client.get(f"/v1/orders/{order_id}/audit")).json(),
        await h.published(),
        sorted(messages),
    )


def _refused_as_erased(response: Any, *, at: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["title"] == "Personal data erased"
    assert problem["type"].endswith("/personal-data-erased")
    assert datetime.fromisoformat(problem["anonymised_at"]) == datetime.fromisoformat(at)
    assert "BIL-11" in problem["detail"] and "erased" in problem["detail"]


async def test_bil_11_an_erased_order_takes_no_command_409_personal_data_erased(
    harness: Harness,
) -> None:
    h = harness
    await h.add_technician("t1")
    await h.add_technician("t2")
    await h.feed(created("o1"))
    assigned = await h.client.post(
        "/v1/orders/o1/assignment", json={"technician_id": "t1", "reason": "closest"}
    )
    assert assigned.status_code == 200, assigned.text
    await h.feed(_expired("o1"))
    erased_at = (await h.order("o1"))["anonymised_at"]
    assert erased_at is not None
    h.clock.advance(minutes=5)
    before = await _everything_kept_of(h, "o1")

    for command, body in ORDER_COMMANDS:
        refused = await h.client.post(f"/v1/orders/o1/{command}", json=body)
        _refused_as_erased(refused, at=erased_at)
    # the windows one could book: none, and for the same reason
    _refused_as_erased(await h.client.get("/v1/orders/o1/slots"), at=erased_at)

    assert await _everything_kept_of(h, "o1") == before
    assert (await h.order("o1"))["technician_id"] == "t1"


async def test_bil_11_a_network_neither_accepts_nor_rejects_an_erased_order(
    harness: Harness,
) -> None:
    h = harness
    await _worked_on_order(h)
    assert (await h.order("o1"))["network_accepted_at"] is None
    await h.feed(_expired("o1"))
    erased_at = (await h.order("o1"))["anonymised_at"]
    before = await _everything_kept_of(h, "o1")
    n1 = await h.key("partner", network_id="n1")

    _refused_as_erased(await h.client.post("/v1/orders/o1/acceptance", headers=n1), at=erased_at)
    _refused_as_erased(
        await h.client.post("/v1/orders/o1/rejection", json={"reason": "x"}, headers=n1),
        at=erased_at,
    )
    # another network still cannot tell the order exists (404 before anything else)
    n2 = await h.key("partner", network_id="n2")
    assert (await h.client.post("/v1/orders/o1/acceptance", headers=n2)).status_code == 404

    assert await _everything_kept_of(h, "o1") == before
    assert (await h.order("o1"))["network_accepted_at"] is None


# -- nobody is sent out to an erased order (BIL-11, SCH-10, FBK-7, INT-4, INT-7, SCH-1) ----------

NOT_DISPATCHED = "scheduling.erased_order_not_dispatched"
"""The warning logged when a request for field work on an erased order is not acted upon."""

SENDING_OUT = {"OrderAssigned", "OrderReassigned", "RevisitBooked", "AppointmentBooked"}
"""Scheduling's events that send someone (a technician, a network) to the customer."""


async def _visit_over(h: Harness) -> dict[str, Any]:
    """o1, placed with technician t1 (the centre's) on arrival, its visit over."""
    await h.add_technician("t1")
    await h.feed(created("o1"))
    order = await h.order("o1")
    assert order["technician_id"] == "t1", order
    await h.feed(repaired("o1", visit_id=order["visit_id"], technician_id="t1"))
    order = await h.order("o1")
    assert order["status"] == "visit_done"
    return order


async def _call_back_not_solved(h: Harness) -> EventData:
    order = await _visit_over(h)
    return RevisitRequested(
        order_id="o1",
        previous_visit_id=order["visit_id"],
        reason=f"{NAME} says it leaks again",
        requested_by="feedback",
    )


async def _network_call_back_not_solved(h: Harness) -> EventData:
    # n1 holds the order and its webhook hears of everything about it
    await _worked_on_order(h)
    return RevisitRequested(order_id="o1", reason=f"{NAME} says it leaks again")


async def _guidance_failed(h: Harness) -> EventData:
    await h.add_technician("t1")
    await h.feed(created("o1"))
    await h.feed(OrderResolvedRemotely(order_id="o1", guidance="reset the breaker"))
    assert (await h.order("o1"))["status"] == "closed_remotely"
    return OrderReopened(order_id="o1", reason=f"{NAME}: still no hot water", visit_needed=True)


async def _emergency_reported(h: Harness) -> EventData:
    await _visit_over(h)
    return DuplicateLinked(
        order_id="o1",
        reported_at=h.clock.now,
        channel=Channel.HOTLINE,
        caller_phone=f"+86{PHONE}",
        fault_description="smells of gas",
        escalated_to_emergency=True,
    )


async def _verified_at_last(h: Harness) -> EventData:
    await h.add_technician("t1")
    await h.feed(created("o1", needs_verification=["address"]))
    assert (await h.order("o1"))["status"] == "awaiting_verification"
    return _verified("o1")


REQUESTS_FOR_FIELD_WORK: list[Any] = [
    pytest.param(_call_back_not_solved, id="revisit-requested"),
    pytest.param(_network_call_back_not_solved, id="revisit-requested-network-order"),
    pytest.param(_guidance_failed, id="order-reopened"),
    pytest.param(_emergency_reported, id="duplicate-escalated-to-emergency"),
    pytest.param(_verified_at_last, id="order-verified"),
]
"""Events that would (re)place the order for a visit, each after the setup that makes them."""


async def _processed(h: Harness, envelope: EventEnvelope) -> bool:
    """Whether the event is in scheduling's inbox: applied once, never retried."""
    async with h.runtime.session_factory() as session:
        return await session.get(InboxMessage, str(envelope.id)) is not None


def _not_dispatched(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [line for line in logs if line["event"] == NOT_DISPATCHED]


@pytest.mark.parametrize("setup", REQUESTS_FOR_FIELD_WORK)
async def test_bil_11_a_request_for_field_work_heard_after_the_erasure_sends_nobody_out(
    harness: Harness, setup: Callable[[Harness], Awaitable[EventData]]
) -> None:
    h = harness
    request = EventEnvelope.wrap(await setup(h))
    await h.feed(_expired("o1"))
    erased_at = (await h.order("o1"))["anonymised_at"]
    h.clock.advance(days=1)
    before = await _everything_kept_of(h, "o1")

    with capture_logs() as logs:
        await h.runtime.handle_event(request)
        await h.runtime.handle_event(request)  # redelivered: already processed

    # no revisit, no placement, nothing published or sent to a network's webhook
    assert await _everything_kept_of(h, "o1") == before
    [warning] = _not_dispatched(logs)
    assert warning["log_level"] == "warning"
    assert warning["order_id"] == "o1"
    assert warning["type"] == request.type
    assert datetime.fromisoformat(warning["anonymised_at"]) == datetime.fromisoformat(erased_at)
    # processed: in the inbox, so it is neither retried nor dead-lettered
    assert await _processed(h, request)


async def _repair_failed(h: Harness, order: dict[str, Any]) -> EventData:
    return RepairFailed(
        order_id="o1",
        visit_id=order["visit_id"],
        technician_id="t1",
        reason=RepairFailureReason.NEEDS_SECOND_VISIT,
        detail=f"{NAME} wants it done on Saturday",
    )


async def _customer_not_home(h: Harness, order: dict[str, Any]) -> EventData:
    return CustomerNotHome(
        order_id="o1",
        visit_id=order["visit_id"],
        technician_id="t1",
        arrived_at=h.clock.now,
        waited_minutes=5,
        phoned=True,
    )


@pytest.mark.parametrize(
    "report",
    [
        pytest.param(_repair_failed, id="repair-failed-second-visit-needed"),
        pytest.param(_customer_not_home, id="customer-not-home"),
    ],
)
async def test_bil_11_sch_10_a_visit_ended_after_the_erasure_books_no_next_visit(
    harness: Harness, report: Callable[[Harness, dict[str, Any]], Awaitable[EventData]]
) -> None:
    h = harness
    await h.add_technician("t1")
    await h.feed(created("o1"))
    order = await h.order("o1")
    assert order["technician_id"] == "t1"
    await h.feed(_expired("o1"))
    h.clock.advance(hours=1)
    staged_before = len(await h.published())
    ended = EventEnvelope.wrap(await report(h, order))

    with capture_logs() as logs:
        await h.runtime.handle_event(ended)

    # the visit is over, as fieldwork says; no next visit is booked for anyone
    after = await h.order("o1")
    assert after["status"] == "visit_done"
    assert [v["visit_id"] for v in after["visits"]] == [v["visit_id"] for v in order["visits"]]
    staged = (await h.published())[staged_before:]
    assert not [e.event_type for e in staged if e.event_type in SENDING_OUT]
    [warning] = _not_dispatched(logs)
    assert (warning["order_id"], warning["type"]) == ("o1", ended.type)
    assert await _processed(h, ended)


async def test_bil_11_sch_1_the_placement_retry_sweep_never_picks_an_erased_order(
    database_url: str, tmp_path: Path
) -> None:
    async with harness_with(database_url, tmp_path, booking_horizon_days=1) as h:
        await h.add_technician("t1", working_days=[0, 1, 2, 3, 4])  # Monday to Friday
        h.clock.now = local(10, day=5)  # Saturday: nobody to place it with, retried later
        await h.feed(created("o1"))
        assert (await h.order("o1"))["status"] == "awaiting_assignment"
        await h.feed(_expired("o1"))
        h.clock.now = local(9, day=7)  # Monday: t1 works

        assert await h.run_job("auto_placement") == 0

        # one erased before the sweep learnt to leave erased orders alone is left alone too
        async with h.runtime.session_factory() as session:
            await session.execute(
                update(DispatchOrderRow)
                .where(col(DispatchOrderRow.order_id) == "o1")
                .values(auto_placement_tried_at=local(10, day=5))
            )
            await session.commit()
        assert await h.run_job("auto_placement") == 0

        order = await h.order("o1")
        assert order["status"] == "awaiting_assignment" and order["technician_id"] is None
        assert await h.published("OrderAssigned") == []


async def test_bil_11_sch_4_a_day_plan_never_includes_an_erased_order(harness: Harness) -> None:
    h = harness
    await h.add_technician("t1")
    tomorrow = window(10, day=1)
    await h.feed(created("kept", preferred=[tomorrow]))
    await h.feed(created("o1", location=DONGYING, preferred=[window(14, day=1)]))
    assert [(await h.order(o))["technician_id"] for o in ("kept", "o1")] == ["t1", "t1"]
    await h.feed(_expired("o1"))

    planned = await h.client.post(
        f"/v1/plans/{tomorrow.start.date().isoformat()}/optimisation?time_limit=0.3"
    )

    assert planned.status_code == 200, planned.text
    plan = planned.json()
    assert [v["order_id"] for v in plan["visits"]] == ["kept"]
    assert "o1" not in plan["unassigned"]
    assert (await h.order("o1"))["planned_departure"] is None


# -- the sweeps leave an erased order alone (BIL-11, SCH-2, SCH-5, SCH-1) -----------------------


async def test_bil_11_sch_2_sch_5_the_contact_overdue_sweep_never_alerts_on_an_erased_order(
    harness: Harness,
) -> None:
    h = harness
    await h.add_technician("t1")
    h.clock.now = local(9)  # on shift: the 2 hours run from the assignment
    await h.feed(created("kept"))
    await h.feed(created("o1"))
    assert [(await h.order(o))["technician_id"] for o in ("kept", "o1")] == ["t1", "t1"]
    await h.feed(_expired("o1"))  # still assigned to t1 (its assignee is kept), never contacted
    before = await h.order("o1")
    h.clock.advance(hours=3)
    # the sweep's listing leaves it out (the order it locks is checked again as well)
    async with h.runtime.app.state.uow_factory() as uow:
        listed = await uow.orders.awaiting_contact(assigned_before=h.clock.now)
    assert [o.order_id for o in listed] == ["kept"]

    # only the order whose customer can still be called is overdue (SCH-2)
    assert await h.run_job("contact_overdue") == 1
    assert await h.run_job("contact_overdue") == 0

    assert [e.order_id for e in await h.published("ContactOverdue")] == ["kept"]
    assert (await h.order("kept"))["contact_overdue_at"] is not None
    assert await h.order("o1") == before
    assert before["contact_overdue_at"] is None and before["technician_id"] == "t1"


async def _deliveries(h: Harness) -> list[tuple[str, str]]:
    """The webhook messages staged for partner networks: (owner, event type), sorted."""
    async with h.runtime.session_factory() as session:
        rows = await session.execute(
            select(col(WebhookDeliveryRow.owner_id), col(WebhookDeliveryRow.event_type))
        )
        return sorted((str(owner), str(event_type)) for owner, event_type in rows.all())


async def test_bil_11_sch_1_the_network_acceptance_sweep_never_returns_an_erased_order(
    harness: Harness,
) -> None:
    h = harness
    await _network_with_webhook(h, area="*")
    h.clock.now = local(23)
    await h.feed(created("kept"))  # no own technician: given to n1 (SCH-1)
    await h.feed(created("o1"))
    assert [(await h.order(o))["network_id"] for o in ("kept", "o1")] == ["n1", "n1"]
    await h.feed(_expired("o1"))  # n1 never answered; it still holds the order
    before = await _everything_kept_of(h, "o1")
    staged_before = len(await h.published())
    delivered_before = await _deliveries(h)
    h.clock.now = local(9, 30, day=1)  # both past their time to answer
    # the sweep's listing leaves it out (the order it locks is checked again as well)
    async with h.runtime.app.state.uow_factory() as uow:
        listed = await uow.orders.awaiting_network_answer(
            due_by=h.clock.now, unrecorded_given_before=h.clock.now
        )
    assert [o.order_id for o in listed] == ["kept"]

    # only the order the centre can still place comes back to it (SCH-1)
    assert await h.run_job("network_acceptance") == 1
    assert await h.run_job("network_acceptance") == 0

    staged = (await h.published())[staged_before:]
    assert [(type(e).__name__, e.order_id) for e in staged] == [("OrderReturnedToCentre", "kept")]
    assert (await h.order("kept"))["status"] == "awaiting_assignment"
    # n1 hears that it lost the other one (withdrawn), and nothing about the erased one
    assert await _deliveries(h) == sorted([*delivered_before, ("n1", "fsm.OrderWithdrawn.v1")])
    order = await h.order("o1")
    assert (order["status"], order["network_id"]) == ("assigned", "n1")
    assert order["acceptance_due_at"] == before[0]["acceptance_due_at"]
    assert (await h.client.get("/v1/orders/o1/audit")).json() == before[1]


# -- the lateness forecast warns nobody of an erased order (BIL-11, SCH-6, SCH-7) ---------------


async def _ping(h: Harness, **body: Any) -> list[dict[str, Any]]:
    """t1 reports being 20 km north of the customers (≈ 52 minutes' drive)."""
    tech = await h.key("technician", technician_id="t1")
    pinged = await h.client.post(
        "/v1/technicians/t1/position",
        json={"position": near(DONGYING, north_km=20).model_dump(mode="json"), **body},
        headers=tech,
    )
    assert pinged.status_code == 200, pinged.text
    return list(pinged.json())


async def test_bil_11_sch_7_a_position_ping_raises_no_arrival_late_for_an_erased_order_not_started(
    harness: Harness,
) -> None:
    h = harness
    await h.add_technician("t1")
    await h.feed(created("o1", preferred=[window(10, hours=1)]))  # 10:00-11:00, first
    await h.feed(created("kept", preferred=[window(11, hours=1)]))  # 11:00-12:00, next door
    assert [(await h.order(o))["technician_id"] for o in ("o1", "kept")] == ["t1", "t1"]
    await h.feed(_expired("o1"))  # still assigned to t1, but nobody goes there any more
    before = await h.order("o1")
    h.clock.now = local(10, 40)

    # the technician's own ETA "for the next job" names the erased one: it tells nothing of
    # when they reach the next job they will do
    jobs = await _ping(h, eta=local(11, 20).isoformat(), order_id="o1")

    # no apology or gift for a customer nobody can name (SCH-7) ...
    assert await h.published("ArrivalLate") == []
    assert await h.order("o1") == before
    # ... and the job nobody will do takes no time from the next one: 52 minutes' drive from
    # the ping, not after o1's job as well (which would make it late)
    assert [j["order_id"] for j in jobs] == ["kept"]
    kept = await h.order("kept")
    arrival = datetime.fromisoformat(kept["predicted_arrival"])
    assert (
        local(11, 25) < arrival < local(11, 40) < datetime.fromisoformat(kept["appointment"]["end"])
    )


async def test_bil_11_sch_7_an_erased_order_under_way_counts_in_the_day_but_warns_nobody(
    harness: Harness,
) -> None:
    h = harness
    await h.add_technician("t1")
    await h.feed(created("o1", preferred=[window(10, hours=1)]))  # 10:00-11:00, first
    await h.feed(created("kept", preferred=[window(11, hours=1)]))  # 11:00-12:00, next door
    await h.feed(_expired("o1"))
    h.clock.now = local(10)
    o1 = await h.order("o1")
    # fieldwork says t1 left for it anyway, 20 minutes late by their own estimate (SCH-6)
    await h.feed(
        TechnicianDeparted(
            order_id="o1", visit_id=o1["visit_id"], technician_id="t1", eta=local(11, 20)
        )
    )
    assert (await h.order("o1"))["status"] == "en_route"
    assert await h.published("ArrivalLate") == []
    h.clock.now = local(10, 40)

    # (its address erased, the drive there is known only from the technician's own ETA)
    jobs = await _ping(h, eta=local(11, 20).isoformat(), order_id="o1")

    # t1 is driving there: the job still fills their day (11:20-12:20), and the next customer,
    # whom it makes late, is warned (SCH-7); o1's customer is not
    assert [j["order_id"] for j in jobs] == ["o1", "kept"]
    erased = await h.order("o1")
    assert datetime.fromisoformat(erased["predicted_arrival"]) == local(11, 20)
    async with h.runtime.app.state.uow_factory() as uow:
        stored = await uow.orders.get("o1")
    assert stored is not None
    assert (stored.late_action_sent, stored.visit.late_minutes_told) == (None, None)
    late = await h.published("ArrivalLate")
    assert [e.order_id for e in late] == ["kept"]
    assert late[0].expected_arrival > local(12, 20)
