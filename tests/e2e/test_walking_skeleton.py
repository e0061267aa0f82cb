"""The five services as real processes on a real broker: an order taken at intake travels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from servicekit.embedded import EmbeddedBroker, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

SERVICES = ("intake", "scheduling", "fieldwork", "billing", "feedback")
ADMIN_KEY = "e2e-admin-key-0123456789"
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


@dataclass
class Platform:
    """URLs of the running services."""

    urls: dict[str, str]

    def client(self, service: str, *, key: str | None = ADMIN_KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.urls[service], headers=headers, timeout=10)


def _wait_until(predicate, *, timeout: float, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data = tmp_path_factory.mktemp("platform")
    external = os.environ.get("FSM_KAFKA_BOOTSTRAP")
    broker = None if external else EmbeddedBroker(log_file=data / "broker.log")
    if broker is not None:
        broker.start()
    bootstrap = external or broker.bootstrap  # type: ignore[union-attr]
    env = {
        **os.environ,
        "FSM_KAFKA_BOOTSTRAP": bootstrap,
        "FSM_BOOTSTRAP_API_KEY": ADMIN_KEY,
        "FSM_LOG_JSON": "true",
    }
    urls: dict[str, str] = {}
    processes: dict[str, subprocess.Popen[bytes]] = {}
    for name in SERVICES:
        port = free_port()
        prefix = f"FSM_{name.upper()}_"
        env[prefix + "PORT"] = str(port)
        env[prefix + "DATABASE_URL"] = f"sqlite+aiosqlite:///{data / name}.db"
        urls[name] = f"http://127.0.0.1:{port}"
    try:
        for name in SERVICES:
            log = (data / f"{name}.log").open("wb")
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "fsm", "serve", name], env=env, stdout=log, stderr=log
            )
        for name in SERVICES:

            def ready(name: str = name) -> bool:
                if processes[name].poll() is not None:
                    log_text = (data / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise AssertionError(f"{name} exited early:\n{log_text}")
                try:
                    return httpx.get(urls[name] + "/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            _wait_until(ready, timeout=60, interval=0.2)
        yield Platform(urls)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"{name} did not stop within 20 s of SIGTERM")
        if broker is not None:
            broker.stop()


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
                    url = path.replace("{order_id}", "x").replace("{key_id}", "x")
                    response = client.request(method.upper(), url)
                    assert response.status_code == 401, (name, method, path)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 401


def test_order_created_at_intake_reaches_the_timeline_and_scheduling(platform: Platform) -> None:
    with platform.client("intake") as intake, platform.client("scheduling") as scheduling:
        created = intake.post("/v1/orders", json=ORDER)
        assert created.status_code == 201, created.text
        order_id = created.json()["id"]
        assert created.headers["location"] == f"/v1/orders/{order_id}"

        # The first event after start-up waits for the consumer groups to form.
        _wait_until(lambda: "OrderCreated" in _timeline_types(intake, order_id), timeout=30)

        def recorded_by_scheduling() -> dict[str, object] | None:
            response = scheduling.get(f"/v1/orders/{order_id}")
            return response.json() if response.status_code == 200 else None

        dispatch = _wait_until(recorded_by_scheduling, timeout=10)
        assert dispatch["status"] == "awaiting_assignment"
        assert dispatch["product_line"] == "water_heater"

        # Once the groups are formed, an order shows on its timeline within 2 s.
        second = intake.post("/v1/orders", json=ORDER).json()["id"]
        _wait_until(lambda: "OrderCreated" in _timeline_types(intake, second), timeout=2)

        # Billing and feedback record the order for their own later work.
        for name in ("billing", "feedback"):
            with platform.client(name) as client:

                def recorded(c: httpx.Client = client) -> list[str] | None:
                    response = c.get(f"/v1/orders/{order_id}/events")
                    if response.status_code != 200:
                        return None
                    return [e["type"] for e in response.json()["events"]]

                assert "OrderCreated" in _wait_until(recorded, timeout=10), name


def test_malformed_order_is_refused_and_nothing_is_stored(platform: Platform) -> None:
    with platform.client("intake") as intake:
        bad_bodies = [
            (
                {**ORDER, "customer": {k: v for k, v in ORDER["customer"].items() if k != "phone"}},
                "customer.phone",
            ),
            (
                {**ORDER, "product": {**ORDER["product"], "purchase_date": "2999-01-01"}},
                "product.purchase_date",
            ),
        ]
        for body, field in bad_bodies:
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
            _wait_until(
                lambda c=client: (
                    c.get("/v1/orders/00000000-0000-0000-0000-000000000000").status_code == 404
                ),
                timeout=10,
            )
