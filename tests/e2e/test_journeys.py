"""End-to-end journeys: the five services as real processes on the real broker (issue 9).

Each journey drives one order through the public REST APIs the way the call centre, the
dispatcher, the technician's app and the after-sales agents would, waits (with deadlines) for
every event to travel, and asserts the final state in every service involved plus the order's
timeline at intake (event types, oldest first).

Every journey has its own customer phone, product serial, district and technician, so INT-8
duplicate detection never links two journeys and automatic assignment (SCH-1) is deterministic.
Technicians work every day around the clock (Asia/Shanghai), so the file runs at any hour.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from support.platform import Platform, wait_for

from contracts.billing import OrderRetentionExpired, RetentionClass
from contracts.envelope import EventEnvelope
from contracts.privacy import ERASED
from contracts.topics import events_topic

pytestmark = [pytest.mark.e2e, pytest.mark.broker]

TZ = ZoneInfo("Asia/Shanghai")
WAIT = 20.0
"""Deadline of one wait for events to travel (generous: a loaded 2-core machine)."""

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
"""A real 1x1 PNG: fieldwork checks the bytes against the content type (FLD-10)."""

KIT = [
    "tools",
    "spare_parts",
    "warranty_record_sheet",
    "receipts",
    "fee_schedule",
    "message_note",
    "id_card",
    "shoe_covers",
    "drop_cloth",
]
"""FLD-1: the default kit list of the policy file."""

DONGYING = (37.4341, 118.6747)


@dataclass(frozen=True)
class Tech:
    """A technician of one journey: id, district served, home base, API key."""

    technician_id: str
    district: str
    lat: float
    lon: float
    skills: tuple[str, ...] = ("water_heater", "range_hood")
    key: str = ""


TECHS: dict[str, Tech] = {
    name: Tech(f"tech-{name}", f"{name}-district", DONGYING[0] + i * 0.05, DONGYING[1])
    for i, name in enumerate(
        [
            "warranty",
            "quote",
            "declined",
            "late",
            "nothome",
            "takeback",
            "part",
            "callback",
            "complaint",
        ]
    )
}
# SCH-6: one district, two technicians; the first is nearer the customer, so SCH-1 picks them.
TECHS["traffic"] = Tech("tech-traffic", "traffic-district", 38.000, 118.6747)
TECHS["relief"] = Tech("tech-relief", "traffic-district", 38.300, 118.6747)
TECHS["gas-near"] = Tech("tech-gas-near", "gas-district", 36.900, 118.500, ("gas_stove",))
TECHS["gas-far"] = Tech("tech-gas-far", "gas-district", 37.100, 118.500, ("gas_stove",))

SCHEDULES: dict[str, dict[str, Any]] = {
    "water_heater": {
        "fees": [{"fee_code": "WH-IGN", "description": "点火系统检修", "price": "60.0"}],
        "parts": [{"part_no": "WH-IGN-01", "name": "脉冲点火器", "price": "45.0"}],
    },
    "range_hood": {
        "fees": [{"fee_code": "RH-MOTOR", "description": "更换电机人工", "price": "80.0"}],
        "parts": [{"part_no": "RH-M-01", "name": "吸油烟机电机", "price": "150.0"}],
    },
    "gas_stove": {
        "fees": [{"fee_code": "GS-VALVE", "description": "更换燃气阀人工", "price": "50.0"}],
        "parts": [{"part_no": "GS-V-01", "name": "燃气阀", "price": "35.0"}],
    },
}


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _today() -> date:
    return datetime.now(TZ).date()


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        f"{response.text}"
    )
    return response.json()


# -- the platform and what every journey needs -------------------------------------------------


@dataclass
class World:
    """The running platform, with the keys the people of the journeys use."""

    platform: Platform
    admin: dict[str, httpx.Client]
    agent: dict[str, httpx.Client]
    dispatcher: dict[str, httpx.Client]
    techs: dict[str, Tech]
    tech_clients: dict[str, dict[str, httpx.Client]] = field(default_factory=dict)
    loaner_serial: str = "LOANER-WH-0001"


def _local_policy(data_dir: Path) -> Path:
    """The deployment's policy file, with the ops switches for local webhook receivers
    (http on 127.0.0.1) that tests and `make run` use."""
    policy = yaml.safe_load((Path(__file__).parents[2] / "policy.yaml").read_text())
    webhooks = policy.get("scheduling", {}).get("webhooks")
    if isinstance(webhooks, dict):
        webhooks.update(allow_private_addresses=True, require_https=False)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True))
    return path


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # FSM_E2E_DATA_DIR keeps the databases and service logs of a run for a post-mortem.
    kept = os.environ.get("FSM_E2E_DATA_DIR")
    data_dir = Path(kept) / uuid.uuid4().hex[:8] if kept else tmp_path_factory.mktemp("journeys")
    running = Platform(data_dir, extra_env={"FSM_POLICY_FILE": str(_local_policy(data_dir))})
    try:
        running.start(within=180)
    except BaseException:
        running.stop()  # never leave half a platform running
        raise
    try:
        yield running
    finally:
        stubborn = running.stop()
    assert not stubborn, f"did not stop within 20 s of SIGTERM: {stubborn}"


def _issue_key(intake: httpx.Client, body: dict[str, Any]) -> str:
    return str(_ok(intake.post("/v1/api-keys", json=body), 201)["key"])


def _clients(platform: Platform, key: str) -> dict[str, httpx.Client]:
    return {
        name: platform.client(name, key=key)
        for name in ("intake", "scheduling", "fieldwork", "billing", "feedback")
    }


def _accepted_everywhere(clients: dict[str, httpx.Client], probes: dict[str, str]) -> None:
    for name, path in probes.items():
        client = clients[name]

        def accepted(c: httpx.Client = client, p: str = path) -> bool:
            return c.get(p).status_code not in (401,)

        wait_for(accepted, within=30, interval=0.2, message=f"{name} accepts the new key")


@pytest.fixture(scope="module")
def world(platform: Platform) -> Iterator[World]:
    admin = _clients(platform, platform.admin_key)
    intake = admin["intake"]
    agent_key = _issue_key(intake, {"name": "坐席 07", "role": "agent"})
    dispatcher_key = _issue_key(intake, {"name": "调度 02", "role": "dispatcher"})
    techs: dict[str, Tech] = {}
    for name, tech in TECHS.items():
        key = _issue_key(
            intake,
            {"name": f"师傅 {name}", "role": "technician", "technician_id": tech.technician_id},
        )
        techs[name] = Tech(
            tech.technician_id, tech.district, tech.lat, tech.lon, tech.skills, key=key
        )
    built = World(
        platform=platform,
        admin=admin,
        agent=_clients(platform, agent_key),
        dispatcher=_clients(platform, dispatcher_key),
        techs=techs,
    )
    built.tech_clients = {name: _clients(platform, t.key) for name, t in techs.items()}
    try:
        # Keys reach every service as events: the first events also wait for the groups to form.
        _accepted_everywhere(
            built.agent, {"intake": "/v1/orders?limit=1", "feedback": "/v1/complaints"}
        )
        _accepted_everywhere(
            built.dispatcher,
            {"scheduling": "/v1/technicians", "fieldwork": "/v1/loaners", "billing": "/v1/cash/x"},
        )
        for name, tech in techs.items():
            _accepted_everywhere(
                built.tech_clients[name],
                {
                    "scheduling": f"/v1/technicians/{tech.technician_id}",
                    "fieldwork": "/v1/visits",
                    "billing": "/v1/fee-schedules/water_heater",
                },
            )
        # SCH-1: technicians with skills, an area each, a home base, on shift around the clock.
        for tech in techs.values():
            _ok(
                built.dispatcher["scheduling"].post(
                    "/v1/technicians",
                    json={
                        "technician_id": tech.technician_id,
                        "name": f"师傅 {tech.technician_id}",
                        "phone": "13905460000",
                        "skills": list(tech.skills),
                        "areas": [tech.district],
                        "home": {"lat": tech.lat, "lon": tech.lon},
                        "shift_start": "00:00",
                        "shift_end": "00:00",  # round the clock: to midnight closing the day
                        "working_days": [0, 1, 2, 3, 4, 5, 6],
                        "daily_capacity": 20,
                    },
                ),
                201,
            )
        # BIL-1: the published fee schedules.
        for line, content in SCHEDULES.items():
            _ok(admin["billing"].post(f"/v1/fee-schedules/{line}/versions", json=content), 201)
        # FLD-6: a loaner in the inventory.
        _ok(
            built.dispatcher["fieldwork"].post(
                "/v1/loaners", json={"serial": built.loaner_serial, "product_line": "water_heater"}
            ),
            201,
        )
        yield built
    finally:
        for clients in [admin, built.agent, built.dispatcher, *built.tech_clients.values()]:
            for client in clients.values():
                client.close()


# -- one journey -------------------------------------------------------------------------------


class Journey:
    """One order driven through the platform, with the timeline it is expected to have."""

    def __init__(self, world: World, tech: str, number: int) -> None:
        self.world = world
        self.tech = world.techs[tech]
        self.tech_name = tech
        self.number = number
        self.order_id = ""
        self.expected: list[str | AnyOrder] = []

    # clients
    @property
    def agent(self) -> dict[str, httpx.Client]:
        return self.world.agent

    @property
    def dispatcher(self) -> dict[str, httpx.Client]:
        return self.world.dispatcher

    @property
    def me(self) -> dict[str, httpx.Client]:
        """The technician's app (their own key)."""
        return self.world.tech_clients[self.tech_name]

    # intake
    def order_body(
        self,
        *,
        line: str = "water_heater",
        model: str = "JSQ24-12",
        purchased: str | None = None,
        fault: str = "热水器打不着火",
        code: str | None = None,
        emergency: bool = False,
        district: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
    ) -> dict[str, Any]:
        purchase = purchased or (_today() - timedelta(days=200)).isoformat()
        return {
            "customer": {
                "name": f"客户{self.number:02d}",
                "phone": f"1390546{self.number:04d}",
                "address": {
                    "province": "山东省",
                    "city": "东营市",
                    "district": district or self.tech.district,
                    "street": "西四路",
                    "detail": f"{100 + self.number}号3单元502",
                    "lat": lat if lat is not None else self.tech.lat + 0.01,
                    "lon": lon if lon is not None else self.tech.lon + 0.01,
                },
            },
            "product": {
                "line": line,
                "brand": "Fotile",
                "model": model,
                "serial": f"SN-{self.number:04d}-{uuid.uuid4().hex[:8]}",
                "purchase_date": purchase,
            },
            "fault": {"description": fault, **({"code": code} if code else {})},
            "requests": "上午在家",
            "channel": "hotline",
            "emergency": emergency,
        }

    def create(self, **kwargs: Any) -> dict[str, Any]:
        created = _ok(self.agent["intake"].post("/v1/orders", json=self.order_body(**kwargs)), 201)
        assert created["duplicate"] is False
        self.order_id = created["id"]
        return created

    def order(self) -> dict[str, Any]:
        return _ok(self.agent["intake"].get(f"/v1/orders/{self.order_id}"))

    def timeline(self) -> list[str]:
        return [e["type"] for e in self.order()["timeline"]]

    def expect(self, *types: str | AnyOrder, within: float = WAIT) -> None:
        """Wait until the order's timeline at intake is exactly what the journey expects."""
        self.expected.extend(types)
        wanted = list(self.expected)
        seen: list[list[str]] = [[]]

        def arrived() -> bool:
            seen[0] = self.timeline()
            return _matches(seen[0], wanted)

        try:
            wait_for(arrived, within=within, interval=0.1, message="the timeline")
        except AssertionError:
            raise AssertionError(
                f"timeline of {self.order_id} at intake after {within} s:\n"
                f"  expected {wanted}\n  actual   {seen[0]}"
            ) from None

    # scheduling
    def dispatch(self) -> dict[str, Any]:
        return _ok(self.dispatcher["scheduling"].get(f"/v1/orders/{self.order_id}"))

    def confirm_appointment(self, start: datetime, end: datetime) -> dict[str, Any]:
        """SCH-2: the technician reaches the customer and agrees the window."""
        return _ok(
            self.me["scheduling"].post(
                f"/v1/orders/{self.order_id}/contact-attempts",
                json={"outcome": "confirmed", "window": {"start": _iso(start), "end": _iso(end)}},
            )
        )

    # fieldwork
    def visit_id(self, number: int) -> str:
        """The id of the order's visit ``number`` (1-based) once fieldwork holds it for me."""

        def found() -> str | None:
            visits = self.dispatch()["visits"]
            if len(visits) < number:
                return None
            visit_id = str(visits[number - 1]["visit_id"])
            seen = self.me["fieldwork"].get(f"/v1/visits/{visit_id}")
            return visit_id if seen.status_code == 200 else None

        return str(wait_for(found, within=WAIT, interval=0.1, message=f"visit {number}"))

    def visit(self, visit_id: str) -> dict[str, Any]:
        return _ok(self.me["fieldwork"].get(f"/v1/visits/{visit_id}"))

    def act(self, visit_id: str, action: dict[str, Any]) -> dict[str, Any]:
        return _ok(
            self.me["fieldwork"].post(f"/v1/visits/{visit_id}/actions", json={"action": action})
        )

    def upload(self, visit_id: str, kind: str) -> str:
        uploaded = self.me["fieldwork"].post(
            f"/v1/visits/{visit_id}/evidence",
            params={"kind": kind},
            content=PNG,
            headers={"Content-Type": "image/png"},
        )
        return str(_ok(uploaded, 201)["ref"])

    def here(self) -> dict[str, float]:
        return {"lat": self.tech.lat + 0.01, "lon": self.tech.lon + 0.01}

    def travel_and_enter(
        self, visit_id: str, *, loaner: str | None = None, eta_minutes: int = 25
    ) -> None:
        """Depart with the kit (FLD-1), arrive (FLD-2), show ID at the door (FLD-3)."""
        depart: dict[str, Any] = {
            "type": "depart",
            "eta": _iso(_now() + timedelta(minutes=eta_minutes)),
            "kit_checked": KIT,
            "position": {"lat": self.tech.lat, "lon": self.tech.lon},
        }
        if loaner:
            depart["loaner_serial"] = loaner
        self.act(visit_id, depart)
        self.act(visit_id, {"type": "arrive", "position": self.here()})
        entered = self.act(
            visit_id,
            {
                "type": "door_outcome",
                "outcome": "customer_present",
                "next_step": "proceed",
                "id_shown": True,
            },
        )
        assert entered["state"] == "diagnosing"

    def repair_and_test(self, visit_id: str, *, started: bool = False) -> dict[str, Any]:
        """Repair, test run, completion (FLD-9)."""
        if not started:
            self.act(visit_id, {"type": "start_repair"})
        self.act(
            visit_id,
            {
                "type": "record_work",
                "description": "更换点火器并清洁燃烧器",
                "parts": [{"part_no": "WH-IGN-01", "name": "脉冲点火器", "serial": "IG2411"}],
            },
        )
        self.act(visit_id, {"type": "start_test"})
        done = self.act(
            visit_id,
            {
                "type": "complete_repair",
                "tested": True,
                "sure_fixed": True,
                "cause": "点火器老化",
                "remedy": "更换点火器",
            },
        )
        assert done["state"] == "completed"
        return done

    def sign_off(self, visit_id: str, rating: str = "very_satisfied") -> dict[str, Any]:
        signature = self.upload(visit_id, "signature")
        return self.act(
            visit_id,
            {
                "type": "sign_off",
                "signed": True,
                "signature_ref": signature,
                "repair_quality": rating,
                "service_attitude": rating,
            },
        )

    def on_site(self) -> dict[str, Any]:
        return _ok(self.agent["fieldwork"].get(f"/v1/orders/{self.order_id}/visits"))

    # billing
    def charge(self) -> dict[str, Any]:
        return _ok(self.agent["billing"].get(f"/v1/orders/{self.order_id}/charge"))

    def wait_charge(self, probe: Callable[[dict[str, Any]], bool], message: str) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            response = self.agent["billing"].get(f"/v1/orders/{self.order_id}/charge")
            if response.status_code != 200:
                return None
            body: dict[str, Any] = response.json()
            return body if probe(body) else None

        return dict(wait_for(ready, within=WAIT, interval=0.1, message=message))

    # feedback
    def call_backs(self) -> list[dict[str, Any]]:
        found = _ok(
            self.agent["feedback"].get("/v1/call-backs", params={"order_id": self.order_id})
        )
        return list(found["items"])

    def call_back(self, rule: str, visit_id: str | None) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for task in self.call_backs():
                if task["reason_rule"] == rule and task["visit_id"] == visit_id:
                    return task
            return None

        return dict(wait_for(found, within=WAIT, interval=0.1, message=f"{rule} call-back"))

    def record_call_back(
        self, task_id: str, *, attitude: int, ability: int, fee: str | None = None
    ) -> dict[str, Any]:
        scores: dict[str, Any] = {
            "service_attitude": attitude,
            "professional_ability": ability,
            "punctuality": "good",
            "dress": "good",
            "fee_charged": fee is not None,
        }
        if fee is not None:
            scores["fee_amount"] = fee
        return _ok(
            self.agent["feedback"].post(
                f"/v1/call-backs/{task_id}/outcome",
                json={"reached": True, "problem_solved": attitude >= 8, "scores": scores},
            )
        )

    def chains(self) -> list[dict[str, Any]]:
        found = _ok(self.agent["feedback"].get(f"/v1/orders/{self.order_id}/revisit-chains"))
        return list(found["chains"])

    def feedback_events(self) -> list[dict[str, Any]]:
        found = _ok(self.agent["feedback"].get(f"/v1/orders/{self.order_id}/events"))
        return list(found["events"])

    def figures(self) -> dict[str, Any]:
        today = _today()
        found = _ok(
            self.agent["feedback"].get(
                "/v1/quality-figures",
                params={"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()},
            )
        )
        rows = {row["key"]: row for row in found["rows"]}
        assert self.tech.technician_id in rows, rows.keys()
        return dict(rows[self.tech.technician_id])

    # common paths
    def take_and_assign(self, **kwargs: Any) -> dict[str, Any]:
        """Intake takes the order; scheduling assigns it to the journey's technician (SCH-1)."""
        created = self.create(**kwargs)
        self.expect("OrderCreated", "OrderAssigned")
        dispatch = self.dispatch()
        assert dispatch["status"] == "assigned"
        assert dispatch["technician_id"] == self.tech.technician_id
        assert dispatch["area"] == self.tech.district
        return created

    def window(self) -> tuple[datetime, datetime]:
        start = _now() + timedelta(minutes=20)
        return start, start + timedelta(hours=2)

    def satisfied_call_back(self, visit_id: str, fee: str | None = None) -> dict[str, Any]:
        task = self.call_back("FBK-3", visit_id)
        assert task["status"] == "open" and task["overdue"] is False
        done = self.record_call_back(task["task_id"], attitude=9, ability=10, fee=fee)
        assert done["status"] == "done" and done["survey"]["satisfied"] is True
        return done


class AnyOrder(tuple[str, ...]):
    """Events of different services reacting to the same event: their order on the timeline
    (by the time each service produced them) is a race, so only the set is asserted."""

    def __new__(cls, *types: str) -> AnyOrder:
        return super().__new__(cls, types)


def _matches(timeline: list[str], expected: list[str | AnyOrder]) -> bool:
    position = 0
    for item in expected:
        if isinstance(item, AnyOrder):
            if sorted(timeline[position : position + len(item)]) != sorted(item):
                return False
            position += len(item)
        else:
            if timeline[position : position + 1] != [item]:
                return False
            position += 1
    return position == len(timeline)


def _summary_of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["summary"] for e in events if e["type"] == kind]


