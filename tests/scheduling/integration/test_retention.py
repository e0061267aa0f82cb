"""BIL-11 through the consumer handler, on SQLite and PostgreSQL: once billing says an order's
retention is over, nothing scheduling stores names the customer (its tables, the audit, the
copies kept for partner networks' webhooks), the API shows the order erased, and what is heard
of the order later is stored (and published) erased too."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from scheduling_support import DONGYING, Harness, created, local, window
from sqlalchemy import select

from contracts.billing import OrderRetentionExpired, RetentionClass
from contracts.common import Address, Channel, Customer
from contracts.envelope import EventEnvelope
from contracts.feedback import ComplaintFiled, RevisitRequested
from contracts.fieldwork import RepairFailed, RepairFailureReason
from contracts.intake import OrderVerified
from scheduling.adapters.tables import SCHEDULING_REGISTRY
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


async def _worked_on_order(h: Harness) -> dict[str, Any]:
    """An order network n1 held, then technician t1, then n1 again, with what people wrote of
    the customer on the way: the verified customer (sent to n1's webhook), the reasons of the
    dispatcher's moves, a call note, a failed repair's detail; and n1's endpoint echoing it."""
    assert (
        await h.client.post(
            "/v1/networks",
            json={"network_id": "n1", "name": "网点 n1", "skills": ["*"], "areas": ["Dongying"]},
        )
    ).status_code == 201
    partner = await h.key("partner", network_id="n1")
    subscribed = await h.client.post(
        "/v1/webhooks/subscriptions", json={"url": "https://8.8.8.8/hook"}, headers=partner
    )
    assert subscribed.status_code == 201, subscribed.text
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
    # the revisit went to t1 (the area is kept), who calls the customer about it
    assert (await h.order("o1"))["technician_id"] == "t1"
    called = await h.client.post(
        "/v1/orders/o1/contact-attempts",
        json={
            "outcome": "later_time",
            "window": {k: v.isoformat() for k, v in window(10, day=1).model_dump().items()},
            "note": f"{NAME} is home tomorrow, call {PHONE} first",
        },
    )
    assert called.status_code == 200, called.text

    assert await _rows_naming_the_customer(h) == {}
    order = await h.order("o1")
    assert order["location"] is None and order["anonymised_at"] is not None
    assert order["visits"][-1]["reason"] == "customer_dissatisfied: [erased]"
    # what scheduling published meanwhile names nobody either
    staged = (await h.published())[staged_before:]
    [rescheduled] = [e for e in staged if e.event_type == "AppointmentRescheduled"]
    assert rescheduled.reason == "[erased]"
    assert not any(personal in repr(staged) for personal in (NAME, PHONE, STREET))
