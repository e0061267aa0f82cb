"""Text a call-centre agent types: what must say something is refused when it is only spaces
(422 naming the field), what may be left out is left out when it is only spaces (INT-2 then
flags it as for a missing detail), and both are stored without the spaces around them. A blank
fault description is no malformed input but a vague fault: taken and flagged (INT-2)."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.intake import OrderCancelled, OrderCreated, OrderReopened, OrderResolvedRemotely

#: Spaces as agents' keyboards type them: ASCII, a tab, the CJK full-width space, a newline.
BLANKS = ["   ", "\t", "\u3000\u3000", " \n "]


def _fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return sorted(e["field"] for e in answer.json()["errors"])


@pytest.mark.parametrize("blank", BLANKS)
async def test_int_1_a_customer_name_or_product_line_of_only_spaces_is_refused_naming_it(
    intake: Any, make_order: Any, blank: str
) -> None:
    body = make_order()
    body["customer"]["name"] = blank
    answer = await intake.admin.post("/v1/orders", json=body)
    assert _fields(answer) == ["customer.name"]
    assert "customer.name" in answer.json()["detail"]
    assert "blank" in answer.json()["errors"][0]["message"]

    body = make_order()
    body["product"]["line"] = blank
    assert _fields(await intake.admin.post("/v1/orders", json=body)) == ["product.line"]
    assert await intake.order_count() == 0

    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    customer = {**make_order()["customer"], "name": blank}
    verified = await intake.admin.post(
        f"/v1/orders/{order['id']}/verify", json={"customer": customer}
    )
    assert _fields(verified) == ["customer.name"]


async def test_int_1_names_and_lines_are_stored_without_the_spaces_around_them(
    intake: Any, make_order: Any
) -> None:
    body = make_order()
    body["customer"].update(name=" 王芳\u3000", organisation=" 东营宾馆 ", contact_person="李经理 ")
    body["customer"]["address"] = "  山东省东营市东营区西四路100号3单元502 "
    body["product"].update(line=" water_heater ", model=" JSQ24-12 ", brand=" Fotile")
    body["requests"] = " 周六上午 "
    answer = await intake.admin.post("/v1/orders", json=body)
    assert answer.status_code == 201, answer.text
    order = answer.json()
    customer = order["customer"]
    assert (customer["name"], customer["organisation"], customer["contact_person"]) == (
        "王芳",
        "东营宾馆",
        "李经理",
    )
    assert customer["address"]["detail"] == "山东省东营市东营区西四路100号3单元502"
    assert (order["product"]["line"], order["product"]["model"]) == ("water_heater", "JSQ24-12")
    assert order["product"]["brand"] == "Fotile"
    assert order["requests"] == "周六上午"
    assert order["warranty_status"] == "in_warranty"  # the line is the table's water_heater
    [created] = await intake.events("OrderCreated")
    assert isinstance(created, OrderCreated) and created.customer.name == "王芳"


async def test_int_2_optional_details_of_only_spaces_are_missing_and_flagged(
    intake: Any, make_order: Any
) -> None:
    body = make_order()
    body["customer"].update(organisation="东营宾馆有限公司", contact_person="\u3000")
    body["product"].update(model="  ", serial=" ", brand="\t")
    body["fault"]["code"] = "  "
    body["requests"] = "   "
    answer = await intake.admin.post("/v1/orders", json=body)
    assert answer.status_code == 201, answer.text
    order = answer.json()
    # INT-1: a business customer is reached through its contact person; INT-2: no model given.
    assert order["needs_verification"] == ["customer.contact_person", "product.model"]
    assert order["customer"]["contact_person"] is None
    assert [order["product"][p] for p in ("model", "serial", "brand")] == [None] * 3
    assert order["fault"]["code"] is None and order["requests"] is None

    body = make_order()
    body["customer"].update(phone="13900139000", organisation="  ", contact_person=" ")
    answer = await intake.admin.post("/v1/orders", json=body)
    assert answer.status_code == 201, answer.text
    # no organisation: a private customer, with no contact person to find
    assert answer.json()["needs_verification"] == []
    assert answer.json()["customer"]["organisation"] is None


async def test_int_2_a_free_text_address_of_only_spaces_is_missing_and_flagged(
    intake: Any, make_order: Any
) -> None:
    body = make_order()
    body["customer"]["address"] = "\u3000 "
    answer = await intake.admin.post("/v1/orders", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["needs_verification"] == ["customer.address"]
    assert answer.json()["customer"]["address"]["detail"] is None


async def test_int_7_a_fault_code_with_spaces_around_it_is_still_an_emergency(
    intake: Any, make_order: Any
) -> None:
    answer = await intake.admin.post(
        "/v1/orders",
        json=make_order(fault={"description": "灶具周围有燃气味", "code": " gas_leak "}),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["emergency"] is True
    assert answer.json()["fault"]["code"] == "gas_leak"


@pytest.mark.parametrize("blank", ["   ", "\u3000"])
async def test_int_2_a_blank_fault_description_is_still_taken_and_flagged_as_vague(
    intake: Any, make_order: Any, blank: str
) -> None:
    answer = await intake.admin.post("/v1/orders", json=make_order(fault={"description": blank}))
    assert answer.status_code == 201, answer.text
    assert answer.json()["needs_verification"] == ["fault.description"]


@pytest.mark.parametrize("blank", BLANKS)
async def test_int_4_guidance_and_the_reopening_reason_of_only_spaces_are_refused(
    intake: Any, make_order: Any, blank: str
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    url = f"/v1/orders/{order['id']}"
    refused = await intake.admin.post(f"{url}/resolve-remotely", json={"guidance": blank})
    assert _fields(refused) == ["guidance"]
    assert (await intake.admin.get(url)).json()["status"] == "received"

    resolved = await intake.admin.post(
        f"{url}/resolve-remotely", json={"guidance": " 燃气阀未打开，已指导打开 "}
    )
    assert resolved.status_code == 200, resolved.text
    refused = await intake.admin.post(f"{url}/reopen", json={"reason": blank})
    assert _fields(refused) == ["reason"]
    assert (await intake.admin.get(url)).json()["status"] == "resolved_remotely"

    reopened = await intake.admin.post(f"{url}/reopen", json={"reason": "\u3000仍无法点火 "})
    assert reopened.status_code == 200, reopened.text
    [resolution] = await intake.events("OrderResolvedRemotely")
    assert isinstance(resolution, OrderResolvedRemotely)
    assert resolution.guidance == "燃气阀未打开，已指导打开"
    [reopening] = await intake.events("OrderReopened")
    assert isinstance(reopening, OrderReopened) and reopening.reason == "仍无法点火"


@pytest.mark.parametrize("blank", BLANKS)
async def test_a_cancellation_reason_of_only_spaces_is_refused(
    intake: Any, make_order: Any, blank: str
) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    url = f"/v1/orders/{order['id']}"
    refused = await intake.admin.post(f"{url}/cancel", json={"reason": blank})
    assert _fields(refused) == ["reason"]
    assert (await intake.admin.get(url)).json()["status"] == "received"
    assert await intake.events("OrderCancelled") == []

    cancelled = await intake.admin.post(f"{url}/cancel", json={"reason": " 客户已自行修好 "})
    assert cancelled.status_code == 200, cancelled.text
    [event] = await intake.events("OrderCancelled")
    assert isinstance(event, OrderCancelled) and event.reason == "客户已自行修好"


@pytest.mark.parametrize("line", ["%20%20", "%E3%80%80", "%20water_heater", "water_heater%20"])
async def test_int_5_a_warranty_period_for_a_blank_or_padded_line_is_refused(
    intake: Any, line: str
) -> None:
    answer = await intake.admin.put(f"/v1/warranty-periods/{line}", json={"months": 24})
    assert _fields(answer) == ["product_line"]
    periods = (await intake.admin.get("/v1/warranty-periods")).json()
    assert all(p["source"] == "policy" for p in periods)