# -- (1) in-warranty repair --------------------------------------------------------------------


def test_in_warranty_repair_is_free_and_followed_up(world: World) -> None:
    j = Journey(world, "warranty", 1)
    created = j.take_and_assign()
    assert created["warranty_status"] == "in_warranty"

    j.confirm_appointment(*j.window())
    j.expect("AppointmentConfirmed")
    visit = j.visit_id(1)
    j.travel_and_enter(visit)
    j.expect("TechnicianDeparted", "TechnicianArrived")
    # BIL-1: in warranty the listed work is quoted for the record, free, without consent.
    diagnosed = j.act(
        visit,
        {
            "type": "diagnose",
            "cause": "点火器老化",
            "work_items": [
                {"kind": "fee", "fee_code": "WH-IGN", "description": "点火系统检修"},
                {"kind": "part", "part_no": "WH-IGN-01", "description": "脉冲点火器"},
            ],
        },
    )
    assert diagnosed["chargeable"] is False
    j.expect("DiagnosisRecorded", "QuoteRequested", "QuoteIssued")
    j.repair_and_test(visit)
    j.expect("RepairCompleted", "VisitClosed", "FollowUpScheduled")
    signed = j.sign_off(visit)
    assert signed["signed_off"]["amount_acknowledged"] in ("0.00", "0", 0)
    j.expect("CustomerSignedOff")
    j.satisfied_call_back(visit)
    j.expect("FollowUpCompleted")

    order = j.order()
    assert order["status"] == "followed_up"
    assert order["technician_id"] == j.tech.technician_id
    clocks = {c["clock"]: c for c in order["sla_clocks"]}
    assert clocks["handover"]["stopped_at"] and clocks["reply"]["stopped_at"]
    assert not any(c["breached_at"] for c in clocks.values())

    dispatch = j.dispatch()
    assert dispatch["status"] == "visit_done"
    assert dispatch["arrived_at"] is not None and len(dispatch["visits"]) == 1

    on_site = j.on_site()
    assert [v["state"] for v in on_site["visits"]] == ["completed"]
    assert on_site["total_on_site_seconds"] == on_site["visits"][0]["on_site_seconds"]

    charge = j.charge()
    assert charge["warranty_status"] == "in_warranty"
    assert [q["total"] for q in charge["quotes"]] == ["0.00"]
    assert all(line["covered_by_warranty"] for line in charge["quotes"][0]["lines"])
    assert charge["summary"]["charge"] == "0.00" and charge["payments"] == []
    assert charge["signature"] is not None and charge["signature"]["amount"] == "0.00"

    figures = j.figures()
    assert figures["arrivals"] == 1 and figures["on_time_rate"] == 1.0
    assert figures["first_time_fix_rate"] == 1.0 and figures["repair_pass_rate"] == 1.0
    assert figures["satisfaction"]["overall"] == 9.5
    assert figures["call_back_coverage"]["percent"] == 100.0


