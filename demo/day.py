"""Drive the day's plan through the services' public REST APIs.

Set-up (technicians, fee schedules, loaners, technician keys), then the call centre takes the
orders (one reported twice), scheduling assigns them on its own, and each order's story runs
in a worker thread with the assigned technician's key: the technician calls the customer to
confirm the appointment, drives the visit in fieldwork, and the call centre makes the call-backs
in feedback. A not-home visit needs time to pass ("not home" is refused before the policy's
wait): the technician's app sends it as an offline batch with the times it happened, as a phone
without signal does. A late arrival needs its window to close first, and a window is agreed only
while it is still ahead (SCH-3): the late customer agrees one that opens within seconds, and the
technician arrives once it has closed.
"""

from __future__ import annotations

import struct
import threading
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from demo.api import DemoError, Platform, Service, wait_until
from demo.plan import REGULAR_LINES, TAKE_BACK_LINE, DayPlan, Kind, OrderPlan, Survey

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
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
#: How long to wait for an event to travel between services.
EVENT_WAIT = 30.0
#: Times a customer tries, of those a refused window's 409 offers, before the step fails.
CONTACT_ALTERNATIVES_TRIED = 3
#: What the plan's technician ids start with (each run adds its own suffix).
DEMO_TECHNICIAN_PREFIX = "demo-tech-"
#: The fields of scheduling's technician record its PUT takes back.
_TECHNICIAN_FIELDS = (
    "name",
    "phone",
    "skills",
    "areas",
    "home",
    "shift_start",
    "shift_end",
    "working_days",
    "days_off",
    "daily_capacity",
    "network_id",
)


def _png() -> bytes:
    """A real 1×1 PNG: what the app uploads for signatures and photos."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
        + chunk(b"IEND", b"")
    )


PNG = _png()


def schedule_for(line: str) -> dict[str, Any]:
    """The fee schedule the demo publishes for a product line (prices in whole jiao)."""
    return {
        "fees": [
            {"fee_code": "L01", "description": "检修", "price": "80.0"},
            {"fee_code": "L02", "description": "清洗保养", "price": "50.0"},
            {"fee_code": "CO", "description": "上门费", "price": "30.0", "category": "call_out"},
        ],
        "parts": [
            {
                "part_no": f"P-{line}-01",
                "name": "主控板",
                "price": "180.0",
                "trade_in_credit": "20.0",
            }
        ],
        "materials": [{"code": "M-TAPE", "name": "生料带", "price": "2.5"}],
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _now() -> datetime:
    return datetime.now(UTC)


def today_slot(now: datetime) -> dict[str, str]:
    """The 2-hour window the customer agrees on the phone: from the last half hour on."""
    local = now.astimezone(BUSINESS_TZ)
    start = local.replace(minute=0 if local.minute < 30 else 30, second=0, microsecond=0)
    return {"start": _iso(start), "end": _iso(start + timedelta(hours=2))}


@dataclass
class Tally:
    """What the day did, to check the figures against and to print."""

    orders: int = 0
    duplicates: int = 0
    visits: int = 0
    arrivals: int = 0
    late_predicted: int = 0
    times_moved_on_call: int = 0
    quotes_accepted: int = 0
    quotes_declined: int = 0
    not_home: int = 0
    take_backs: int = 0
    revisits: int = 0
    call_backs: int = 0
    dissatisfied: int = 0
    complaints: int = 0
    first: datetime = field(default_factory=_now)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        """Add to counters (thread-safe)."""
        with self.lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)

    def earliest(self, moment: datetime) -> None:
        """Remember the earliest moment the day recorded (offline actions are backdated)."""
        with self.lock:
            self.first = min(self.first, moment)


Step = Callable[[str], None]


def _count(rate: float | None, whole: int) -> int:
    """The count behind a rate feedback rounded (to 4 places) over ``whole``."""
    return 0 if rate is None else round(rate * whole)


def _ratio(part: float, whole: int, places: int = 4) -> float | None:
    return round(part / whole, places) if whole else None


def _rate_over(rows: list[dict[str, Any]], rate: str, whole: str) -> float | None:
    """``rate`` over all ``rows``: the counts behind each row's rate over their ``whole``."""
    return _ratio(sum(_count(r[rate], r[whole]) for r in rows), sum(r[whole] for r in rows))


