"""Phones with an extension over intake's REST API, on SQLite and PostgreSQL (INT-1, INT-2,
INT-8, the phone filter): kept with the customer, answered beside the E.164 number, refused when
malformed, and a switchboard's extensions told apart when matching customers."""

from __future__ import annotations

from typing import Any

from contracts.intake import DuplicateLinked, OrderCreated, OrderVerified

SWITCHBOARD = "+861062345678"


def _at_switchboard(make_order: Any, phone: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = make_order(**changes)
    body["customer"]["phone"] = phone
    return body


async def _found(intake: Any, phone: str) -> list[str]:
    response = await intake.admin.get("/v1/orders", params={"phone": phone, "sort": "created_at"})
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["items"]]


async def test_int_1_an_extension_in_call_centre_notation_is_kept_and_answered(
    intake: Any, make_order: Any
) -> None:
    body = _at_switchboard(make_order, "010-62345678转123")
    body["customer"]["phones"] = ["0546-8123456分机 8001", "13905461234"]
    created = await intake.admin.post("/v1/orders", json=body)
    assert created.status_code == 201, created.text
    customer = created.json()["customer"]
    assert customer["phones"] == [SWITCHBOARD, "+865468123456", "+8613905461234"]
    assert customer["phone_extensions"] == {SWITCHBOARD: "123", "+865468123456": "8001"}

    read = (await intake.admin.get(f"/v1/orders/{created.json()['id']}")).json()
    assert read["customer"] == customer
    [listed] = (await intake.admin.get("/v1/orders")).json()["items"]
    assert listed["customer"] == customer
    # The event carries E.164 phones and, beside them, the extension to dial after each.
    [event] = await intake.events("OrderCreated")
    assert isinstance(event, OrderCreated)
    assert event.customer.phones == customer["phones"]
    assert event.customer.phone_extensions == customer["phone_extensions"]


async def test_int_1_a_phone_without_extension_answers_no_extensions(
    intake: Any, make_order: Any
) -> None:
    created = (await intake.admin.post("/v1/orders", json=make_order())).json()
    assert created["customer"]["phone_extensions"] == {}


async def test_int_2_a_malformed_extension_is_refused_with_422_naming_the_field(
    intake: Any, make_order: Any
) -> None:
    too_long = "1" * 21
    cases = [
        ("phone", "010-62345678 转 12a", "customer.phone"),
        ("phone", "010-62345678 ext. 前台", "customer.phone"),
        ("phone", "010-62345678转", "customer.phone"),
        ("phones", ["010-62345678 分机 " + too_long], "customer.phones"),
        ("phones", ["010-62345678转124"], "customer.phones"),  # the main phone has 123
    ]
    for key, value, field in cases:
        body = _at_switchboard(make_order, "010-62345678转123")
        body["customer"][key] = value
        response = await intake.admin.post("/v1/orders", json=body)
        assert response.status_code == 422, (value, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.text
    assert await intake.order_count() == 0
    assert await intake.events() == []


async def test_int_8_the_same_extension_is_the_same_customer_another_extension_is_not(
    intake: Any, make_order: Any
) -> None:
    first = (
        await intake.admin.post("/v1/orders", json=_at_switchboard(make_order, "010-62345678转123"))
    ).json()

    again = await intake.admin.post(
        "/v1/orders", json=_at_switchboard(make_order, "010-62345678 ext. 123", channel="web")
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first["id"] and again.json()["duplicate"] is True
    [report] = again.json()["linked_reports"]
    assert report["caller_phone"] == SWITCHBOARD and report["caller_phone_extension"] == "123"
    [linked] = await intake.events("DuplicateLinked")
    assert isinstance(linked, DuplicateLinked) and linked.caller_phone == SWITCHBOARD

    # The same product reported from another extension of the switchboard: another person.
    colleague = await intake.admin.post(
        "/v1/orders", json=_at_switchboard(make_order, "010-62345678转456")
    )
    assert colleague.status_code == 201, colleague.text
    assert colleague.json()["id"] != first["id"]
    assert await intake.order_count() == 2


async def test_int_8_the_number_without_extension_is_the_same_customer_either_way(
    intake: Any, make_order: Any
) -> None:
    with_extension = (
        await intake.admin.post("/v1/orders", json=_at_switchboard(make_order, "010-62345678转123"))
    ).json()
    bare = await intake.admin.post("/v1/orders", json=_at_switchboard(make_order, "010-62345678"))
    assert bare.status_code == 200 and bare.json()["id"] == with_extension["id"], bare.text
    assert bare.json()["linked_reports"][0]["caller_phone_extension"] is None

    other_product = {"line": "air_conditioner", "model": "KFR-35", "serial": "AC-1"}
    taken_bare = (
        await intake.admin.post(
            "/v1/orders", json=_at_switchboard(make_order, "010-62345678", product=other_product)
        )
    ).json()
    later = await intake.admin.post(
        "/v1/orders",
        json=_at_switchboard(make_order, "010-62345678 分机 789", product=other_product),
    )
    assert later.status_code == 200 and later.json()["id"] == taken_bare["id"], later.text
    assert await intake.order_count() == 2


async def test_listing_by_phone_tells_extensions_apart_and_the_bare_number_finds_all(
    intake: Any, make_order: Any
) -> None:
    ids = []
    for i, phone in enumerate(["010-62345678转123", "010-62345678转456", "010-62345678"]):
        product = {"line": "water_heater", "model": "JSQ24-12", "serial": f"SN-{i}"}
        body = _at_switchboard(make_order, phone, product=product)
        ids.append((await intake.admin.post("/v1/orders", json=body)).json()["id"])
    assert len(set(ids)) == 3

    assert await _found(intake, "010-62345678") == ids
    assert await _found(intake, "010-62345678 ext. 123") == [ids[0], ids[2]]
    assert await _found(intake, "+861062345678;ext=456") == [ids[1], ids[2]]
    assert await _found(intake, "010-62345678转789") == [ids[2]]
    refused = await intake.admin.get("/v1/orders", params={"phone": "010-62345678转12a"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "phone"
    # A misspelt filter would list every customer's orders: refused, naming it.
    misspelt = await intake.admin.get("/v1/orders", params={"phone_number": "010-62345678"})
    assert misspelt.status_code == 422, misspelt.text
    assert misspelt.json()["errors"][0]["field"] == "phone_number"


async def test_int_2_verify_corrects_the_extension_and_the_phone_filter_follows(
    intake: Any, make_order: Any
) -> None:
    body = _at_switchboard(make_order, "010-62345678转123")
    body["customer"]["phones"] = ["13900000041"]
    order = (await intake.admin.post("/v1/orders", json=body)).json()
    customer = {**body["customer"], "phone": "+861062345678;ext=456"}
    verified = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify", json={"customer": customer}
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["customer"]["phone_extensions"] == {SWITCHBOARD: "456"}
    [event] = await intake.events("OrderVerified")
    assert isinstance(event, OrderVerified) and event.customer is not None
    assert event.customer.phone_extensions == {SWITCHBOARD: "456"}

    assert await _found(intake, "010-62345678转123") == []
    assert await _found(intake, "010-62345678转456") == [order["id"]]
    assert await _found(intake, "13900000041") == [order["id"]]

    # Dropping the extension is a correction too: the bare number then matches every one.
    customer["phone"] = "010-62345678"
    verified = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify", json={"customer": customer}
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["customer"]["phone_extensions"] == {}
    assert await _found(intake, "010-62345678转123") == [order["id"]]