def _publish_as_billing(platform: Platform, payload: Any) -> None:
    """Put ``payload`` on billing's topic as billing's outbox relay does (the retention sweep
    publishes OrderRetentionExpired only a year after an order ends, on the real clock)."""
    envelope = EventEnvelope.wrap(payload)

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=platform.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(
                events_topic("billing"),
                envelope.to_bytes(),
                key=envelope.subject.encode(),
                headers=[("ce_type", envelope.type.encode()), ("ce_id", str(envelope.id).encode())],
            )
        finally:
            await producer.stop()

    asyncio.run(send())


def test_bil_11_retention_over_erases_the_customer_in_every_service(world: World) -> None:
    j = Journey(world, "warranty", 13)
    j.take_and_assign()
    j.confirm_appointment(*j.window())
    visit = j.visit_id(1)
    j.travel_and_enter(visit)
    j.act(visit, {"type": "diagnose", "cause": "点火器老化"})
    j.repair_and_test(visit)
    j.sign_off(visit)
    j.satisfied_call_back(visit)
    j.expect(
        "AppointmentConfirmed",
        "TechnicianDeparted",
        "TechnicianArrived",
        "DiagnosisRecorded",
        "RepairCompleted",
        "VisitClosed",
        AnyOrder("FollowUpScheduled", "CustomerSignedOff"),
        "FollowUpCompleted",
    )
    body = j.order_body()
    name, phone = body["customer"]["name"], body["customer"]["phone"]
    detail = body["customer"]["address"]["detail"]
    views: dict[str, Callable[[], httpx.Response]] = {
        "intake order": lambda: j.agent["intake"].get(f"/v1/orders/{j.order_id}"),
        "fieldwork file": lambda: j.dispatcher["fieldwork"].get(f"/v1/orders/{j.order_id}/events"),
        "feedback file": lambda: j.agent["feedback"].get(f"/v1/orders/{j.order_id}/events"),
    }

    def showing() -> list[str]:
        texts = {where: _ok(view()) for where, view in views.items()}
        return [where for where, text in texts.items() if _mentions(text, name, phone, detail)]

    assert showing() == list(views)  # each service holds the customer until the retention ends
    assert j.dispatch()["location"] is not None  # the customer's home, where the visit went
    assert j.visit(visit)["position"] is not None  # where the technician arrived
    figures = j.figures()
    ended = next(e["time"] for e in j.order()["timeline"] if e["type"] == "VisitClosed")

    _publish_as_billing(
        world.platform,
        OrderRetentionExpired(
            order_id=j.order_id,
            retention_class=RetentionClass.FREE,
            ended_at=datetime.fromisoformat(ended),
            expired_at=_now(),
        ),
    )

    j.expect("OrderRetentionExpired")
    wait_for(lambda: showing() == [], within=WAIT, interval=0.2, message="the erasure")
    order = j.order()
    assert order["status"] == "followed_up" and order["anonymised_at"] is not None
    assert order["customer"]["name"] == ERASED
    by_phone = _ok(j.agent["intake"].get("/v1/orders", params={"phone": phone}))
    assert j.order_id not in [o["id"] for o in by_phone["items"]]
    dispatch, erased_visit = j.dispatch(), j.visit(visit)
    assert (dispatch["status"], dispatch["location"]) == ("visit_done", None)
    assert (erased_visit["state"], erased_visit["position"]) == ("completed", None)
    assert j.figures() == figures