def total_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``all`` row of ``rows`` (feedback's quality figures per technician, FBK-6, FBK-11):
    counts added up, rates and means recomputed from the counts behind them, as feedback
    computes its own ``all`` over everyone."""
    arrivals = sum(r["arrivals"] for r in rows)
    first_visits = sum(r["first_visits"] for r in rows)
    visits = sum(r["visits"] for r in rows)
    repairs = sum(r["repairs"] for r in rows)
    surveys = sum(r["satisfaction"]["surveys"] for r in rows)
    surveyed = sum(r["call_back_coverage"]["surveyed"] for r in rows)

    def score_sum(item: str) -> int:
        return sum(
            round((r["satisfaction"][item] or 0) * r["satisfaction"]["surveys"]) for r in rows
        )

    attitude = _ratio(score_sum("service_attitude"), surveys)
    ability = _ratio(score_sum("professional_ability"), surveys)
    classes: dict[str, int] = {}
    for row in rows:
        for name, n in row["complaints_by_class"].items():
            classes[name] = classes.get(name, 0) + n
    coverage = _ratio(surveyed * 100, repairs, 2)
    minimum = rows[0]["call_back_coverage"]["minimum_percent"] if rows else 8
    return {
        "key": "all",
        "arrivals": arrivals,
        "on_time_rate": _rate_over(rows, "on_time_rate", "arrivals"),
        "first_visits": first_visits,
        "first_time_fix_rate": _rate_over(rows, "first_time_fix_rate", "first_visits"),
        "visits": visits,
        "repeat_visit_rate": _rate_over(rows, "repeat_visit_rate", "visits"),
        "repairs": repairs,
        "repair_pass_rate": _rate_over(rows, "repair_pass_rate", "repairs"),
        "satisfaction": {
            "surveys": surveys,
            "service_attitude": attitude,
            "professional_ability": ability,
            "overall": None
            if attitude is None or ability is None
            else _ratio(
                score_sum("service_attitude") + score_sum("professional_ability"), 2 * surveys
            ),
        },
        "confirmed_conduct_findings": sum(r["confirmed_conduct_findings"] for r in rows),
        "complaints_by_class": classes,
        "complaints_level_2": sum(r["complaints_level_2"] for r in rows),
        "call_back_coverage": {
            "repair_records": repairs,
            "surveyed": surveyed,
            "percent": coverage,
            "minimum_percent": minimum,
            "alarm": coverage is not None and coverage < minimum,
        },
    }


class Day:
    """One simulated day against a running platform."""

    def __init__(
        self, platform: Platform, plan: DayPlan, *, step: Step | None = None, workers: int = 4
    ) -> None:
        self.platform = platform
        self.step: Step = step or (lambda _msg: None)
        self.workers = workers
        self.tally = Tally()
        run_id = uuid.uuid4().hex[:8]
        self.run_tag = f"{plan.seed}-{run_id}"
        """Namespaces serials, receipts and loaners so a second run never collides."""
        self.plan = replace(
            plan,
            technicians=tuple(
                replace(t, technician_id=f"{t.technician_id}-{run_id}") for t in plan.technicians
            ),
        )
        """The plan with this run's own technicians: the quality figures are per technician
        (FBK-11), so their rows hold this run's work only, never an earlier run's of the same
        day nor anyone else's."""
        self.keys: dict[str, str] = {}
        self.order_ids: dict[int, str] = {}

    # -- set-up ---------------------------------------------------------------------------------

    def set_up(self) -> None:
        """Technicians, fee schedules, loaners and technician keys."""
        scheduling = self.platform.admin("scheduling")
        self.retire_earlier_runs()
        for tech in self.plan.technicians:
            body = {
                "name": tech.name,
                "phone": tech.phone,
                "skills": ["*"],
                "areas": ["*"],
                "home": {"lat": tech.lat, "lon": tech.lon},
                "shift_start": "00:00:00",
                "shift_end": "00:00:00",  # round the clock: to midnight closing the day
                "working_days": [0, 1, 2, 3, 4, 5, 6],
                "daily_capacity": 50,
            }
            created = scheduling.request(
                "POST", "/v1/technicians", json={"technician_id": tech.technician_id, **body}
            )
            if created.status_code == 409:  # registered by an earlier run: refresh the record
                scheduling.call("PUT", f"/v1/technicians/{tech.technician_id}", json=body)
            elif created.status_code != 201:
                raise DemoError(
                    f"scheduling: registering {tech.technician_id} answered "
                    f"{created.status_code}: {created.text[:400]}"
                )
            self.step(f"technician {tech.name} registered")
        billing = self.platform.admin("billing")
        for line in sorted({*REGULAR_LINES, TAKE_BACK_LINE, "gas_stove"}):
            billing.call("POST", f"/v1/fee-schedules/{line}/versions", json=schedule_for(line))
        self.step("fee schedules published")
        fieldwork = self.platform.admin("fieldwork")
        for order in self.plan.orders:
            if order.kind is Kind.TAKE_BACK:
                fieldwork.call(
                    "POST",
                    "/v1/loaners",
                    json={"serial": self.loaner(order), "product_line": order.line},
                )
        intake = self.platform.admin("intake")
        for tech in self.plan.technicians:
            issued = intake.call(
                "POST",
                "/v1/api-keys",
                json={
                    "name": f"{tech.name} app (demo {self.run_tag})",
                    "role": "technician",
                    "technician_id": tech.technician_id,
                },
            )
            self.keys[tech.technician_id] = issued["key"]
        for tech in self.plan.technicians:
            key = self.keys[tech.technician_id]
            own = f"/v1/technicians/{tech.technician_id}"
            for name, path in (("scheduling", own), ("fieldwork", "/v1/visits")):
                service = self.platform.as_key(name, key)

                def accepted(s: Service = service, p: str = path) -> bool:
                    return s.request("GET", p).status_code == 200

                wait_until(
                    accepted,
                    within=EVENT_WAIT,
                    what=f"{name} to accept {tech.technician_id}'s new key",
                )
        self.step("technician keys issued")

    def retire_earlier_runs(self) -> None:
        """Deactivate the demo technicians an earlier run registered (``demo-tech-…`` not of this
        run), so scheduling gives this run's orders to this run's technicians only."""
        scheduling = self.platform.admin("scheduling")
        ours = {t.technician_id for t in self.plan.technicians}
        cursor: str | None = None
        earlier: list[dict[str, Any]] = []
        while True:
            page = scheduling.call(
                "GET", "/v1/technicians", params={"cursor": cursor} if cursor else None
            )
            earlier += [
                t
                for t in page["items"]
                if t["technician_id"].startswith(DEMO_TECHNICIAN_PREFIX)
                and t["technician_id"] not in ours
                and t["active"]
            ]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        for tech in earlier:
            body = {name: tech[name] for name in _TECHNICIAN_FIELDS}
            scheduling.call(
                "PUT", f"/v1/technicians/{tech['technician_id']}", json={**body, "active": False}
            )
        if earlier:
            self.step(f"{len(earlier)} technicians of earlier demo runs retired")

    def loaner(self, order: OrderPlan) -> str:
        """The loaner serial lent on a take-back order."""
        return f"LN-{self.run_tag}-{order.index}"

    # -- intake ---------------------------------------------------------------------------------

    def order_body(self, order: OrderPlan) -> dict[str, Any]:
        """The call centre's record of the order."""
        return {
            "customer": {
                "name": order.customer_name,
                "phone": order.phone,
                "address": {
                    "province": "山东省",
                    "city": "东营市",
                    "district": order.district,
                    "street": order.street,
                    "detail": order.address_detail,
                    "lat": order.lat,
                    "lon": order.lon,
                },
            },
            "product": {
                "line": order.line,
                "model": order.model,
                "serial": f"SN-{self.run_tag}-{order.serial_suffix}",
                "purchase_date": order.purchase_date.isoformat(),
            },
            "fault": {"description": order.fault, "code": order.fault_code},
            "channel": "hotline",
            "emergency": order.emergency,
        }

    def take_orders(self) -> None:
        """Every order, then a second report of one of them (linked, INT-8)."""
        intake = self.platform.admin("intake")
        for order in self.plan.orders:
            created = intake.call(
                "POST",
                "/v1/orders",
                json=self.order_body(order),
                expect=(201,),
                headers={"Idempotency-Key": f"demo-{self.run_tag}-{order.index}"},
            )
            self.order_ids[order.index] = created["id"]
            self.tally.add(orders=1)
            self.step(f"order {order.index + 1} taken ({order.kind.value})")
        if self.plan.duplicate_of is not None:
            again = self.order_body(self.plan.orders[self.plan.duplicate_of])
            again["fault"] = {"description": "客户再次来电催修，同一台机器"}
            linked = intake.call("POST", "/v1/orders", json=again, expect=(200,))
            if (
                not linked.get("duplicate")
                or linked["id"] != self.order_ids[self.plan.duplicate_of]
            ):
                raise DemoError(f"intake: the second report was not linked: {linked}")
            self.tally.add(duplicates=1)
            self.step("duplicate report linked to its order")

    # -- the visits -----------------------------------------------------------------------------

    def run_orders(self) -> None:
        """Each order's story in a worker thread; failures are collected, not fatal."""
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = {pool.submit(OrderRun(self, order).run): order for order in self.plan.orders}
            for future in as_completed(futures):
                order = futures[future]
                try:
                    future.result()
                    self.step(f"order {order.index + 1} done ({order.kind.value})")
                except DemoError as exc:
                    with self.tally.lock:
                        self.tally.problems.append(
                            f"order {order.index + 1} ({order.kind.value}): {exc}"
                        )
                    self.step(f"order {order.index + 1} FAILED ({order.kind.value})")

    # -- figures --------------------------------------------------------------------------------

    def period(self) -> tuple[date, date]:
        """The business days the day's records fall on (offline actions are backdated)."""
        first, now = self.tally.first, _now()
        return first.astimezone(BUSINESS_TZ).date(), now.astimezone(BUSINESS_TZ).date()

    def figures(self, *, within: float = 20.0) -> dict[str, Any]:
        """The quality figures of this run's day, once feedback has counted this run's arrivals,
        call-backs and complaints: the rows of this run's own technicians (nobody else's work,
        nor an earlier run's: their ids are this run's), then ``all``, their sum."""
        start, end = self.period()
        feedback = self.platform.admin("feedback")
        params = {"start": start.isoformat(), "end": end.isoformat(), "by": "technician"}
        ours = {t.technician_id for t in self.plan.technicians}
        last: dict[str, Any] = {}

        def settled() -> dict[str, Any] | None:
            nonlocal last
            answer = feedback.call("GET", "/v1/quality-figures", params=params)
            rows = [r for r in answer["rows"] if r["key"] in ours]
            last = {**answer, "rows": [*rows, total_row(rows)]}
            arrivals = sum(r["arrivals"] for r in rows)
            surveys = sum(r["satisfaction"]["surveys"] for r in rows)
            complaints = sum(sum(r["complaints_by_class"].values()) for r in rows)
            done = (
                arrivals >= self.tally.arrivals
                and surveys >= self.tally.call_backs
                and complaints >= self.tally.complaints
            )
            return last if done else None

        try:
            return wait_until(
                settled, within=within, what="feedback to count the day", interval=0.5
            )
        except DemoError as exc:
            self.tally.problems.append(str(exc))
            return last

    def file_complaint(self) -> None:
        """The late order's customer complains about the technician (class C)."""
        index = self.plan.complaint_about
        if index is None or index not in self.order_ids:
            return
        dispatch = self.platform.admin("scheduling").call(
            "GET", f"/v1/orders/{self.order_ids[index]}"
        )
        self.platform.admin("feedback").call(
            "POST",
            "/v1/complaints",
            json={
                "channel": "hotline",
                "description": "师傅迟到了，进门后态度也不好",
                "confirmed_by_customer": True,
                "order_id": self.order_ids[index],
                "level": 1,
                "staff_fault_class": "C",
                "technician_id": dispatch.get("technician_id"),
            },
            expect=(201,),
        )
        self.tally.add(complaints=1)
        self.step("complaint filed")


class OrderRun:
    """One order's story, from assignment to the last call-back."""

    def __init__(self, day: Day, order: OrderPlan) -> None:
        self.day = day
        self.order = order
        self.order_id = day.order_ids[order.index]
        self.platform = day.platform
        self.tally = day.tally
        self.technician_id = ""

    # -- plumbing -------------------------------------------------------------------------------

    def field(self) -> Service:
        """Fieldwork with the technician's key."""
        return self.platform.as_key("fieldwork", self.day.keys[self.technician_id])

    def sched(self) -> Service:
        """Scheduling with the technician's key."""
        return self.platform.as_key("scheduling", self.day.keys[self.technician_id])

    def dispatch(self) -> dict[str, Any]:
        """The order as dispatch sees it (admin)."""
        found: dict[str, Any] = self.platform.admin("scheduling").call(
            "GET", f"/v1/orders/{self.order_id}", expect=(200, 404)
        )
        return found if "order_id" in found else {}

    def assigned(self, *, visits: int = 1) -> dict[str, Any]:
        """Wait until scheduling assigned visit number ``visits`` to one of the day's
        technicians; its dispatch record."""

        def probe() -> dict[str, Any] | None:
            d = self.dispatch()
            ok = (
                d.get("status") in {"assigned", "confirmed"}
                and d.get("technician_id") in self.day.keys
                and len(d.get("visits", [])) >= visits
            )
            return d if ok else None

        d = wait_until(
            probe, within=EVENT_WAIT, what=f"order {self.order_id} visit {visits} to be assigned"
        )
        self.technician_id = d["technician_id"]
        return d

    def confirm(self, window: dict[str, str] | None) -> dict[str, str] | None:
        """The technician phones the customer and agrees the window (SCH-2); one they cannot
        keep (their other customers, the way there, SCH-3) is refused with the times they can:
        the customer takes the first of those, or the next if that one is refused too. Returns
        the window agreed."""
        body: dict[str, Any] = {"outcome": "confirmed", "note": "已电话确认上门时间"}
        if window is not None:
            body["window"] = window
        path = f"/v1/orders/{self.order_id}/contact-attempts"
        answer = self.sched().request("POST", path, json=body)
        offered: list[dict[str, str]] = []
        if answer.status_code == 409 and window is not None:
            offered = list(answer.json().get("alternatives") or [])[:CONTACT_ALTERNATIVES_TRIED]
        for alternative in offered:
            window = {"start": alternative["start"], "end": alternative["end"]}
            answer = self.sched().request("POST", path, json={**body, "window": window})
            if answer.status_code in (200, 201):
                self.tally.add(times_moved_on_call=1)
                break
        if answer.status_code not in (200, 201):
            raise DemoError(
                f"scheduling: POST {path} answered {answer.status_code}: {answer.text[:600]}"
            )
        return window

    def visit_ready(self, visit_id: str) -> dict[str, Any]:
        """Wait for fieldwork to open the visit for the technician."""

        def probe() -> dict[str, Any] | None:
            response = self.field().request("GET", f"/v1/visits/{visit_id}")
            return response.json() if response.status_code == 200 else None

        return wait_until(probe, within=EVENT_WAIT, what=f"fieldwork to open visit {visit_id}")

    def act(self, visit_id: str, **action: Any) -> dict[str, Any]:
        """One action now, through the single-action route."""
        result: dict[str, Any] = self.field().call(
            "POST", f"/v1/visits/{visit_id}/actions", json={"action": action}
        )
        return result

    def offline(self, visit_id: str, actions: list[tuple[datetime, dict[str, Any]]]) -> None:
        """Actions the app recorded offline, with the times they happened; all must apply."""
        batch = [
            {
                "client_id": str(uuid.uuid4()),
                "visit_id": visit_id,
                "occurred_at": _iso(at),
                "action": action,
            }
            for at, action in actions
        ]
        results = self.field().call("POST", "/v1/offline/batches", json={"actions": batch})
        refused = [r for r in results["results"] if r["status"] != "applied"]
        if refused:
            raise DemoError(f"fieldwork refused offline actions: {refused}")
        for at, _ in actions:
            self.tally.earliest(at)

    def depart(
        self,
        visit_id: str,
        *,
        eta: datetime,
        at: datetime | None = None,
        loaner: str | None = None,
    ) -> None:
        """Leave with the kit checked (FLD-1); when the job type needs more, FLD-1's 409 names
        the full list and the technician checks it."""
        action: dict[str, Any] = {"type": "depart", "eta": _iso(eta), "kit_checked": KIT}
        if loaner is not None:
            action["loaner_serial"] = loaner
        if at is None:
            response = self.field().request(
                "POST", f"/v1/visits/{visit_id}/actions", json={"action": action}
            )
            if response.status_code == 409 and "kit" in response.json():
                action["kit_checked"] = response.json()["kit"]
                self.act(visit_id, **action)
            elif response.status_code != 200:
                raise DemoError(
                    f"fieldwork: depart answered {response.status_code}: {response.text}"
                )
            return
        try:
            self.offline(visit_id, [(at, action)])
        except DemoError as exc:
            text = str(exc)
            if "'kit'" not in text:
                raise
            probe = self.field().request(
                "POST",
                f"/v1/visits/{visit_id}/actions",
                json={"action": {**action, "eta": _iso(_now() + timedelta(hours=1))}},
            )
            kit = probe.json().get("kit") if probe.status_code == 409 else None
            if not kit:
                raise
            self.offline(visit_id, [(at, {**action, "kit_checked": kit})])

    def upload(self, visit_id: str, kind: str) -> str:
        """A photo or signature image; its ref."""
        stored = self.field().call(
            "POST",
            f"/v1/visits/{visit_id}/evidence",
            params={"kind": kind},
            content=PNG,
            headers={"Content-Type": "image/png"},
            expect=(201,),
        )
        ref: str = stored["ref"]
        return ref

    def position(self) -> dict[str, float]:
        """The customer's place."""
        return {"lat": self.order.lat, "lon": self.order.lon}

    # -- the pieces of a visit ------------------------------------------------------------------

    def go_in(self, visit_id: str, *, loaner: str | None = None) -> None:
        """Depart, arrive, show ID at the door and go in (FLD-1..FLD-3)."""
        self.depart(visit_id, eta=_now() + timedelta(minutes=25), loaner=loaner)
        self.act(visit_id, type="arrive", position=self.position())
        self.tally.add(arrivals=1, visits=1)
        self.act(
            visit_id,
            type="door_outcome",
            outcome="customer_present",
            next_step="proceed",
            id_shown=True,
        )

    def part(self) -> dict[str, Any]:
        """The part the diagnosis names."""
        return {"part_no": f"P-{self.order.line}-01", "name": "主控板", "covered_by_warranty": True}

    def repair_free(self, visit_id: str) -> None:
        """In warranty: diagnose, repair, test, complete (FLD-4, FLD-9)."""
        self.act(
            visit_id, type="diagnose", cause=f"{self.order.fault}：主控板故障", parts=[self.part()]
        )
        self.act(visit_id, type="start_repair")
        self.act(visit_id, type="record_work", description="更换主控板", parts=[self.part()])
        self.act(visit_id, type="start_test")
        self.act(
            visit_id,
            type="complete_repair",
            tested=True,
            sure_fixed=True,
            cause="主控板故障",
            remedy="更换主控板并试机正常",
        )

    def quote(self, visit_id: str) -> dict[str, Any]:
        """Out of warranty: the work items go to billing; wait for its quote (FLD-4, BIL-1)."""
        part = {**self.part(), "covered_by_warranty": False}
        self.act(
            visit_id,
            type="diagnose",
            cause=f"{self.order.fault}：主控板损坏（已过保修期）",
            parts=[part],
            work_items=[
                {"kind": "fee", "fee_code": "L01", "description": "检修"},
                {"kind": "fee", "fee_code": "CO", "description": "上门费"},
                {"kind": "part", "part_no": part["part_no"], "description": "主控板"},
            ],
        )

        def issued() -> dict[str, Any] | None:
            visit = self.field().call("GET", f"/v1/visits/{visit_id}")
            q = visit.get("quote") or {}
            return q if q.get("status") == "issued" and q.get("quote_id") else None

        return wait_until(issued, within=EVENT_WAIT, what=f"billing's quote for {visit_id}")

    def sign_off(self, visit_id: str, *, happy: bool = True) -> None:
        """The customer rates and signs (FLD-12)."""
        signature = self.upload(visit_id, "signature")
        rating = "very_satisfied" if happy else "fair"
        self.act(
            visit_id,
            type="sign_off",
            signed=True,
            signature_ref=signature,
            repair_quality=rating,
            service_attitude="satisfied",
        )

    def call_back(self, visit_id: str, survey: Survey) -> None:
        """The call centre calls the customer after the visit (FBK-3, FBK-5)."""
        feedback = self.platform.admin("feedback")

        def task() -> dict[str, Any] | None:
            found = feedback.call("GET", "/v1/call-backs", params={"order_id": self.order_id})
            open_ = [
                t
                for t in found["items"]
                if t["visit_id"] == visit_id and t["status"] in {"open", "claimed"}
            ]
            return open_[0] if open_ else None

        t = wait_until(task, within=EVENT_WAIT, what=f"a call-back task for visit {visit_id}")
        feedback.call("POST", f"/v1/call-backs/{t['task_id']}/claim")
        feedback.call(
            "POST",
            f"/v1/call-backs/{t['task_id']}/outcome",
            json={
                "reached": True,
                "problem_solved": survey.satisfied,
                "satisfied": survey.satisfied,
                "scores": {
                    "service_attitude": survey.attitude,
                    "professional_ability": survey.ability,
                    "comments": "满意" if survey.satisfied else "问题没有解决，要求再来看看",
                },
            },
        )
        self.tally.add(call_backs=1, dissatisfied=0 if survey.satisfied else 1)

    def next_visit(self, previous: str, *, visits: int) -> dict[str, Any]:
        """Wait for scheduling to book and assign the revisit."""
        d = self.assigned(visits=visits)
        if d["visit_id"] == previous:
            raise DemoError(f"scheduling kept visit {previous} for the revisit")
        self.tally.add(revisits=1)
        return d

    def simple_visit(self, visit_id: str, survey: Survey) -> None:
        """A free repair at the agreed time, signed off and called back."""
        self.visit_ready(visit_id)
        self.go_in(visit_id)
        self.repair_free(visit_id)
        self.sign_off(visit_id)
        self.call_back(visit_id, survey)

    # -- the stories ----------------------------------------------------------------------------

    def run(self) -> None:
        """The order's story by its kind."""
        story = {
            Kind.IN_WARRANTY: self.in_warranty,
            Kind.EMERGENCY: self.in_warranty,
            Kind.QUOTE_ACCEPTED: self.quote_accepted,
            Kind.QUOTE_DECLINED: self.quote_declined,
            Kind.LATE: self.late,
            Kind.NOT_HOME: self.not_home,
            Kind.TAKE_BACK: self.take_back,
            Kind.MISSING_PART: self.missing_part,
            Kind.DISSATISFIED: self.dissatisfied,
        }[self.order.kind]
        story()

    def first_visit(self, window: dict[str, str] | None = None) -> str:
        """Wait for the assignment, confirm the appointment; the visit id."""
        d = self.assigned()
        keep = d.get("appointment") is not None and window is None
        self.confirm(None if keep else window or today_slot(_now()))
        visit_id: str = d["visit_id"]
        self.visit_ready(visit_id)
        return visit_id

    def in_warranty(self) -> None:
        visit_id = self.first_visit()
        self.simple_visit(visit_id, self.order.survey)

    def quote_accepted(self) -> None:
        visit_id = self.first_visit()
        self.go_in(visit_id)
        quote = self.quote(visit_id)
        consent = self.upload(visit_id, "signature")
        self.act(visit_id, type="accept_quote", quote_id=quote["quote_id"], signature_ref=consent)
        self.tally.add(quotes_accepted=1)
        self.act(visit_id, type="record_work", description="更换主控板", parts=[self.part()])
        self.act(visit_id, type="start_test")
        self.act(visit_id, type="complete_repair", tested=True, sure_fixed=True)
        self.sign_off(visit_id)
        self.call_back(visit_id, self.order.survey)

    def quote_declined(self) -> None:
        visit_id = self.first_visit()
        self.go_in(visit_id)
        quote = self.quote(visit_id)
        self.act(
            visit_id,
            type="decline_quote",
            quote_id=quote["quote_id"],
            reason="客户嫌价格高，暂不维修",
        )
        self.tally.add(quotes_declined=1)
        self.call_back(visit_id, self.order.survey)

    def late(self) -> None:
        """The customer agrees a window the technician can keep (SCH-3). Held up in traffic,
        his ETA ping, sent before it opens, misses it by 20 minutes (ArrivalLate before the
        appointment, gift); the demo compresses the day, so he then makes up the time and
        repairs."""
        d = self.assigned()
        agreed = self.confirm(today_slot(_now()))
        assert agreed is not None
        end = datetime.fromisoformat(agreed["end"])
        eta = end + timedelta(minutes=20)
        predicted = self.sched().call(
            "POST",
            f"/v1/technicians/{self.technician_id}/position",
            json={"position": self.position(), "eta": _iso(eta), "order_id": self.order_id},
        )
        if any(
            o["order_id"] == self.order_id
            and o.get("predicted_arrival")
            and datetime.fromisoformat(o["predicted_arrival"]) > end
            for o in predicted
        ):
            self.tally.add(late_predicted=1)
        visit_id: str = d["visit_id"]
        self.visit_ready(visit_id)
        self.depart(visit_id, eta=eta)
        self.act(visit_id, type="arrive", position=self.position())
        self.tally.add(arrivals=1, visits=1)
        self.act(
            visit_id,
            type="door_outcome",
            outcome="customer_present",
            next_step="proceed",
            id_shown=True,
        )
        self.repair_free(visit_id)
        self.sign_off(visit_id, happy=False)
        self.call_back(visit_id, self.order.survey)

    def not_home(self) -> None:
        """Nobody home 25 minutes ago: knocked every 30 s for 5 minutes, phoned, note left
        (FLD-2); the centre rebooks, the second visit repairs."""
        t = _now()
        window = {"start": _iso(t - timedelta(minutes=60)), "end": _iso(t + timedelta(minutes=60))}
        visit_id = self.first_visit(window)
        self.depart(visit_id, at=t - timedelta(minutes=40), eta=t - timedelta(minutes=25))
        self.offline(
            visit_id,
            [
                (t - timedelta(minutes=25), {"type": "arrive", "position": self.position()}),
                *[
                    (
                        t - timedelta(minutes=25) + timedelta(seconds=15 + 30 * n),
                        {"type": "log_attempt", "kind": "door"},
                    )
                    for n in range(10)
                ],
                (
                    t - timedelta(minutes=20),
                    {"type": "log_attempt", "kind": "phone", "detail": "电话无人接听"},
                ),
                (
                    t - timedelta(minutes=14),
                    {
                        "type": "not_home",
                        "note": "上门无人，已留联系卡，请回电预约",
                        "neighbours_asked": True,
                    },
                ),
            ],
        )
        self.tally.add(arrivals=1, visits=1, not_home=1)

        def back_in_queue() -> bool:
            d = self.dispatch()
            return d.get("status") == "awaiting_assignment" and d.get("visit_id") != visit_id

        wait_until(back_in_queue, within=EVENT_WAIT, what="scheduling to rebook the visit")
        self.platform.admin("scheduling").call(
            "POST",
            f"/v1/orders/{self.order_id}/assignment",
            json={"technician_id": self.technician_id, "reason": "客户回电，改约今天下午"},
        )
        d = self.next_visit(visit_id, visits=2)
        self.confirm(today_slot(_now()))
        self.simple_visit(d["visit_id"], self.order.survey)

    def take_back(self) -> None:
        """The unit goes to the workshop with a receipt; a loaner stays; repaired, returned."""
        visit_id = self.first_visit()
        loaner = self.day.loaner(self.order)
        self.go_in(visit_id, loaner=loaner)
        self.act(
            visit_id,
            type="diagnose",
            cause="磁控管老化，需返厂检修",
            warranty_status="in_warranty",
            take_back_needed=True,
        )
        photo = self.upload(visit_id, "photo")
        receipt = f"TB-{self.day.run_tag}-{self.order.index}"
        self.act(
            visit_id,
            type="take_back",
            receipt_number=receipt,
            appearance="外观完好，门把手轻微划痕",
            photo_refs=[photo],
            promised_return_date=(
                _now().astimezone(BUSINESS_TZ).date() + timedelta(days=5)
            ).isoformat(),
            unit_serial=f"SN-{self.day.run_tag}-{self.order.serial_suffix}",
            loaner_serial=loaner,
        )
        self.tally.add(take_backs=1)
        self.sign_off(visit_id)
        self.call_back(visit_id, self.order.survey)
        workshop = self.platform.admin("fieldwork")
        for stage in ("返厂检测", "更换磁控管", "试机合格"):
            workshop.call("POST", f"/v1/take-backs/{receipt}/progress", json={"stage": stage})
        workshop.call(
            "POST",
            f"/v1/take-backs/{receipt}/return",
            json={"repaired": True, "loaner_recovered": True},
        )

    def missing_part(self) -> None:
        """The part on board is the wrong one: rebooked with the same technician, fixed."""
        visit_id = self.first_visit()
        self.go_in(visit_id)
        self.act(visit_id, type="diagnose", cause="主控板故障", parts=[self.part()])
        self.act(
            visit_id,
            type="missing_part",
            option="rebook",
            parts=[self.part()],
            detail="随车主控板型号不符",
            next_visit_agreed=True,
        )
        d = self.next_visit(visit_id, visits=2)
        self.confirm(today_slot(_now()))
        self.simple_visit(d["visit_id"], self.order.survey)

    def dissatisfied(self) -> None:
        """Repaired, but the customer is dissatisfied on the call-back: feedback asks for a
        revisit (FBK-7), scheduling assigns it, the second visit satisfies."""
        visit_id = self.first_visit()
        self.simple_visit(visit_id, self.order.survey)
        d = self.next_visit(visit_id, visits=2)
        self.confirm(today_slot(_now()))
        assert self.order.follow_up is not None
        self.simple_visit(d["visit_id"], self.order.follow_up)
