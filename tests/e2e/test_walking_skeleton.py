"""The five services as real processes on a real broker: an order taken at intake travels."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import httpx
import pytest
from support.platform import SERVICES, Platform, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

READ_ROUTE = {
    "intake": "/v1/orders/unknown",
    "scheduling": "/v1/orders/unknown",
    "fieldwork": "/v1/orders/unknown/events",
    "billing": "/v1/orders/unknown/events",
    "feedback": "/v1/orders/unknown/events",
}
ORDER = {
    "customer": {
        "name": "王芳",
        "phone": "13800138000",
        "address": "山东省东营市东营区西四路100号3单元502",
    },
    "product": {"line": "water_heater", "model": "JSQ24-12", "purchase_date": "2025-03-01"},
    "fault": {"description": "热水器打不着火"},
    "requests": "周六上午",
    "channel": "hotline",
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(tmp_path_factory.mktemp("platform")).start()
    try:
        yield running
    finally:
        stubborn = running.stop()
    assert not stubborn, f"did not stop within 20 s of SIGTERM: {stubborn}"


def _timeline_types(client: httpx.Client, order_id: str) -> list[str]:
    response = client.get(f"/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    return [entry["type"] for entry in response.json()["timeline"]]


def test_every_service_is_alive_and_ready(platform: Platform) -> None:
    for name, url in platform.urls.items():
        assert httpx.get(url + "/healthz").status_code == 200, name
        ready = httpx.get(url + "/readyz")
        assert ready.status_code == 200, (name, ready.text)
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_v1_routes_without_a_key_answer_401_problem_json(platform: Platform) -> None:
    for name in SERVICES:
        with platform.client(name, key=None) as client:
            schema = client.get("/openapi.json").json()
            v1_paths = [p for p in schema["paths"] if p.startswith("/v1/")]
            assert v1_paths, name
            for path in v1_paths:
                for method in schema["paths"][path]:
                    url = path.replace("{", "").replace("}", "")
                    response = client.request(method.upper(), url)
                    assert response.status_code == 401, (name, method, path)
                    assert response.headers["content-type"].startswith("application/problem+json")


def test_order_created_at_intake_reaches_the_timeline_and_scheduling(platform: Platform) -> None:
    with platform.client("intake") as intake, platform.client("scheduling") as scheduling:
        created = intake.post("/v1/orders", json=ORDER)
        assert created.status_code == 201, created.text
        order_id = created.json()["id"]
        assert created.headers["location"] == f"/v1/orders/{order_id}"

        # The first event after start-up waits for the consumer groups to form.
        wait_for(lambda: "OrderCreated" in _timeline_types(intake, order_id), within=30)

        def recorded_by_scheduling() -> dict[str, object] | None:
            response = scheduling.get(f"/v1/orders/{order_id}")
            return response.json() if response.status_code == 200 else None

        dispatch = wait_for(recorded_by_scheduling, within=10)
        assert dispatch["product_line"] == "water_heater"

        # Once the groups are formed, an order shows on its timeline within 2 s.
        second = intake.post("/v1/orders", json=ORDER).json()["id"]
        wait_for(lambda: "OrderCreated" in _timeline_types(intake, second), within=2)

        # Billing and feedback record the order for their own later work.
        for name in ("billing", "feedback"):
            with platform.client(name) as client:

                def recorded(c: httpx.Client = client) -> list[str] | None:
                    response = c.get(f"/v1/orders/{order_id}/events")
                    if response.status_code != 200:
                        return None
                    return [e["type"] for e in response.json()["events"]]

                assert "OrderCreated" in wait_for(recorded, within=10), name


def test_malformed_order_is_refused_and_nothing_is_stored(platform: Platform) -> None:
    without_phone = copy.deepcopy(ORDER)
    del without_phone["customer"]["phone"]  # type: ignore[attr-defined]
    future_purchase = copy.deepcopy(ORDER)
    future_purchase["product"]["purchase_date"] = "2999-01-01"  # type: ignore[index]
    with platform.client("intake") as intake:
        for body, field in (
            (without_phone, "customer.phone"),
            (future_purchase, "product.purchase_date"),
        ):
            response = intake.post("/v1/orders", json=body)
            assert response.status_code == 422
            assert response.headers["content-type"].startswith("application/problem+json")
            assert field in [e["field"] for e in response.json()["errors"]]
        not_json = intake.post(
            "/v1/orders", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert not_json.status_code == 422
        assert not_json.json()["errors"][0]["field"] == "body"


def test_api_key_issued_at_intake_works_at_every_service(platform: Platform) -> None:
    with platform.client("intake") as intake:
        issued = intake.post("/v1/api-keys", json={"name": "agent 7", "role": "agent"})
        assert issued.status_code == 201, issued.text
        key = issued.json()["key"]
    for name in SERVICES:
        with platform.client(name, key=key) as client:

            def accepted(c: httpx.Client = client, path: str = READ_ROUTE[name]) -> bool:
                return c.get(path).status_code == 404  # authenticated; the order does not exist

            wait_for(accepted, within=10, message=f"{name} accepts the new key")