def _mentions(found: Any, *values: str) -> bool:
    """Whether any of ``values`` appears in a REST answer."""
    text = json.dumps(found, ensure_ascii=False)
    return any(value in text for value in values)


# -- (2) out of warranty, quote accepted -------------------------------------------------------


# -- (2) out of warranty, quote accepted -------------------------------------------------------


def _out_of_warranty_diagnosis(j: Journey, visit: str) -> dict[str, Any]:
    diagnosed = j.act(
        visit,
        {
            "type": "diagnose",
            "cause": "电机轴承损坏",
            "parts": [{"part_no": "RH-M-01", "name": "吸油烟机电机"}],
            "work_items": [
                {"kind": "fee", "fee_code": "RH-MOTOR", "description": "更换电机人工"},
                {"kind": "part", "part_no": "RH-M-01", "description": "吸油烟机电机"},
            ],
        },
    )
    assert diagnosed["chargeable"] is True and diagnosed["state"] == "awaiting_consent"
    j.expect("DiagnosisRecorded", "QuoteRequested", "QuoteIssued")

    def issued() -> dict[str, Any] | None:
        quote = j.visit(visit)["quote"]
        return quote if quote and quote["status"] == "issued" else None

    quote = dict(wait_for(issued, within=WAIT, message="quote issued at fieldwork"))
    assert Decimal(quote["total"]) == Decimal("230.00")
    assert quote["schedule_version"] == "range_hood@v1"
    return quote


def test_out_of_warranty_quote_accepted_paid_and_receipted(world: World) -> None:
    j = Journey(world, "quote", 2)
    created = j.take_and_assign(
        line="range_hood", model="CXW-200", purchased="2019-04-01", fault="吸油烟机噪音大不转"
    )
    assert created["warranty_status"] == "out_of_warranty"
    j.confirm_appointment(*j.window())
    j.expect("AppointmentConfirmed")
    visit = j.visit_id(1)
    j.travel_and_enter(visit)
    j.expect("TechnicianDeparted", "TechnicianArrived")

    quote = _out_of_warranty_diagnosis(j, visit)
    # FLD-4: no paid work before the customer's signed consent.
    refused = j.me["fieldwork"].post(
        f"/v1/visits/{visit}/actions", json={"action": {"type": "start_repair"}}
    )
    assert refused.status_code == 409 and refused.json()["rule"] == "FLD-4"
    consent = j.upload(visit, "signature")
    accepted = j.act(
        visit, {"type": "accept_quote", "quote_id": quote["quote_id"], "signature_ref": consent}
    )
    assert accepted["state"] == "repairing"
    j.expect("QuoteAccepted")
    j.repair_and_test(visit, started=True)
    j.expect("RepairCompleted", "VisitClosed", "FollowUpScheduled")
    signed = j.sign_off(visit)
    assert Decimal(signed["signed_off"]["amount_acknowledged"]) == Decimal("230.00")
    j.expect("CustomerSignedOff")

    # BIL-7: the technician takes the payment; a receipt always.
    j.wait_charge(lambda c: c["accepted_quote_id"] == quote["quote_id"], "quote accepted")
    paid = _ok(
        j.me["billing"].post(
            f"/v1/orders/{j.order_id}/payments", json={"method": "mobile", "amount": "230.00"}
        ),
        201,
    )
    receipt = paid["receipt_number"]
    assert receipt and paid["summary"]["balance"] == "0.00"
    j.expect("PaymentCollected", "ReceiptIssued")
    j.satisfied_call_back(visit, fee="230.00")
    j.expect("FollowUpCompleted")

    assert j.order()["status"] == "followed_up"
    assert j.order()["warranty_status"] == "out_of_warranty"
    assert j.dispatch()["status"] == "visit_done"
    assert [v["state"] for v in j.on_site()["visits"]] == ["completed"]
    final_visit = j.visit(visit)
    assert final_visit["quote"]["status"] == "accepted"
    assert final_visit["quote"]["signature_ref"] == consent

    charge = j.charge()
    assert charge["warranty_status"] == "out_of_warranty"
    assert charge["accepted_quote_id"] == quote["quote_id"]
    assert charge["summary"] == {
        "quoted": "230.00",
        "waived": "0.00",
        "held": "0.00",
        "charge": "230.00",
        "paid": "230.00",
        "balance": "0.00",
        "schedule_version": "range_hood@v1",
    }
    assert [(p["receipt_number"], p["amount"]) for p in charge["payments"]] == [(receipt, "230.00")]
    assert charge["signature"]["amount"] == "230.00"
    assert charge["signature"]["matches_charge"] is True

    fraud = _ok(j.agent["feedback"].get("/v1/fraud-suspicions", params={"order_id": j.order_id}))
    assert not [f for f in fraud["items"] if f["order_id"] == j.order_id]
    assert j.figures()["satisfaction"]["overall"] == 9.5


# -- (3) quote declined ------------------------------------------------------------------------


def test_quote_declined_ends_the_visit_without_work_or_charge(world: World) -> None:
    j = Journey(world, "declined", 3)
    j.take_and_assign(
        line="range_hood", model="CXW-218", purchased="2018-09-09", fault="吸油烟机不转"
    )
    j.confirm_appointment(*j.window())
    j.expect("AppointmentConfirmed")
    visit = j.visit_id(1)
    j.travel_and_enter(visit)
    j.expect("TechnicianDeparted", "TechnicianArrived")
    quote = _out_of_warranty_diagnosis(j, visit)
    declined = j.act(
        visit,
        {
            "type": "decline_quote",
            "quote_id": quote["quote_id"],
            "reason": "客户觉得太贵，考虑换新",
        },
    )
    assert declined["state"] == "declined"
    # FBK-3 call-back, and FBK-12: the declined visit leaves an issue for the department.
    j.expect("QuoteDeclined", "VisitClosed", "FollowUpScheduled", "IssueEscalated")
    # FLD-4: no consent, no work.
    refused = j.me["fieldwork"].post(
        f"/v1/visits/{visit}/actions", json={"action": {"type": "start_repair"}}
    )
    assert refused.status_code == 409
    j.satisfied_call_back(visit)
    j.expect("FollowUpCompleted")

    assert j.order()["status"] == "followed_up"
    assert [v["state"] for v in j.on_site()["visits"]] == ["declined"]
    charge = j.wait_charge(
        lambda c: [q["status"] for q in c["quotes"]] == ["declined"], "quote declined"
    )
    assert charge["accepted_quote_id"] is None
    assert charge["summary"]["charge"] == "0.00" and charge["payments"] == []
    # BIL-1: nothing may be charged without an accepted quote.
    refused_payment = j.me["billing"].post(
        f"/v1/orders/{j.order_id}/payments", json={"method": "cash", "amount": "80.00"}
    )
    assert refused_payment.status_code == 409
    closed = _summary_of(j.feedback_events(), "VisitClosed")
    assert closed and closed[0]["outcome"] == "declined" and closed[0]["paid_work"] is False
    # The visit is over: the technician no longer holds it.
    assert j.dispatch()["status"] == "visit_done"


