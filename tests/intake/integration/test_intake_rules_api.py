"""Rules INT-1..INT-8 over intake's REST API, on SQLite and PostgreSQL.

The fixtures (conftest.py) give a runtime whose domain clock the test moves: Friday 2025-05-30,
10:00 in Shanghai, the day before the Dragon Boat Festival holiday (Sat 31 May - Mon 2 June).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from contracts.common import AssigneeKind, TimeWindow
from contracts.fieldwork import TechnicianArrived
from contracts.intake import (
    DuplicateLinked,
    OrderCancelled,
    OrderCreated,
    OrderReopened,
    OrderResolvedRemotely,
    OrderVerified,
    SlaBreached,
    SlaBreachWithdrawn,
    SlaClock,
)
from contracts.scheduling import AppointmentConfirmed, AppointmentRescheduled, OrderAssigned
from intake.bootstrap import bootstrap
from intake.settings import IntakeSettings

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def _clock(order: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in order["sla_clocks"] if c["clock"] == name)


def _due(order: dict[str, Any], name: str) -> datetime:
    return datetime.fromisoformat(_clock(order, name)["due_at"]).astimezone(SHANGHAI)


# INT-1 ---------------------------------------------------------------------------------------


async def test_int_1_business_customer_windows_fault_code_and_channel_are_recorded(
    intake: Any, make_order: Any
) -> None:
    body = make_order(
        customer={
            "name": "东营宾馆",
            "organisation": "东营宾馆有限公司",
            "contact_person": "李经理",
            "phone": "0546-8221234",
            "phones": ["13905461234"],
            "address": {
                "province": "山东省",
                "city": "东营市",
                "district": "东营区",
                "street": "济南路",
                "detail": "88号",
                "lat": 37.43,
                "lon": 118.67,
                "public_area": True,
            },
        },
        fault={"description": "热水器不出热水", "code": "E1"},
        requests="请先电话联系李经理",
        preferred_windows=[
            {"start": "2025-06-03T09:00:00+08:00", "end": "2025-06-03T11:00:00+08:00"}
        ],
        channel="web",
    )
    response = await intake.admin.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["customer"]["organisation"] == "东营宾馆有限公司"
    assert order["customer"]["contact_person"] == "李经理"
    assert order["customer"]["phones"] == ["+865468221234", "+8613905461234"]
    assert order["customer"]["address"]["location"] == {"lat": 37.43, "lon": 118.67}
    assert order["customer"]["address"]["public_area"] is True
    assert order["fault"]["code"] == "E1"
    assert order["channel"] == "web"
    assert order["needs_verification"] == []
    [created] = await intake.events("OrderCreated")
    assert created.customer.organisation == "东营宾馆有限公司"
    assert created.customer.address.public_area is True  # FLD-15 needs it in fieldwork
    assert created.service_type == "repair"  # the default
    assert created.preferred_windows == [
        TimeWindow(start=_at("2025-06-03T09:00:00"), end=_at("2025-06-03T11:00:00"))
    ]
    assert created.channel == "web"


async def test_fbk_4_a_walk_in_order_names_the_desk_clerk_who_took_it(
    intake: Any, make_order: Any
) -> None:
    clerk = await intake.as_role("agent")
    response = await clerk.post("/v1/orders", json=make_order(channel="walk_in"))
    assert response.status_code == 201, response.text
    [created] = await intake.events("OrderCreated")
    # Feedback samples desk business per clerk (FBK-4): the event says who took the request.
    assert created.channel == "walk_in"
    assert created.taken_by == "agent 0"


async def test_int_1_an_installation_order_says_so_to_every_service(
    intake: Any, make_order: Any
) -> None:
    body = make_order(service_type="installation", fault={"description": "新购热水器安装"})
    response = await intake.admin.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["service_type"] == "installation"
    fetched = await intake.admin.get(f"/v1/orders/{response.json()['id']}")
    assert fetched.json()["service_type"] == "installation"  # stored, not only published
    [created] = await intake.events("OrderCreated")
    assert created.service_type == "installation"
    unknown = await intake.admin.post("/v1/orders", json=make_order(service_type="demolition"))
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_int_1_an_organisation_without_contact_person_must_be_verified(
    intake: Any, make_order: Any
) -> None:
    body = make_order()
    body["customer"]["organisation"] = "东营宾馆有限公司"
    order = (await intake.admin.post("/v1/orders", json=body)).json()
    assert order["needs_verification"] == ["customer.contact_person"]


# INT-2 ---------------------------------------------------------------------------------------


async def test_int_2_verify_completes_the_missing_details_and_publishes_order_verified(
    intake: Any, make_order: Any
) -> None:
    body = make_order(product={"line": "water_heater"})
    order = (await intake.admin.post("/v1/orders", json=body)).json()
    assert order["needs_verification"] == ["product.model", "product.purchase_date"]
    assert order["awaiting_verification"] is True
    assert order["warranty_status"] == "unknown"

    verified = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify",
        json={
            "product": {"line": "water_heater", "model": "JSQ24-12", "purchase_date": "2024-09-01"}
        },
    )
    assert verified.status_code == 200, verified.text
    out = verified.json()
    assert out["status"] == "verified"
    assert out["needs_verification"] == []
    assert out["awaiting_verification"] is False
    assert out["warranty_status"] == "in_warranty"  # INT-5: recomputed on verification
    [event] = await intake.events("OrderVerified")
    assert isinstance(event, OrderVerified)
    assert event.verified == ["product.model", "product.purchase_date"]
    assert event.product is not None and event.product.model == "JSQ24-12"
    assert event.dispatch_override is False
    assert [e["type"] for e in out["timeline"]] == ["OrderCreated", "OrderVerified"]


async def test_int_2_details_still_missing_are_refused_naming_them(
    intake: Any, make_order: Any
) -> None:
    order = (
        await intake.admin.post("/v1/orders", json=make_order(product={"line": "water_heater"}))
    ).json()
    response = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify",
        json={"product": {"line": "water_heater", "model": "JSQ24-12"}},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["product.purchase_date"]
    assert await intake.events("OrderVerified") == []
    confirmed = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify",
        json={
            "product": {"line": "water_heater", "model": "JSQ24-12"},
            "confirmed": ["product.purchase_date"],
        },
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["needs_verification"] == []


async def test_int_2_only_a_dispatcher_may_release_an_unverified_order(
    intake: Any, make_order: Any
) -> None:
    agent = await intake.as_role("agent")
    dispatcher = await intake.as_role("dispatcher")
    order = (
        await agent.post("/v1/orders", json=make_order(product={"line": "water_heater"}))
    ).json()

    refused = await agent.post(f"/v1/orders/{order['id']}/verify", json={"dispatch_override": True})
    assert refused.status_code == 403
    released = await dispatcher.post(
        f"/v1/orders/{order['id']}/verify", json={"dispatch_override": True}
    )
    assert released.status_code == 200, released.text
    assert released.json()["dispatch_override"] is True
    assert released.json()["awaiting_verification"] is False
    [event] = await intake.events("OrderVerified")
    assert event.dispatch_override is True
    assert event.overridden_by
    assert event.unverified == ["product.model", "product.purchase_date"]


async def test_int_2_the_needs_verification_list_shows_only_orders_waiting(
    intake: Any, make_order: Any
) -> None:
    waiting = (
        await intake.admin.post("/v1/orders", json=make_order(product={"line": "water_heater"}))
    ).json()
    body = make_order()
    body["customer"]["phone"] = "13900000001"
    await intake.admin.post("/v1/orders", json=body)
    page = (await intake.admin.get("/v1/orders", params={"needs_verification": "true"})).json()
    assert [o["id"] for o in page["items"]] == [waiting["id"]]


async def test_int_2_verify_is_refused_once_the_visit_is_under_way(
    intake: Any, make_order: Any
) -> None:
    from contracts.fieldwork import TechnicianArrived

    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    intake.clock.advance(minutes=5)
    fields = {"order_id": order["id"], "visit_id": "v-1", "technician_id": "t-1"}
    await intake.deliver(TechnicianArrived.model_validate({**fields, "arrived_at": intake.clock()}))
    response = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify", json={"confirmed": ["customer.address"]}
    )
    assert response.status_code == 409
    assert response.json()["current_status"] == "on_site"
    assert "received" in response.json()["allowed_statuses"]


async def test_int_2_an_address_of_blank_parts_is_stored_as_missing_and_flagged(
    intake: Any, make_order: Any
) -> None:
    body = make_order()
    body["customer"]["address"] = {"street": "   ", "city": " ", "detail": "\t"}
    response = await intake.admin.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["needs_verification"] == ["customer.address"]
    assert order["awaiting_verification"] is True
    address = order["customer"]["address"]
    assert [address[p] for p in ("province", "city", "district", "street", "detail")] == [None] * 5


async def test_int_2_purchase_dates_before_the_policy_floor_are_flagged_not_refused(
    intake: Any, make_order: Any
) -> None:
    # three customers, so that no order is a duplicate of another (INT-8)
    for ancient, phone in (("0001-01-01", "13800138000"), ("1900-01-01", "13900139000")):
        body = make_order()
        body["customer"]["phone"] = phone
        body["product"]["purchase_date"] = ancient
        response = await intake.admin.post("/v1/orders", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["needs_verification"] == ["product.purchase_date"], ancient
        assert response.json()["awaiting_verification"] is True
    body = make_order()
    body["customer"]["phone"] = "13700137000"
    body["product"]["purchase_date"] = "1995-05-30"  # 30 years before the order, to the day
    assert (await intake.admin.post("/v1/orders", json=body)).json()["needs_verification"] == []
    created = await intake.events("OrderCreated")
    assert [e.needs_verification for e in created] == [
        ["product.purchase_date"],
        ["product.purchase_date"],
        [],
    ]


async def test_int_2_an_installation_before_the_purchase_is_flagged_and_can_be_confirmed(
    intake: Any, make_order: Any
) -> None:
    body = make_order()
    body["product"]["installation_date"] = "2025-02-01"  # purchased 2025-03-01
    response = await intake.admin.post("/v1/orders", json=body)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["needs_verification"] == ["product.installation_date"]
    confirmed = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify", json={"confirmed": ["product.installation_date"]}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["needs_verification"] == []
    [event] = await intake.events("OrderVerified")
    assert event.verified == ["product.installation_date"]


async def test_int_2_a_product_date_after_the_business_day_is_refused_by_intakes_clock(
    intake: Any, make_order: Any
) -> None:
    for field in ("purchase_date", "installation_date"):
        body = make_order()
        body["product"][field] = "2025-05-31"  # tomorrow for intake's clock (Fri 30 May)
        response = await intake.admin.post("/v1/orders", json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [f"product.{field}"]
    assert await intake.order_count() == 0
    body = make_order()
    body["product"]["purchase_date"] = "2025-05-30"
    order = (await intake.admin.post("/v1/orders", json=body)).json()
    assert order["needs_verification"] == []
    refused = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify",
        json={"product": {**body["product"], "purchase_date": "2025-05-31"}},
    )
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["product.purchase_date"]
    assert await intake.events("OrderVerified") == []


async def test_int_2_a_future_date_is_judged_on_the_policy_calendars_day(
    database_url: str, clock: Any, make_order: Any, tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("calendar:\n  timezone: UTC\n", encoding="utf-8")
    clock.now = datetime(2025, 5, 29, 17, 0, tzinfo=UTC)  # 30 May 01:00 in Shanghai
    admin_key = "intake-admin-key-utc-calendar-0123"
    runtime = bootstrap(
        IntakeSettings(
            database_url=database_url,
            bootstrap_api_key=admin_key,
            run_consumer=False,
            run_relay=False,
            run_periodic_jobs=False,
            policy_file=policy_file,
        ),
        clock=clock,
    )
    await runtime.migrate()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=runtime.app),
            base_url="http://intake",
            headers={"Authorization": f"Bearer {admin_key}"},
        ) as admin:
            body = make_order()
            body["product"]["purchase_date"] = "2025-05-30"  # tomorrow on a UTC calendar
            response = await admin.post("/v1/orders", json=body)
            assert response.status_code == 422, response.text
            assert [e["field"] for e in response.json()["errors"]] == ["product.purchase_date"]
            body["product"]["purchase_date"] = "2025-05-29"
            assert (await admin.post("/v1/orders", json=body)).status_code == 201
    finally:
        await runtime.engine.dispose()


async def test_int_2_preferred_windows_out_of_range_are_refused_and_nothing_is_stored(
    intake: Any, make_order: Any
) -> None:
    # The clock is Friday 2025-05-30 10:00 in Shanghai.
    refused = {
        # the audit's: windows at year 1 and 9999 (no UTC value) that scheduling cannot place
        ("0001-01-01T00:30:00+08:00", "2025-05-31T12:00:00+08:00"): "preferred_windows.0",
        ("2025-05-31T09:00:00+08:00", "9999-12-31T23:00:00-05:00"): "preferred_windows.0",
        ("9999-12-31T20:00:00-05:00", "9999-12-31T23:00:00-05:00"): "preferred_windows.0.start",
        ("2025-05-30T07:00:00+08:00", "2025-05-30T09:00:00+08:00"): "preferred_windows.0.end",
        ("2025-07-30T09:00:00+08:00", "2025-07-30T11:00:00+08:00"): "preferred_windows.0.start",
        ("2025-06-03T09:00:00+08:00", "2025-07-03T09:00:00+08:00"): "preferred_windows.0",
        ("2025-06-03T11:00:00+08:00", "2025-06-03T09:00:00+08:00"): "preferred_windows.0",
    }
    for (start, end), field in refused.items():
        body = make_order(preferred_windows=[{"start": start, "end": end}])
        response = await intake.admin.post("/v1/orders", json=body)
        assert response.status_code == 422, (start, end, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field], (start, end)
    good = {"start": "2025-06-03T09:00:00+08:00", "end": "2025-06-03T11:00:00+08:00"}
    over = {"start": "2025-05-29T09:00:00+08:00", "end": "2025-05-29T11:00:00+08:00"}
    second = await intake.admin.post("/v1/orders", json=make_order(preferred_windows=[good, over]))
    assert second.status_code == 422
    assert [e["field"] for e in second.json()["errors"]] == ["preferred_windows.1.end"]
    assert await intake.order_count() == 0
    assert await intake.events() == []


async def test_int_2_preferred_windows_within_the_policy_are_taken(
    intake: Any, make_order: Any
) -> None:
    windows = [
        # typed as the call ended, 10 minutes ago: within the 15-minute grace
        {"start": "2025-05-30T09:00:00+08:00", "end": "2025-05-30T09:50:00+08:00"},
        {"start": "2025-05-30T09:00:00+08:00", "end": "2025-05-30T12:00:00+08:00"},
        {"start": "2025-06-03T00:00:00+08:00", "end": "2025-06-04T00:00:00+08:00"},  # whole day
        {"start": "2025-07-29T09:00:00+08:00", "end": "2025-07-29T11:00:00+08:00"},  # 60 days
    ]
    response = await intake.admin.post("/v1/orders", json=make_order(preferred_windows=windows))
    assert response.status_code == 201, response.text
    [created] = await intake.events("OrderCreated")
    assert len(created.preferred_windows) == 4


# INT-3 ---------------------------------------------------------------------------------------


async def test_int_3_friday_1750_before_a_holiday_gets_its_reply_deadline_next_working_day(
    intake: Any, make_order: Any
) -> None:
    intake.clock.now = _at("2025-05-30T17:50:00")  # Friday; Sat-Mon is the Dragon Boat holiday
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    calendar = intake.runtime.calendar
    assert not calendar.is_working_day(_at("2025-06-02T12:00:00").date())  # holiday Monday
    # 10 minutes on Friday, 7 h 50 min on Tuesday 3 June (the next working day).
    assert _due(order, "reply") == _at("2025-06-03T16:50:00")
    assert _due(order, "handover") == _at("2025-06-03T09:50:00")
    assert _due(order, "reply") == calendar.add_working_time(intake.clock(), timedelta(hours=8))


async def test_int_3_a_breached_clock_publishes_sla_breached_once(
    intake: Any, make_order: Any
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    check = intake.runtime.app.state.check_sla_clocks
    assert await check() == 0
    intake.clock.advance(minutes=61)  # 10:00 -> 11:01: hand-over (1 working hour) is late
    assert await check() == 1
    assert await check() == 0
    [breach] = await intake.events("SlaBreached")
    assert isinstance(breach, SlaBreached)
    assert breach.clock is SlaClock.HANDOVER
    assert breach.due_at == _at("2025-05-30T11:00:00")
    read = (await intake.admin.get(f"/v1/orders/{order['id']}")).json()
    assert _clock(read, "handover")["breached_at"] is not None
    assert "SlaBreached" in [e["type"] for e in read["timeline"]]


async def test_int_3_a_clock_is_breached_only_after_its_due_time_and_met_exactly_at_it(
    intake: Any, make_order: Any
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    check = intake.runtime.app.state.check_sla_clocks
    intake.clock.now = _due(order, "handover")  # 11:00, exactly one working hour later
    assert await check() == 0  # "within 1 hour": the hour itself is in time
    intake.clock.advance(microseconds=1)
    assert await check() == 1
    [breach] = await intake.events("SlaBreached")
    assert isinstance(breach, SlaBreached) and breach.clock is SlaClock.HANDOVER

    other = (
        await intake.admin.post(
            "/v1/orders",
            json=make_order(customer={**make_order()["customer"], "phone": "13900139000"}),
        )
    ).json()
    intake.clock.now = _due(other, "handover")
    assert await check() == 0
    await intake.deliver(
        OrderAssigned(
            order_id=other["id"],
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="t-1",
            assigned_by="dispatcher-1",
        )
    )
    intake.clock.advance(days=10)
    await check()
    read = (await intake.admin.get(f"/v1/orders/{other['id']}")).json()
    handover = _clock(read, "handover")
    assert datetime.fromisoformat(handover["stopped_at"]) == _due(other, "handover")
    assert handover["breached_at"] is None
    assert [
        b.order_id for b in await intake.events("SlaBreached") if b.clock is SlaClock.HANDOVER
    ] == [order["id"]]
    assert await intake.events("SlaBreachWithdrawn") == []


async def test_int_3_assignment_and_confirmed_appointment_stop_the_clocks(
    intake: Any, make_order: Any
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    intake.clock.advance(minutes=30)
    await intake.deliver(
        OrderAssigned(
            order_id=order["id"],
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="t-1",
            assigned_by="dispatcher-1",
        )
    )
    intake.clock.advance(minutes=60)
    window = TimeWindow(start=_at("2025-06-03T09:00:00"), end=_at("2025-06-03T11:00:00"))
    await intake.deliver(
        AppointmentConfirmed(
            order_id=order["id"], visit_id="v-1", window=window, technician_id="t-1"
        )
    )
    intake.clock.advance(days=10)
    assert await intake.runtime.app.state.check_sla_clocks() == 0
    read = (await intake.admin.get(f"/v1/orders/{order['id']}")).json()
    assert read["status"] == "appointment_confirmed"
    assert _clock(read, "handover")["stopped_at"] is not None
    assert _clock(read, "reply")["stopped_at"] is not None


async def test_int_3_an_appointment_the_customer_never_heard_of_is_no_reply(
    intake: Any, make_order: Any
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    window = TimeWindow(start=_at("2025-06-03T09:00:00"), end=_at("2025-06-03T11:00:00"))
    await intake.deliver(
        AppointmentConfirmed(
            order_id=order["id"],
            visit_id="v-1",
            window=window,
            technician_id="t-1",
            customer_reached=False,
        )
    )
    intake.clock.advance(days=10)
    await intake.runtime.app.state.check_sla_clocks()
    assert SlaClock.REPLY in [b.clock for b in await intake.events("SlaBreached")]


async def test_int_3_a_reschedule_the_customer_agreed_to_is_the_reply(
    intake: Any, make_order: Any
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    first = TimeWindow(start=_at("2025-06-03T09:00:00"), end=_at("2025-06-03T11:00:00"))
    fields = {"order_id": order["id"], "visit_id": "v-1", "technician_id": "t-1"}
    await intake.deliver(
        AppointmentConfirmed.model_validate({**fields, "window": first, "customer_reached": False}),
        at=intake.clock() + timedelta(hours=1),
    )
    agreed_at = intake.clock() + timedelta(hours=2)
    await intake.deliver(
        AppointmentRescheduled(
            order_id=order["id"],
            visit_id="v-1",
            old_window=first,
            new_window=TimeWindow(start=_at("2025-06-04T09:00:00"), end=_at("2025-06-04T11:00:00")),
            reason="客户回电，改约周三",
            requested_by="customer",
            customer_consent=True,
        ),
        at=agreed_at,
    )
    intake.clock.advance(days=10)
    await intake.runtime.app.state.check_sla_clocks()
    assert SlaClock.REPLY not in [b.clock for b in await intake.events("SlaBreached")]
    read = (await intake.admin.get(f"/v1/orders/{order['id']}")).json()
    assert datetime.fromisoformat(_clock(read, "reply")["stopped_at"]) == agreed_at


async def test_int_3_int_7_an_arrival_logged_offline_stops_the_clocks_at_the_arrival(
    intake: Any, make_order: Any
) -> None:
    body = make_order(fault={"description": "燃气泄漏味道很大", "code": "gas_leak"})
    order = (await intake.admin.post("/v1/orders", json=body)).json()
    arrived = intake.clock() + timedelta(minutes=10)  # no signal on site: synced 30 min later
    await intake.deliver(
        TechnicianArrived(
            order_id=order["id"], visit_id="v-1", technician_id="t-1", arrived_at=arrived
        ),
        at=arrived + timedelta(minutes=30),
    )
    intake.clock.advance(minutes=41)
    assert await intake.runtime.app.state.check_sla_clocks() == 0
    read = (await intake.admin.get(f"/v1/orders/{order['id']}")).json()
    for name in ("emergency_on_site", "handover", "reply"):
        assert datetime.fromisoformat(_clock(read, name)["stopped_at"]) == arrived


async def test_int_7_a_breach_an_arrival_synced_late_disproves_is_withdrawn(
    intake: Any, make_order: Any
) -> None:
    body = make_order(fault={"description": "燃气泄漏味道很大", "code": "gas_leak"})
    order = (await intake.admin.post("/v1/orders", json=body)).json()
    taken = intake.clock()
    arrived = taken + timedelta(minutes=12)  # on site in time, but no signal there
    intake.clock.advance(minutes=16)
    assert await intake.runtime.app.state.check_sla_clocks() == 1
    [breach] = await intake.events("SlaBreached")
    assert breach.clock is SlaClock.EMERGENCY_ON_SITE
    await intake.deliver(
        TechnicianArrived(
            order_id=order["id"], visit_id="v-1", technician_id="t-1", arrived_at=arrived
        ),
        at=taken + timedelta(minutes=30),
    )
    [withdrawn] = await intake.events("SlaBreachWithdrawn")
    assert isinstance(withdrawn, SlaBreachWithdrawn)
    assert (withdrawn.order_id, withdrawn.clock) == (order["id"], SlaClock.EMERGENCY_ON_SITE)
    assert (withdrawn.met_at, withdrawn.breached_at) == (arrived, breach.breached_at)
    read = (await intake.admin.get(f"/v1/orders/{order['id']}")).json()
    on_site = _clock(read, "emergency_on_site")
    assert on_site["breached_at"] is None
    assert datetime.fromisoformat(on_site["stopped_at"]) == arrived
    intake.clock.advance(hours=2)
    assert await intake.runtime.app.state.check_sla_clocks() == 0  # never reported again
    assert len(await intake.events("SlaBreachWithdrawn")) == 1


# INT-4 ---------------------------------------------------------------------------------------


async def test_int_4_resolved_remotely_then_reopened_for_a_visit(
    intake: Any, make_order: Any
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    resolved = await intake.admin.post(
        f"/v1/orders/{order['id']}/resolve-remotely",
        json={"cause": "misuse", "guidance": "燃气阀未打开，已指导打开"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["status"] == "resolved_remotely"
    assert _clock(resolved.json(), "reply")["stopped_at"] is not None  # a remote solution replies
    [event] = await intake.events("OrderResolvedRemotely")
    assert isinstance(event, OrderResolvedRemotely)
    assert event.call_back_due_at == intake.clock() + timedelta(hours=2)  # FBK-1, working hours

    intake.clock.advance(hours=3)
    reopened = await intake.admin.post(
        f"/v1/orders/{order['id']}/reopen", json={"reason": "按指导操作后仍无法点火"}
    )
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["status"] == "received"
    assert _clock(reopened.json(), "reply")["stopped_at"] is None  # a new promise
    [reopen] = await intake.events("OrderReopened")
    assert isinstance(reopen, OrderReopened) and reopen.visit_needed

    again = await intake.admin.post(f"/v1/orders/{order['id']}/reopen", json={"reason": "x"})
    assert again.status_code == 409
    assert again.json()["allowed_statuses"] == ["resolved_remotely"]


async def test_int_4_fbk_1_a_call_back_after_hours_is_due_in_the_next_working_hours(
    intake: Any, make_order: Any
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    intake.clock.advance(hours=7, minutes=30)  # Friday 17:30, before the Dragon Boat holiday
    resolved = await intake.admin.post(
        f"/v1/orders/{order['id']}/resolve-remotely",
        json={"cause": "misuse", "guidance": "燃气阀未打开，已指导打开"},
    )
    assert resolved.status_code == 200, resolved.text
    [event] = await intake.events("OrderResolvedRemotely")
    assert isinstance(event, OrderResolvedRemotely)
    # As feedback schedules it: 30 working minutes on Friday, 90 on Tuesday after the holiday
    assert event.call_back_due_at == _at("2025-06-03T10:30:00")


async def _gas_leak_resolved_by_phone(intake: Any, make_order: Any) -> dict[str, Any]:
    """A gas-leak emergency resolved by phone two minutes after it was taken; the order."""
    body = make_order(fault={"description": "燃气泄漏味道很大", "code": "gas_leak"})
    order = (await intake.admin.post("/v1/orders", json=body)).json()
    intake.clock.advance(minutes=2)
    resolved = await intake.admin.post(
        f"/v1/orders/{order['id']}/resolve-remotely", json={"guidance": "关阀开窗"}
    )
    assert resolved.status_code == 200, resolved.text
    return dict(order)


async def test_int_4_int_7_a_reopened_emergency_must_have_someone_on_site_again(
    intake: Any, make_order: Any
) -> None:
    order = await _gas_leak_resolved_by_phone(intake, make_order)
    intake.clock.advance(minutes=30)
    reopened = await intake.admin.post(
        f"/v1/orders/{order['id']}/reopen", json={"reason": "仍有燃气味"}
    )
    assert reopened.status_code == 200, reopened.text
    due = intake.clock() + timedelta(minutes=15)
    assert datetime.fromisoformat(reopened.json()["on_site_due_at"]) == due
    assert _clock(reopened.json(), "emergency_on_site")["stopped_at"] is None
    intake.clock.advance(minutes=16)
    await intake.runtime.app.state.check_sla_clocks()
    breaches = [(b.clock, b.due_at) for b in await intake.events("SlaBreached")]
    assert (SlaClock.EMERGENCY_ON_SITE, due) in breaches


async def test_int_4_int_7_reopening_while_the_technician_is_on_site_is_no_breach(
    intake: Any, make_order: Any
) -> None:
    order = await _gas_leak_resolved_by_phone(intake, make_order)
    intake.clock.advance(minutes=10)  # the technician already on the way gets there
    await intake.deliver(
        TechnicianArrived(
            order_id=order["id"], visit_id="v-1", technician_id="t-1", arrived_at=intake.clock()
        )
    )
    intake.clock.advance(minutes=5)
    reopened = await intake.admin.post(
        f"/v1/orders/{order['id']}/reopen", json={"reason": "仍有燃气味"}
    )
    assert reopened.status_code == 200, reopened.text
    for name in ("emergency_on_site", "handover", "reply"):
        clock = _clock(reopened.json(), name)
        assert clock["started_at"] == clock["stopped_at"], name  # met at the reopening
    intake.clock.advance(hours=2)
    await intake.runtime.app.state.check_sla_clocks()
    assert await intake.events("SlaBreached") == []


# INT-5 ---------------------------------------------------------------------------------------


async def test_int_5_admins_read_and_edit_warranty_periods_and_orders_use_them(
    intake: Any, make_order: Any
) -> None:
    periods = (await intake.admin.get("/v1/warranty-periods")).json()
    assert {"product_line": "water_heater", "months": 36, "source": "policy"}.items() <= next(
        p for p in periods if p["product_line"] == "water_heater"
    ).items()
    agent = await intake.as_role("agent")
    assert (
        await agent.put("/v1/warranty-periods/water_heater", json={"months": 1})
    ).status_code == 403

    changed = await intake.admin.put("/v1/warranty-periods/water_heater", json={"months": 2})
    assert changed.status_code == 200, changed.text
    assert changed.json()["source"] == "admin"
    # Bought 2025-03-01, taken 2025-05-30: out of a 2-month warranty.
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    assert order["warranty_status"] == "out_of_warranty"
    [created] = await intake.events("OrderCreated")
    assert created.warranty_status == "out_of_warranty"

    assert (await intake.admin.delete("/v1/warranty-periods/water_heater")).status_code == 204
    assert (await intake.admin.delete("/v1/warranty-periods/water_heater")).status_code == 404
    body = make_order()
    body["customer"]["phone"] = "13900000002"
    assert (await intake.admin.post("/v1/orders", json=body)).json()["warranty_status"] == (
        "in_warranty"
    )


@pytest.mark.parametrize("months", [True, False, "12", 12.5])
async def test_int_5_a_warranty_period_is_a_whole_number_of_months_not_a_boolean_or_text(
    intake: Any, months: object
) -> None:
    refused = await intake.admin.put("/v1/warranty-periods/water_heater", json={"months": months})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["months"]
    periods = (await intake.admin.get("/v1/warranty-periods")).json()
    water_heater = next(p for p in periods if p["product_line"] == "water_heater")
    assert (water_heater["months"], water_heater["source"]) == (36, "policy")


async def test_int_5_warranty_is_as_of_the_day_the_fault_was_reported_not_the_verification(
    intake: Any, make_order: Any
) -> None:
    order = (
        await intake.admin.post("/v1/orders", json=make_order(product={"line": "water_heater"}))
    ).json()
    intake.clock.advance(days=3)  # verified after the holiday; 36 months ended meanwhile
    verified = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify",
        json={
            "product": {"line": "water_heater", "model": "JSQ24-12", "purchase_date": "2022-05-31"}
        },
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["warranty_status"] == "in_warranty"
    [event] = await intake.events("OrderVerified")
    assert event.warranty_status == "in_warranty"


async def test_int_5_commercial_use_voids_the_warranty(intake: Any, make_order: Any) -> None:
    body = make_order()
    body["product"]["commercial_use"] = True
    order = (await intake.admin.post("/v1/orders", json=body)).json()
    assert order["warranty_status"] == "out_of_warranty"


# INT-6, INT-7 --------------------------------------------------------------------------------


async def test_int_6_take_back_lines_and_fault_codes_ask_for_a_loaner(
    intake: Any, make_order: Any
) -> None:
    by_line = make_order(product={"line": "microwave_oven", "model": "M1", "serial": "A"})
    by_code = make_order(fault={"description": "压缩机不启动", "code": "compressor_failure"})
    by_code["customer"]["phone"] = "13900000003"
    plain = make_order()
    plain["customer"]["phone"] = "13900000004"
    for body in (by_line, by_code, plain):
        assert (await intake.admin.post("/v1/orders", json=body)).status_code == 201
    created = await intake.events("OrderCreated")
    assert [c.loaner_required for c in created] == [True, True, False]


async def test_int_7_an_emergency_carries_the_15_minute_target_and_jumps_the_queue(
    intake: Any, make_order: Any
) -> None:
    first = (await intake.admin.post("/v1/orders", json=make_order())).json()
    intake.clock.advance(minutes=1)
    body = make_order(fault={"description": "灶具周围有燃气味", "code": "gas_leak"})
    body["customer"]["phone"] = "13900000005"
    emergency = (await intake.admin.post("/v1/orders", json=body)).json()
    assert emergency["emergency"] is True  # the fault code makes it one
    due = intake.clock() + timedelta(minutes=15)
    assert datetime.fromisoformat(emergency["on_site_due_at"]) == due
    created = (await intake.events("OrderCreated"))[-1]
    assert isinstance(created, OrderCreated)
    assert created.emergency and created.on_site_due_at == due
    assert (await intake.events("OrderCreated"))[0].on_site_due_at is None

    queue = (await intake.admin.get("/v1/orders", params={"sort": "priority"})).json()
    assert [o["id"] for o in queue["items"]] == [emergency["id"], first["id"]]

    intake.clock.advance(minutes=16)
    await intake.runtime.app.state.check_sla_clocks()
    breaches = await intake.events("SlaBreached")
    assert [(b.order_id, b.clock) for b in breaches] == [
        (emergency["id"], SlaClock.EMERGENCY_ON_SITE)
    ]


async def test_int_7_a_fault_code_corrected_to_an_emergency_at_verification_escalates_it(
    intake: Any, make_order: Any
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    assert order["emergency"] is False and order["on_site_due_at"] is None
    intake.clock.advance(minutes=20)
    verified = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify",
        json={"fault": {"description": "核实：热水器旁有燃气味", "code": "gas_leak"}},
    )
    assert verified.status_code == 200, verified.text
    due = intake.clock() + timedelta(minutes=15)
    out = verified.json()
    assert out["emergency"] is True
    assert datetime.fromisoformat(out["on_site_due_at"]) == due
    assert [e["type"] for e in out["timeline"]] == ["OrderCreated", "OrderVerified"]
    [event] = await intake.events("OrderVerified")
    assert isinstance(event, OrderVerified)
    assert event.escalated_to_emergency is True and event.on_site_due_at == due
    assert event.loaner_required is False
    # stored: the emergency queue and the on-site clock's breach follow it
    queue = (await intake.admin.get("/v1/orders", params={"emergency": "true"})).json()
    assert [o["id"] for o in queue["items"]] == [order["id"]]
    intake.clock.advance(minutes=16)
    await intake.runtime.app.state.check_sla_clocks()
    breaches = await intake.events("SlaBreached")
    assert [(b.order_id, b.clock) for b in breaches] == [(order["id"], SlaClock.EMERGENCY_ON_SITE)]


async def test_int_7_verification_does_not_de_escalate_an_emergency(
    intake: Any, make_order: Any
) -> None:
    body = make_order(fault={"description": "灶具周围有燃气味", "code": "gas_leak"})
    order = (await intake.admin.post("/v1/orders", json=body)).json()
    verified = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify",
        json={"fault": {"description": "热水器打不着火", "code": "E1"}},
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["emergency"] is True
    assert verified.json()["on_site_due_at"] == order["on_site_due_at"]
    [event] = await intake.events("OrderVerified")
    assert event.escalated_to_emergency is False and event.on_site_due_at is None


async def test_int_6_verification_re_derives_the_loaner_from_the_corrected_product_line(
    intake: Any, make_order: Any
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    assert order["loaner_required"] is False
    verified = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify",
        json={"product": {"line": "microwave_oven", "model": "M1", "purchase_date": "2025-03-01"}},
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["loaner_required"] is True
    fetched = (await intake.admin.get(f"/v1/orders/{order['id']}")).json()
    assert fetched["loaner_required"] is True  # stored, not only published
    [event] = await intake.events("OrderVerified")
    assert event.loaner_required is True and event.escalated_to_emergency is False


# INT-8 ---------------------------------------------------------------------------------------


async def test_int_8_a_second_report_of_the_same_product_is_linked_not_dispatched(
    intake: Any, make_order: Any
) -> None:
    first = (await intake.admin.post("/v1/orders", json=make_order())).json()
    again = make_order(fault={"description": "还是打不着火，很着急"}, channel="web")
    again["customer"]["phone"] = "+86 138 0013 8000"
    second = await intake.admin.post("/v1/orders", json=again)
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first["id"]
    assert second.json()["duplicate"] is True
    assert second.headers["location"] == f"/v1/orders/{first['id']}"
    assert second.json()["linked_reports"][0]["fault_description"] == "还是打不着火，很着急"
    assert len(await intake.events("OrderCreated")) == 1
    [linked] = await intake.events("DuplicateLinked")
    assert isinstance(linked, DuplicateLinked)
    assert linked.order_id == first["id"] and linked.caller_phone == "+8613800138000"
    assert await intake.order_count() == 1


async def test_int_7_int_8_an_emergency_report_of_an_open_order_escalates_it(
    intake: Any, make_order: Any
) -> None:
    first = (await intake.admin.post("/v1/orders", json=make_order())).json()
    assert first["emergency"] is False
    intake.clock.advance(minutes=30)
    again = make_order(fault={"description": "热水器旁有燃气味", "code": "gas_leak"})
    second = await intake.admin.post("/v1/orders", json=again)
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first["id"] and second.json()["duplicate"] is True
    assert second.json()["emergency"] is True
    due = intake.clock() + timedelta(minutes=15)
    assert datetime.fromisoformat(second.json()["on_site_due_at"]) == due
    linked = (await intake.events("DuplicateLinked"))[-1]
    assert isinstance(linked, DuplicateLinked) and linked.escalated_to_emergency

    queue = (await intake.admin.get("/v1/orders", params={"emergency": "true"})).json()
    assert [o["id"] for o in queue["items"]] == [first["id"]]
    intake.clock.advance(minutes=16)
    await intake.runtime.app.state.check_sla_clocks()
    breaches = await intake.events("SlaBreached")
    assert (first["id"], SlaClock.EMERGENCY_ON_SITE) in [(b.order_id, b.clock) for b in breaches]


async def test_int_7_int_8_escalating_while_the_technician_is_on_site_is_no_breach(
    intake: Any, make_order: Any
) -> None:
    first = (await intake.admin.post("/v1/orders", json=make_order())).json()
    arrived = intake.clock() + timedelta(minutes=50)
    await intake.deliver(
        TechnicianArrived(
            order_id=first["id"], visit_id="v-1", technician_id="t-1", arrived_at=arrived
        ),
        at=arrived,
    )
    intake.clock.advance(minutes=55)
    again = make_order(fault={"description": "现在闻到燃气味", "code": "gas_leak"})
    second = (await intake.admin.post("/v1/orders", json=again)).json()
    assert second["id"] == first["id"] and second["emergency"] is True
    on_site = _clock(second, "emergency_on_site")
    assert on_site["started_at"] == on_site["stopped_at"]  # met at the escalation, no wait
    assert datetime.fromisoformat(on_site["stopped_at"]) == intake.clock()
    intake.clock.advance(minutes=20)
    await intake.runtime.app.state.check_sla_clocks()
    assert SlaClock.EMERGENCY_ON_SITE not in [b.clock for b in await intake.events("SlaBreached")]


async def test_int_8_same_model_without_serial_is_the_same_product_other_products_are_not(
    intake: Any, make_order: Any
) -> None:
    no_serial = make_order(product={"line": "water_heater", "model": "JSQ24-12"})
    first = (await intake.admin.post("/v1/orders", json=no_serial)).json()
    assert (await intake.admin.post("/v1/orders", json=no_serial)).json()["id"] == first["id"]
    other = make_order(product={"line": "air_conditioner", "model": "KFR-35", "serial": "Z"})
    response = await intake.admin.post("/v1/orders", json=other)
    assert response.status_code == 201
    assert await intake.order_count() == 2


async def test_int_8_a_call_back_that_cannot_give_the_model_is_linked_at_the_same_address(
    intake: Any, make_order: Any
) -> None:
    first = (await intake.admin.post("/v1/orders", json=make_order())).json()
    vague = make_order(product={"line": first["product"]["line"]})
    again = await intake.admin.post("/v1/orders", json=vague)
    assert again.status_code == 200 and again.json()["id"] == first["id"], again.text
    next_door = make_order(product={"line": first["product"]["line"]})
    next_door["customer"]["address"] = "山东省东营市东营区西四路102号"
    assert (await intake.admin.post("/v1/orders", json=next_door)).status_code == 201
    assert await intake.order_count() == 2


async def test_int_8_a_report_after_the_order_closed_is_a_new_order(
    intake: Any, make_order: Any
) -> None:
    first = (await intake.admin.post("/v1/orders", json=make_order())).json()
    await intake.admin.post(f"/v1/orders/{first['id']}/cancel", json={"reason": "客户取消"})
    second = await intake.admin.post("/v1/orders", json=make_order())
    assert second.status_code == 201
    assert second.json()["id"] != first["id"]


# Cancel --------------------------------------------------------------------------------------


async def test_cancel_records_the_reason_and_who_and_cannot_be_repeated(
    intake: Any, make_order: Any
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    response = await intake.admin.post(
        f"/v1/orders/{order['id']}/cancel",
        json={"reason": "客户已自行修好", "requested_by_customer": True},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    [event] = await intake.events("OrderCancelled")
    assert isinstance(event, OrderCancelled)
    assert event.reason == "客户已自行修好" and event.requested_by_customer
    assert event.cancelled_by == "bootstrap admin"
    again = await intake.admin.post(f"/v1/orders/{order['id']}/cancel", json={"reason": "x"})
    assert again.status_code == 409
    missing = await intake.admin.post("/v1/orders/nope/cancel", json={"reason": "x"})
    assert missing.status_code == 404
    blank = await intake.admin.post(f"/v1/orders/{order['id']}/cancel", json={"reason": ""})
    assert blank.status_code == 422


async def test_a_failed_repair_is_not_cancelled_while_the_technician_is_still_on_site(
    intake: Any, make_order: Any
) -> None:
    from contracts.fieldwork import (
        RepairFailed,
        RepairFailureReason,
        VisitClosed,
        VisitOutcome,
    )

    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    order_id = order["id"]
    ids = {"order_id": order_id, "visit_id": "v-1", "technician_id": "t-1"}
    await intake.deliver(
        OrderAssigned(**ids, assignee_kind=AssigneeKind.TECHNICIAN, assigned_by="d-1")
    )
    intake.clock.advance(hours=1)
    await intake.deliver(TechnicianArrived(**ids, arrived_at=intake.clock()))
    intake.clock.advance(minutes=30)
    await intake.deliver(RepairFailed(**ids, reason=RepairFailureReason.MISSING_PART))
    intake.clock.advance(minutes=1)

    # The repair failed, but the technician is still at the customer's: the work goes on.
    on_site = await intake.admin.post(f"/v1/orders/{order_id}/cancel", json={"reason": "不修了"})
    assert on_site.status_code == 409, on_site.text
    assert on_site.headers["content-type"] == "application/problem+json"
    assert "on site" in on_site.json()["detail"]
    assert await intake.events("OrderCancelled") == []

    await intake.deliver(
        VisitClosed(**ids, outcome=VisitOutcome.UNFINISHED, closed_at=intake.clock())
    )
    intake.clock.advance(minutes=1)
    left = await intake.admin.post(f"/v1/orders/{order_id}/cancel", json={"reason": "不修了"})
    assert left.status_code == 200, left.text
    assert left.json()["status"] == "cancelled"


# Listing -------------------------------------------------------------------------------------


async def test_listing_filters_by_status_phone_dates_assignee_and_emergency(
    intake: Any, make_order: Any
) -> None:
    ids = []
    for i in range(4):
        body = make_order(emergency=i == 3)
        body["customer"]["phone"] = f"1390000001{i}"
        ids.append((await intake.admin.post("/v1/orders", json=body)).json()["id"])
        intake.clock.advance(hours=1)
    await intake.deliver(
        OrderAssigned(
            order_id=ids[1],
            visit_id="v-1",
            assignee_kind=AssigneeKind.NETWORK,
            network_id="net-1",
            technician_id="t-9",
            assigned_by="d-1",
        )
    )
    await intake.admin.post(f"/v1/orders/{ids[2]}/cancel", json={"reason": "x"})

    async def found(**params: Any) -> list[str]:
        response = await intake.admin.get("/v1/orders", params={"sort": "created_at", **params})
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["items"]]

    assert await found() == ids
    assert await found(status=["assigned", "cancelled"]) == [ids[1], ids[2]]
    assert await found(phone="139 0000 0011") == [ids[1]]
    assert await found(network_id="net-1") == [ids[1]]
    assert await found(technician_id="t-9") == [ids[1]]
    assert await found(emergency="true") == [ids[3]]
    assert await found(
        created_from="2025-05-30T11:00:00+08:00", created_to="2025-05-30T13:00:00+08:00"
    ) == [ids[1], ids[2]]

    partner = await intake.as_role("partner", network_id="net-1")
    assert [o["id"] for o in (await partner.get("/v1/orders")).json()["items"]] == [ids[1]]
    # a network lists only its own orders: asking for another's is refused, not answered empty
    widened = await partner.get("/v1/orders", params={"network_id": "net-2"})
    assert widened.status_code == 403, widened.text
    assert widened.headers["content-type"] == "application/problem+json"
    assert (await partner.get(f"/v1/orders/{ids[0]}")).status_code == 404
    assert (await partner.get(f"/v1/orders/{ids[1]}")).status_code == 200


async def test_int_2_verify_with_new_phones_moves_the_phone_filter_to_them(
    intake: Any, make_order: Any
) -> None:
    body = make_order()
    body["customer"]["phone"] = "13900000031"
    body["customer"]["phones"] = ["13900000032"]
    order = (await intake.admin.post("/v1/orders", json=body)).json()
    customer = {**body["customer"], "phone": "13900000032", "phones": ["13900000033"]}
    verified = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify", json={"customer": customer}
    )
    assert verified.status_code == 200, verified.text

    async def found(phone: str) -> list[str]:
        response = await intake.admin.get("/v1/orders", params={"phone": phone})
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["items"]]

    assert await found("13900000031") == []
    assert await found("13900000032") == [order["id"]]
    assert await found("13900000033") == [order["id"]]


async def test_listing_pages_with_a_cursor_in_every_sort_order(
    intake: Any, make_order: Any
) -> None:
    ids = []
    for i in range(7):
        body = make_order(emergency=i in (2, 5))
        body["customer"]["phone"] = f"1390000002{i}"
        ids.append((await intake.admin.post("/v1/orders", json=body)).json()["id"])
        if i % 2:
            intake.clock.advance(minutes=1)  # some share created_at: the id breaks the tie
    expected = {
        "created_at": ids,
        "-created_at": list(reversed(ids)),
        "priority": [ids[2], ids[5], *[x for i, x in enumerate(ids) if i not in (2, 5)]],
    }
    for sort, want in expected.items():
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"sort": sort, "limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = (await intake.admin.get("/v1/orders", params=params)).json()
            seen += [o["id"] for o in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == want, sort


async def test_listing_refuses_bad_filters_with_422_not_500(intake: Any) -> None:
    for params in (
        {"cursor": "garbage"},
        {"phone": "12345"},
        {"created_from": "2025-05-30T10:00:00"},  # no offset
        {"status": "lost"},
        {"limit": "0"},
        {"sort": "name"},
    ):
        response = await intake.admin.get("/v1/orders", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_limit_above_the_policys_maximum_is_cut_to_it_like_every_list(
    intake: Any, make_order: Any
) -> None:
    for n in range(3):
        body = make_order()
        body["customer"]["phone"] = f"1390000010{n}"  # three customers, no duplicates (INT-8)
        assert (await intake.admin.post("/v1/orders", json=body)).status_code == 201

    response = await intake.admin.get("/v1/orders", params={"limit": 100000})

    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 3 and response.json()["next_cursor"] is None


async def test_status_is_derived_from_every_services_events(intake: Any, make_order: Any) -> None:
    from contracts.fieldwork import TechnicianArrived

    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    at = intake.clock()
    await intake.deliver(
        TechnicianArrived.model_validate(
            {
                "order_id": order["id"],
                "visit_id": "v-1",
                "technician_id": "t-1",
                "arrived_at": at + timedelta(hours=2),
            }
        ),
        at=at + timedelta(hours=2),
    )
    await intake.deliver(
        OrderAssigned(
            order_id=order["id"],
            visit_id="v-1",
            assignee_kind=AssigneeKind.TECHNICIAN,
            technician_id="t-1",
            assigned_by="d-1",
        ),
        at=at + timedelta(hours=1),
    )
    read = (await intake.admin.get(f"/v1/orders/{order['id']}")).json()
    assert read["status"] == "on_site"
    assert [e["type"] for e in read["timeline"]] == [
        "OrderCreated",
        "OrderAssigned",
        "TechnicianArrived",
    ]
    assert read["technician_id"] == "t-1"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def test_a_nul_byte_in_a_path_query_or_body_is_a_4xx_problem_never_a_500(
    intake: Any, make_order: Any
) -> None:
    body = make_order()
    body["fault"]["description"] = "漏水\u0000"
    answers = [
        await intake.admin.get("/v1/orders/ab%00c"),
        await intake.admin.get("/v1/orders", params={"phone": "138\u00000138000"}),
        await intake.admin.post("/v1/orders", json=body),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.headers["content-type"] == "application/problem+json"


async def test_a_body_larger_than_the_limit_is_refused_with_413_problem(
    intake: Any, make_order: Any
) -> None:
    body = make_order()
    body["fault"]["description"] = "漏" * 400_000  # about 1.2 MB of UTF-8

    refused = await intake.admin.post("/v1/orders", json=body)

    assert refused.status_code == 413, refused.text[:200]
    assert refused.headers["content-type"] == "application/problem+json"
    assert await intake.order_count() == 0