# -- (4) arrival 20 minutes late ---------------------------------------------------------------


def test_arrival_20_minutes_late_is_announced_before_the_appointment_with_a_gift(
    world: World,
) -> None:
    j = Journey(world, "late", 4)
    j.take_and_assign()
    # The appointment window opens in five minutes; the technician's position ping, sent now
    # (the server's clock decides whether the warning comes before the appointment, SCH-6), has
    # an ETA that misses the window by 20 minutes. He then makes up the time.
    now = _now()
    start = now + timedelta(minutes=5)
    end = start + timedelta(minutes=60)
    j.confirm_appointment(start, end)
    j.expect("AppointmentConfirmed")
    jobs = _ok(
        j.me["scheduling"].post(
            f"/v1/technicians/{j.tech.technician_id}/position",
            json={
                "position": {"lat": j.tech.lat, "lon": j.tech.lon},
                "eta": _iso(end + timedelta(minutes=20)),
                "order_id": j.order_id,
            },
        )
    )
    assert [o["order_id"] for o in jobs] == [j.order_id]
    j.expect("ArrivalLate")
    visit = j.visit_id(1)
    j.travel_and_enter(visit, eta_minutes=1)
    j.expect("TechnicianDeparted", "TechnicianArrived")
    j.act(visit, {"type": "diagnose", "cause": "点火针积碳"})
    j.repair_and_test(visit)
    j.expect("DiagnosisRecorded", "RepairCompleted", "VisitClosed", "FollowUpScheduled")
    j.sign_off(visit)
    j.expect("CustomerSignedOff")

    [predicted] = _summary_of(j.feedback_events(), "ArrivalLate")
    # SCH-6/SCH-7: told before the appointment, 20 minutes → apology and a small gift.
    assert predicted["kind"] == "predicted" and predicted["minutes_late"] == 20
    assert predicted["action"] == "apology_and_gift" and predicted["customer_notified"] is True
    assert datetime.fromisoformat(predicted["expected_arrival"]) == end + timedelta(minutes=20)

    assert j.order()["status"] == "completed"
    dispatch = j.dispatch()
    assert dispatch["status"] == "visit_done" and dispatch["arrived_at"] is not None
    assert [v["state"] for v in j.on_site()["visits"]] == ["completed"]
    assert j.charge()["summary"]["charge"] == "0.00"
    figures = j.figures()
    assert figures["arrivals"] == 1 and figures["on_time_rate"] == 1.0


# -- (4b) late in traffic → the centre sends someone else → the new technician does the work ---


def test_late_in_traffic_the_centre_sends_someone_else_who_completes(world: World) -> None:
    j = Journey(world, "traffic", 12)
    j.take_and_assign()
    now = _now()
    start = now + timedelta(minutes=10)
    end = start + timedelta(minutes=60)
    j.confirm_appointment(start, end)
    j.expect("AppointmentConfirmed")
    visit = j.visit_id(1)
    # On the way, stuck in traffic: the ETA given at departure misses the window by 45 minutes,
    # before the appointment, so the customer is told and offered someone else (SCH-6, SCH-7).
    j.act(
        visit,
        {
            "type": "depart",
            "eta": _iso(end + timedelta(minutes=45)),
            "kit_checked": KIT,
            "position": {"lat": j.tech.lat, "lon": j.tech.lon},
        },
    )
    j.expect("TechnicianDeparted", "ArrivalLate")
    stuck = j.tech
    stuck_app = j.me

    # The centre sends the other technician of the district (SCH-6, SCH-8, SCH-12).
    relief = world.techs["relief"]
    moved = _ok(
        j.dispatcher["scheduling"].post(
            f"/v1/orders/{j.order_id}/assignment",
            json={"technician_id": relief.technician_id, "reason": "原师傅堵车，客户同意改派"},
        )
    )
    assert moved["technician_id"] == relief.technician_id and moved["status"] == "assigned"
    j.expect("OrderReassigned")
    j.tech, j.tech_name = relief, "relief"

    # Fieldwork called the first trip off: the stuck technician can no longer arrive on it.
    def handed_on() -> dict[str, Any] | None:
        seen = j.me["fieldwork"].get(f"/v1/visits/{visit}")
        return seen.json() if seen.status_code == 200 else None

    held = dict(wait_for(handed_on, within=WAIT, interval=0.1, message="visit handed on"))
    assert held["state"] == "scheduled" and held["technician_id"] == relief.technician_id
    [trip] = held["trips_called_off"]
    assert (trip["technician_id"], trip["handed_to"]) == (
        stuck.technician_id,
        relief.technician_id,
    )
    too_late = stuck_app["fieldwork"].post(
        f"/v1/visits/{visit}/actions", json={"action": {"type": "arrive"}}
    )
    assert too_late.status_code in (404, 409), too_late.text
    assert too_late.headers["content-type"].startswith("application/problem+json")

    # The relief technician goes, does the work, and the order ends with them.
    j.travel_and_enter(visit, eta_minutes=15)
    j.expect("TechnicianDeparted", "TechnicianArrived")
    j.act(visit, {"type": "diagnose", "cause": "点火器老化"})
    j.repair_and_test(visit)
    j.expect("DiagnosisRecorded", "RepairCompleted", "VisitClosed", "FollowUpScheduled")
    j.sign_off(visit)
    j.expect("CustomerSignedOff")
    j.satisfied_call_back(visit)
    j.expect("FollowUpCompleted")

    order = j.order()
    assert order["status"] == "followed_up"
    assert order["technician_id"] == relief.technician_id
    dispatch = j.dispatch()
    assert dispatch["status"] == "visit_done" and dispatch["technician_id"] == relief.technician_id
    assert len(dispatch["visits"]) == 1
    audit = [
        e["action"] for e in _ok(j.dispatcher["scheduling"].get(f"/v1/orders/{j.order_id}/audit"))
    ]
    assert "trip_called_off" in audit
    on_site = j.on_site()
    assert [v["state"] for v in on_site["visits"]] == ["completed"]
    done = j.visit(visit)
    assert done["technician_id"] == relief.technician_id and len(done["trips_called_off"]) == 1
    # SCH-7: the lateness was the stuck technician's; the relief technician arrived in time.
    [predicted] = _summary_of(j.feedback_events(), "ArrivalLate")
    assert predicted["technician_id"] == stuck.technician_id
    assert predicted["kind"] == "predicted" and predicted["minutes_late"] == 45
    assert predicted["action"] == "apology_and_gift"
    figures = j.figures()
    assert figures["arrivals"] == 1 and figures["first_time_fix_rate"] == 1.0
    assert j.charge()["summary"]["charge"] == "0.00"


# -- (5) customer not home → rebooked → done ---------------------------------------------------


def test_customer_not_home_is_rebooked_and_done(world: World) -> None:
    j = Journey(world, "nothome", 5)
    j.take_and_assign()
    # The technician is at the door, his app reporting where he is: the window agreed now is
    # kept from there at any hour, the minute before midnight included (SCH-3).
    j.me["scheduling"].post(
        f"/v1/technicians/{j.tech.technician_id}/position", json={"position": j.here()}
    ).raise_for_status()
    now = _now()
    j.confirm_appointment(now - timedelta(minutes=30), now + timedelta(minutes=60))
    j.expect("AppointmentConfirmed")
    first = j.visit_id(1)
    # FLD-2, recorded by the app offline: a knock every 30 s for 5 minutes, then a call that
    # does not reach the customer, then a note.
    arrived = now - timedelta(minutes=10)
    knocks: list[tuple[datetime, dict[str, Any]]] = [
        (arrived + timedelta(seconds=15 + 30 * n), {"type": "log_attempt", "kind": "door"})
        for n in range(10)
    ]
    steps: list[tuple[datetime, dict[str, Any]]] = [
        (
            now - timedelta(minutes=20),
            {"type": "depart", "eta": _iso(arrived), "kit_checked": KIT},
        ),
        (arrived, {"type": "arrive", "position": j.here()}),
        *knocks,
        (arrived + timedelta(minutes=5, seconds=10), {"type": "log_attempt", "kind": "phone"}),
        (
            arrived + timedelta(minutes=6),
            {
                "type": "not_home",
                "note": "上门未遇，请致电 13905460000 改约",
                "neighbours_asked": True,
            },
        ),
    ]
    batch = _ok(
        j.me["fieldwork"].post(
            "/v1/offline/batches",
            json={
                "actions": [
                    {
                        "client_id": str(uuid.uuid4()),
                        "visit_id": first,
                        "occurred_at": _iso(at),
                        "action": action,
                    }
                    for at, action in steps
                ]
            },
        )
    )
    assert [r["status"] for r in batch["results"]] == ["applied"] * len(steps), batch
    j.expect(
        "TechnicianDeparted",
        "TechnicianArrived",
        "CustomerNotHome",
        "VisitClosed",
        "OrderReturnedToCentre",
        "RevisitBooked",
    )
    waiting = j.dispatch()
    assert waiting["status"] == "awaiting_assignment" and len(waiting["visits"]) == 2
    assert waiting["visits"][1]["reason"].startswith("customer_not_home")
    # The dispatcher rebooks it (SCH-12) with the same technician.
    _ok(
        j.dispatcher["scheduling"].post(
            f"/v1/orders/{j.order_id}/assignment",
            json={"technician_id": j.tech.technician_id, "reason": "客户来电改约今天下午"},
        )
    )
    j.expect("OrderAssigned")
    second = j.visit_id(2)
    assert second != first
    j.confirm_appointment(*j.window())
    j.expect("AppointmentConfirmed")
    j.travel_and_enter(second)
    j.act(second, {"type": "diagnose", "cause": "点火器老化"})
    j.repair_and_test(second)
    j.expect(
        "TechnicianDeparted",
        "TechnicianArrived",
        "DiagnosisRecorded",
        "RepairCompleted",
        "VisitClosed",
        "FollowUpScheduled",
    )

    assert j.order()["status"] == "completed"
    dispatch = j.dispatch()
    assert dispatch["status"] == "visit_done" and dispatch["visit_id"] == second
    on_site = j.on_site()
    assert [v["state"] for v in on_site["visits"]] == ["not_home", "completed"]
    assert on_site["visits"][0]["on_site_seconds"] == 6 * 60
    assert on_site["total_on_site_seconds"] == sum(v["on_site_seconds"] for v in on_site["visits"])
    # FBK-3: no call-back about a door nobody opened; one about the visit that did the work.
    assert [(t["reason_rule"], t["visit_id"]) for t in j.call_backs()] == [("FBK-3", second)]
    assert j.charge()["summary"]["charge"] == "0.00"


# -- (6) take-back with a loaner, and the return -----------------------------------------------


def test_take_back_with_loaner_and_return(world: World) -> None:
    j = Journey(world, "takeback", 6)
    created = j.take_and_assign(fault="热水器主板烧坏无显示", code="mainboard_burnt")
    assert created["loaner_required"] is True  # INT-6
    assert j.dispatch()["loaner_required"] is True
    j.confirm_appointment(*j.window())
    j.expect("AppointmentConfirmed")
    visit = j.visit_id(1)
    # FLD-1: without the loaner the kit is not complete.
    refused = j.me["fieldwork"].post(
        f"/v1/visits/{visit}/actions",
        json={"action": {"type": "depart", "eta": _iso(_now()), "kit_checked": KIT}},
    )
    assert refused.status_code == 409 and refused.json()["rule"] == "FLD-1"
    j.travel_and_enter(visit, loaner=world.loaner_serial)
    j.expect("TechnicianDeparted", "TechnicianArrived")
    j.act(visit, {"type": "diagnose", "cause": "主板烧坏，需返厂", "take_back_needed": True})
    j.expect("DiagnosisRecorded")
    photo = j.upload(visit, "photo")
    receipt = f"TB-{uuid.uuid4().hex[:10]}"
    promised = _today() + timedelta(days=7)
    taken = j.act(
        visit,
        {
            "type": "take_back",
            "receipt_number": receipt,
            "appearance": "外壳左侧轻微划痕，面板完好",
            "photo_refs": [photo],
            "promised_return_date": promised.isoformat(),
            "unit_serial": "WH-UNIT-0006",
        },
    )
    assert taken["state"] == "taken_back"
    j.expect("UnitTakenBack", "VisitClosed", "FollowUpScheduled")
    assert j.order()["status"] == "taken_back"
    loaners = {x["serial"]: x for x in _ok(j.dispatcher["fieldwork"].get("/v1/loaners"))["items"]}
    assert loaners[world.loaner_serial]["state"] == "lent"
    assert loaners[world.loaner_serial]["order_id"] == j.order_id

    _ok(
        j.dispatcher["fieldwork"].post(
            f"/v1/take-backs/{receipt}/progress", json={"stage": "维修完成", "note": "更换主板"}
        )
    )
    j.expect("WorkshopProgressRecorded")  # the centre sees the workshop's step (FLD-6)
    returned = _ok(
        j.me["fieldwork"].post(
            f"/v1/take-backs/{receipt}/return",
            json={"repaired": True, "loaner_recovered": True, "loaner_condition": "good"},
        )
    )
    assert returned["returned_at"] is not None and returned["repaired"] is True
    j.expect("UnitReturned", "FollowUpScheduled")  # FBK-3: a call-back after the return too

    assert j.order()["status"] == "completed"
    take_back = _ok(j.dispatcher["fieldwork"].get(f"/v1/take-backs/{receipt}"))
    assert take_back["loaner_serial"] == world.loaner_serial
    assert take_back["promised_return_date"] == promised.isoformat()
    assert [p["stage"] for p in take_back["progress"]] == ["维修完成"]
    loaners = {x["serial"]: x for x in _ok(j.dispatcher["fieldwork"].get("/v1/loaners"))["items"]}
    assert loaners[world.loaner_serial]["state"] == "available"
    assert [v["state"] for v in j.on_site()["visits"]] == ["taken_back"]
    charge = j.charge()
    assert charge["summary"]["charge"] == "0.00" and charge["quotes"] == []
    assert [t["reason_rule"] for t in j.call_backs()] == ["FBK-3", "FBK-3"]
    # The visit is over: the technician no longer holds it.
    assert j.dispatch()["status"] == "visit_done"


# -- (7) repair failed for a missing part → revisit --------------------------------------------


def test_missing_part_books_a_revisit_with_the_same_technician(world: World) -> None:
    j = Journey(world, "part", 7)
    j.take_and_assign()
    j.confirm_appointment(*j.window())
    j.expect("AppointmentConfirmed")
    first = j.visit_id(1)
    j.travel_and_enter(first)
    j.act(first, {"type": "diagnose", "cause": "燃气比例阀损坏"})
    failed = j.act(
        first,
        {
            "type": "missing_part",
            "option": "rebook",
            "parts": [{"part_no": "WH-VALVE-02", "name": "燃气比例阀"}],
            "detail": "车上无此型号比例阀",
            "next_visit_agreed": True,
        },
    )
    assert failed["state"] == "rebook"
    j.expect(
        "TechnicianDeparted",
        "TechnicianArrived",
        "DiagnosisRecorded",
        "RepairFailed",
        "VisitClosed",
        # scheduling books the revisit (SCH-10) while feedback escalates the open issue
        # (FBK-12) and schedules the visit's call-back (FBK-3)
        AnyOrder("RevisitBooked", "IssueEscalated", "FollowUpScheduled"),
    )
    dispatch = j.dispatch()
    assert dispatch["status"] == "assigned"
    assert dispatch["technician_id"] == j.tech.technician_id
    assert dispatch["visits"][1]["reason"].startswith("missing_part")
    second = j.visit_id(2)
    j.confirm_appointment(*j.window())
    j.expect("AppointmentConfirmed")
    j.travel_and_enter(second)
    j.act(second, {"type": "diagnose", "cause": "燃气比例阀损坏，已带配件"})
    j.repair_and_test(second)
    j.expect(
        "TechnicianDeparted",
        "TechnicianArrived",
        "DiagnosisRecorded",
        "RepairCompleted",
        "VisitClosed",
        "FollowUpScheduled",
    )

    assert j.order()["status"] == "completed"
    assert j.dispatch()["status"] == "visit_done"
    assert [v["state"] for v in j.on_site()["visits"]] == ["rebook", "completed"]
    figures = j.figures()
    assert figures["first_time_fix_rate"] == 0.0  # FBK-11: the first visit did not fix it
    assert figures["repeat_visit_rate"] == 0.5
    issues = _ok(j.agent["feedback"].get("/v1/issues", params={"order_id": j.order_id}))
    assert issues["items"], "FBK-12: the failed visit leaves an open issue"


# -- (8) dissatisfied call-back → revisit → satisfied ------------------------------------------


def test_dissatisfied_call_back_revisit_until_satisfied(world: World) -> None:
    j = Journey(world, "callback", 8)
    j.take_and_assign()
    j.confirm_appointment(*j.window())
    j.expect("AppointmentConfirmed")
    first = j.visit_id(1)
    j.travel_and_enter(first)
    j.act(first, {"type": "diagnose", "cause": "点火器老化"})
    j.repair_and_test(first)
    j.expect(
        "TechnicianDeparted",
        "TechnicianArrived",
        "DiagnosisRecorded",
        "RepairCompleted",
        "VisitClosed",
        "FollowUpScheduled",
    )
    j.sign_off(first, rating="satisfied")
    j.expect("CustomerSignedOff")
    task = j.call_back("FBK-3", first)
    unhappy = j.record_call_back(task["task_id"], attitude=4, ability=3)
    assert unhappy["survey"]["satisfied"] is False
    # FBK-7: a revisit, with the technician of the area (SCH-1).
    # FBK-7 revisit, FBK-12 open issue, FBK-8 the sheet signed "satisfied" is contradicted:
    # all three from the one call-back.
    j.expect(
        "FollowUpCompleted",
        AnyOrder("IssueEscalated", "FraudSuspected", "RevisitRequested"),
        "RevisitBooked",
        "OrderAssigned",
    )
    chains = j.chains()
    assert len(chains) == 1 and chains[0]["status"] == "open"
    second = j.visit_id(2)
    assert j.dispatch()["visits"][1]["reason"].startswith("customer_dissatisfied")
    j.confirm_appointment(*j.window())
    j.travel_and_enter(second)
    j.act(second, {"type": "diagnose", "cause": "燃烧器堵塞"})
    j.repair_and_test(second)
    j.expect(
        "AppointmentConfirmed",
        "TechnicianDeparted",
        "TechnicianArrived",
        "DiagnosisRecorded",
        "RepairCompleted",
        "VisitClosed",
        "FollowUpScheduled",
    )
    j.satisfied_call_back(second)
    j.expect("FollowUpCompleted")

    (chain,) = j.chains()
    assert chain["status"] == "closed" and chain["visit_ids"] == [second]
    assert chain["origin_visit_id"] == first and chain["revisits_requested"] == 1
    assert j.order()["status"] == "followed_up"
    assert [v["state"] for v in j.on_site()["visits"]] == ["completed", "completed"]
    assert j.dispatch()["status"] == "visit_done"
    # FBK-8: the sheet was signed "satisfied" but the customer was not: flagged.
    fraud = _ok(j.agent["feedback"].get("/v1/fraud-suspicions", params={"order_id": j.order_id}))
    assert [f["signal"] for f in fraud["items"] if f["order_id"] == j.order_id] == [
        "contradicted_sign_off"
    ]
    figures = j.figures()
    assert figures["repairs"] == 2 and figures["repair_pass_rate"] == 0.5
    assert figures["satisfaction"]["surveys"] == 2


# -- (9) a class-A complaint closed with cause and preventive action ---------------------------


def test_class_a_complaint_is_closed_with_cause_and_preventive_action(world: World) -> None:
    j = Journey(world, "complaint", 9)
    j.take_and_assign()
    j.confirm_appointment(*j.window())
    visit = j.visit_id(1)
    j.travel_and_enter(visit)
    j.act(visit, {"type": "diagnose", "cause": "点火器老化"})
    j.repair_and_test(visit)
    j.expect(
        "AppointmentConfirmed",
        "TechnicianDeparted",
        "TechnicianArrived",
        "DiagnosisRecorded",
        "RepairCompleted",
        "VisitClosed",
        "FollowUpScheduled",
    )
    # INT-9 / FBK-9: the customer says the technician asked for a "tip" — class A.
    filed = _ok(
        j.agent["feedback"].post(
            "/v1/complaints",
            json={
                "channel": "hotline",
                "description": "维修师傅索要红包 50 元",
                "confirmed_by_customer": True,
                "order_id": j.order_id,
                "level": 1,
                "staff_fault_class": "A",
                "technician_id": j.tech.technician_id,
            },
        ),
        201,
    )
    complaint = filed["complaint_id"]
    assert filed["stage"] == "accepted"
    j.expect("ComplaintFiled")
    for stage, owner in [
        ("dispatched", "服务经理 张"),
        ("handled", "服务经理 张"),
        ("fed_back", "服务经理 张"),
        ("replied", "坐席 07"),
        ("followed_up", "服务经理 张"),
    ]:
        moved = _ok(
            j.agent["feedback"].post(
                f"/v1/complaints/{complaint}/advance", json={"to": stage, "owner": owner}
            )
        )
        assert moved["stage"] == stage
    # FBK-10: nothing closes without a cause, an owner and a preventive action.
    incomplete = j.agent["feedback"].post(
        f"/v1/complaints/{complaint}/close",
        json={"cause": "", "owner": "服务经理 张", "preventive_action": "", "at_fault": True},
    )
    assert incomplete.status_code == 422
    closed = _ok(
        j.agent["feedback"].post(
            f"/v1/complaints/{complaint}/close",
            json={
                "cause": "师傅违规索要红包",
                "owner": "服务经理 张",
                "preventive_action": "全员重申六不准，回访抽查收费",
                "at_fault": True,
                "staff_fault_class": "A",
                "summary": "已退还 50 元并道歉，客户接受",
            },
        )
    )
    assert closed["stage"] == "closed"
    j.expect("ComplaintClosed")

    stored = _ok(j.agent["feedback"].get(f"/v1/complaints/{complaint}"))
    assert stored["closure"]["cause"] == "师傅违规索要红包"
    assert stored["closure"]["preventive_action"] == "全员重申六不准，回访抽查收费"
    assert stored["closure"]["at_fault"] is True
    assert stored["closure"]["staff_fault_class"] == "A"
    assert [s["stage"] for s in stored["stages"]] == [
        "accepted",
        "dispatched",
        "handled",
        "fed_back",
        "replied",
        "followed_up",
        "closed",
    ]
    assert j.figures()["complaints_by_class"]["A"] == 1
    assert j.order()["status"] == "completed"
    assert [v["state"] for v in j.on_site()["visits"]] == ["completed"]
    assert j.dispatch()["status"] == "visit_done"
    assert j.charge()["summary"]["charge"] == "0.00"


# -- (10) an emergency -------------------------------------------------------------------------


def test_emergency_gets_the_nearest_technician_on_site_within_15_minutes(world: World) -> None:
    j = Journey(world, "gas-near", 10)
    created = j.create(
        line="gas_stove",
        model="JZT-FD21BE",
        fault="灶具周围有燃气味",
        code="gas_leak",
        emergency=True,
        district="gas-district",
        lat=36.95,
        lon=118.50,
    )
    assert created["emergency"] is True
    taken_at = datetime.fromisoformat(created["created_at"])
    assert datetime.fromisoformat(created["on_site_due_at"]) == taken_at + timedelta(minutes=15)
    j.expect("OrderCreated", "OrderAssigned")
    dispatch = j.dispatch()
    # INT-7: the nearest technician on shift (5.6 km vs 16.7 km), no appointment negotiated.
    assert dispatch["technician_id"] == world.techs["gas-near"].technician_id
    appointment = dispatch["appointment"]
    assert datetime.fromisoformat(appointment["end"]) - datetime.fromisoformat(
        appointment["start"]
    ) == timedelta(minutes=15)
    audit = _ok(j.dispatcher["scheduling"].get(f"/v1/orders/{j.order_id}/audit"))
    assert audit[0]["reason"].startswith("emergency: nearest technician on shift")

    visit = j.visit_id(1)
    j.travel_and_enter(visit, eta_minutes=10)
    j.expect("TechnicianDeparted", "TechnicianArrived")
    order = j.order()
    assert order["status"] == "on_site"
    on_site = {c["clock"]: c for c in order["sla_clocks"]}["emergency_on_site"]
    assert on_site["stopped_at"] is not None and on_site["breached_at"] is None
    assert datetime.fromisoformat(on_site["stopped_at"]) <= datetime.fromisoformat(
        on_site["due_at"]
    )
    j.act(visit, {"type": "diagnose", "cause": "燃气阀密封圈老化漏气"})
    j.act(visit, {"type": "start_repair"})
    j.act(visit, {"type": "start_test"})
    j.act(visit, {"type": "complete_repair", "tested": True, "sure_fixed": True})
    j.expect("DiagnosisRecorded", "RepairCompleted", "VisitClosed", "FollowUpScheduled")

    assert j.order()["status"] == "completed"
    assert j.dispatch()["status"] == "visit_done"
    assert [v["state"] for v in j.on_site()["visits"]] == ["completed"]
    assert j.charge()["warranty_status"] == "in_warranty"
    far = world.techs["gas-far"].technician_id
    jobs = _ok(j.dispatcher["scheduling"].get(f"/v1/technicians/{far}/jobs"))
    assert jobs == []


# -- (11) an order served by a partner network -------------------------------------------------


class Receiver:
    """A partner network's webhook endpoint: a real HTTP server on 127.0.0.1 keeping every POST."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                received.append(
                    ({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/fsm-webhooks"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    try:
        yield running
    finally:
        running.stop()


def test_order_served_by_a_partner_network_over_rest_and_webhooks(
    world: World, receiver: Receiver
) -> None:
    from standardwebhooks.webhooks import Webhook

    paths = _ok(world.admin["scheduling"].get("/openapi.json"))["paths"]
    needed = ["/v1/webhooks/subscriptions", "/v1/orders/{order_id}/acceptance"]
    if any(p not in paths for p in needed):
        pytest.skip(f"scheduling's partner-network API is not there yet (missing {needed})")

    network = "net-partner-01"
    district = "partner-district"
    admin_intake = world.admin["intake"]
    partner_key = _issue_key(
        admin_intake, {"name": "东营网点", "role": "partner", "network_id": network}
    )
    nt_key = _issue_key(
        admin_intake,
        {"name": "网点师傅 李", "role": "technician", "technician_id": "tech-net-01"},
    )
    partner = _clients(world.platform, partner_key)
    world.techs["partner-tech"] = Tech("tech-net-01", district, 37.80, 118.60, key=nt_key)
    world.tech_clients["partner-tech"] = _clients(world.platform, nt_key)
    try:
        _accepted_everywhere(
            partner,
            {"scheduling": "/v1/webhooks/subscriptions", "intake": "/v1/orders?limit=1"},
        )
        _accepted_everywhere(world.tech_clients["partner-tech"], {"fieldwork": "/v1/visits"})
        _ok(
            world.dispatcher["scheduling"].post(
                "/v1/networks",
                json={
                    "network_id": network,
                    "name": "东营网点",
                    "skills": ["water_heater"],
                    "areas": [district],
                },
            ),
            201,
        )
        subscribed = _ok(
            partner["scheduling"].post("/v1/webhooks/subscriptions", json={"url": receiver.url}),
            201,
        )
        secret = subscribed["secret"]
        # BIL-12: the network's rate card, published by the centre, prices its repair fees.
        card = _ok(
            world.admin["billing"].post(
                f"/v1/rate-cards/{network}/versions",
                json={
                    "rates": [
                        {"product_line": "water_heater", "kind": "repair", "amount": "66.50"},
                        {"product_line": "*", "kind": "repair", "amount": "40.00"},
                    ]
                },
            ),
            201,
        )
        in_force = _ok(partner["billing"].get(f"/v1/rate-cards/{network}"))
        assert in_force["version"] == card["version"]

        j = Journey(world, "partner-tech", 11)
        j.create(district=district, lat=37.81, lon=118.61)
        j.expect("OrderCreated", "OrderAssigned")
        given = _ok(partner["scheduling"].get(f"/v1/orders/{j.order_id}"))
        # SCH-1: no own technician serves the district: the order goes to the network.
        assert given["assignee_kind"] == "network" and given["network_id"] == network
        _ok(partner["scheduling"].post(f"/v1/orders/{j.order_id}/acceptance"))
        # The network's technician joins; only the network's dispatcher gives them work (SCH-12).
        _ok(
            world.dispatcher["scheduling"].post(
                "/v1/technicians",
                json={
                    "technician_id": "tech-net-01",
                    "name": "网点师傅 李",
                    "skills": ["water_heater"],
                    "areas": [district],
                    "home": {"lat": 37.80, "lon": 118.60},
                    "shift_start": "00:00",
                    "shift_end": "00:00",  # round the clock: to midnight closing the day
                    "working_days": [0, 1, 2, 3, 4, 5, 6],
                    "network_id": network,
                },
            ),
            201,
        )
        _ok(
            partner["scheduling"].post(
                f"/v1/orders/{j.order_id}/assignment",
                json={"technician_id": "tech-net-01", "reason": "网点派李师傅"},
            )
        )
        start, end = j.window()
        _ok(
            partner["scheduling"].post(
                f"/v1/orders/{j.order_id}/contact-attempts",
                json={"outcome": "confirmed", "window": {"start": _iso(start), "end": _iso(end)}},
            )
        )
        j.expect("OrderReassigned", "AppointmentConfirmed")
        visit = j.visit_id(1)
        j.travel_and_enter(visit)
        j.act(visit, {"type": "diagnose", "cause": "点火器老化"})
        j.repair_and_test(visit)
        j.expect(
            "TechnicianDeparted",
            "TechnicianArrived",
            "DiagnosisRecorded",
            "RepairCompleted",
            "VisitClosed",
            "FollowUpScheduled",
        )

        # Webhooks: signed per Standard Webhooks, the network's order only.
        verifier = Webhook(secret)

        wanted = {
            f"fsm.{name}.v1"
            for name in (
                "OrderAssigned",
                "OrderReassigned",
                "AppointmentConfirmed",
                "RepairCompleted",
                "RateCardVersionPublished",  # BIL-12: the network is told of its new card
            )
        }

        def delivered() -> list[str] | None:
            types = []
            for headers, body in list(receiver.received):
                payload = verifier.verify(body, headers)
                if payload["subject"] == j.order_id:
                    types.append(payload["type"])
                elif (
                    payload["subject"] == network and payload["data"].get("label") == card["label"]
                ):
                    assert payload["data"]["rates"] == card["rates"]
                    types.append(payload["type"])
            # Deliveries go out concurrently and a failed one is retried later, so they arrive
            # in any order: wait for every one expected, not for the last event of the journey.
            return types if wanted <= set(types) else None

        wait_for(delivered, within=WAIT, interval=0.2, message=f"webhooks {sorted(wanted)}")

        # The network reads its own order in every service.
        order = _ok(partner["intake"].get(f"/v1/orders/{j.order_id}"))
        assert order["status"] == "completed" and order["network_id"] == network
        dispatch = _ok(partner["scheduling"].get(f"/v1/orders/{j.order_id}"))
        assert dispatch["status"] == "visit_done" and dispatch["technician_id"] == "tech-net-01"
        assert [v["state"] for v in j.on_site()["visits"]] == ["completed"]
        (task,) = j.call_backs()
        assert task["network_id"] == network
        # Billing: the network reads its own charge, and the repair fee is on its monthly
        # settlement (BIL-12).
        charge = _ok(partner["billing"].get(f"/v1/orders/{j.order_id}/charge"))
        assert charge["summary"]["charge"] == "0.00"
        month = datetime.now(TZ).strftime("%Y-%m")
        # The statement's lines come a page at a time, by order; the totals cover the month.
        path = f"/v1/settlements/{network}/{month}"
        lines: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {} if cursor is None else {"cursor": cursor}
            settlement = _ok(j.dispatcher["billing"].get(path, params=params))
            lines += settlement["items"]
            cursor = settlement["next_cursor"]
            if cursor is None:
                break
        fees = [
            line
            for line in lines
            if line["order_id"] == j.order_id and line["kind"] == "service_fee"
        ]
        assert [Decimal(line["amount"]) for line in fees] == [Decimal("66.50")], lines
        assert f"rate card {card['label']} (water_heater repair)" in fees[0]["description"]
        assert Decimal(settlement["service_fees_owed"]) >= Decimal("66.50"), settlement
    finally:
        for client in partner.values():
            client.close()
