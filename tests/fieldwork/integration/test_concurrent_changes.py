"""Concurrent changes of one visit, take-back or ticket on PostgreSQL (READ COMMITTED): the event
consumer, REST actions and the sweep of several replicas lock what they change before deciding,
so no change is lost and no event is raised twice. Each race holds a real handler at its commit
while a second transaction runs (see ``support.races``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import httpx
from support.races import Gate, hold_at_commit, postgres_only, race

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
from contracts.intake import OrderCancelled, OrderCreated
from contracts.scheduling import AppointmentConfirmed, OrderAssigned, OrderReassigned
from fieldwork.domain import commands as c
from fieldwork.domain.policy import DEFAULT_KIT
from fieldwork.domain.visit import Visit, VisitState
from fieldwork.service_layer import handlers
from fieldwork.service_layer.unit_of_work import FieldworkUnitOfWork
from servicekit.runtime import ServiceRuntime
from servicekit.uow import A as Aggregate

from ..conftest import T0, Clock, act, igniter_quote, ok, outbox

# Row locks are what these tests are about.
pytestmark = postgres_only

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class TrackingUnitOfWork(FieldworkUnitOfWork):
    """Fieldwork's unit of work, knowing whether its transaction tracked an aggregate (staged
    its events)."""

    tracking = False

    async def __aenter__(self) -> Self:
        self.tracking = False
        return await super().__aenter__()

    def track(self, aggregate: Aggregate) -> Aggregate:
        self.tracking = True
        return super().track(aggregate)


def paused(
    runtime: ServiceRuntime, gate: Gate, *, when_tracking: bool = False
) -> Callable[[], FieldworkUnitOfWork]:
    """Fieldwork's units of work, each stopping before its commit at the gate (locks held); with
    ``when_tracking``, only a commit that stages an aggregate's events stops."""

    def held() -> FieldworkUnitOfWork:
        uow = TrackingUnitOfWork(runtime.session_factory)
        return hold_at_commit(uow, gate, when=(lambda: uow.tracking) if when_tracking else None)

    return held


# --- helpers --------------------------------------------------------------------------------------


async def deliver(runtime: ServiceRuntime, payload: Any, at: datetime = T0) -> None:
    await runtime.handle_event(EventEnvelope.wrap(payload, time=at))


def created(
    order_id: str,
    *,
    warranty: WarrantyStatus = WarrantyStatus.IN_WARRANTY,
    loaner_required: bool = False,
) -> OrderCreated:
    return OrderCreated(
        order_id=order_id,
        customer=Customer.model_validate(
            {"name": "王芳", "phones": ["+8613800138000"], "address": {"detail": "西四路100号"}}
        ),
        product=Product.model_validate({"line": "water_heater", "model": "JSQ24"}),
        fault=Fault(description="热水器打不着火"),
        channel=Channel.HOTLINE,
        warranty_status=warranty,
        loaner_required=loaner_required,
    )


def assigned(order_id: str, visit_id: str = "v-1", technician_id: str = "tech-7") -> OrderAssigned:
    return OrderAssigned(
        order_id=order_id,
        visit_id=visit_id,
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id=technician_id,
        assigned_by="dispatcher-1",
    )


async def order(runtime: ServiceRuntime, order_id: str, **kw: Any) -> None:
    await deliver(runtime, created(order_id, **kw), T0 - timedelta(days=1))
    await deliver(runtime, assigned(order_id), T0 - timedelta(hours=20))


def depart(**extra: Any) -> dict[str, Any]:
    return {
        "type": "depart",
        "eta": (T0 + timedelta(minutes=30)).isoformat(),
        "kit_checked": list(DEFAULT_KIT),
        **extra,
    }


async def on_site(client: httpx.AsyncClient, clock: Clock, visit_id: str, **extra: Any) -> None:
    await ok(client, visit_id, **depart(**extra))
    clock.now += timedelta(minutes=30)
    await ok(client, visit_id, type="arrive")
    await ok(
        client,
        visit_id,
        type="door_outcome",
        outcome="customer_present",
        next_step="proceed",
        id_shown=True,
    )


async def stored_visit(runtime: ServiceRuntime, visit_id: str) -> Visit:
    async with runtime.app.state.uow_factory() as uow:
        visit = await uow.visits.get(visit_id)
    assert visit is not None
    return visit


async def events_named(runtime: ServiceRuntime, name: str) -> list[EventEnvelope]:
    return [e for e in await outbox(runtime) if e.event_name == name]


def consume(runtime: ServiceRuntime, gate: Gate, payload: Any) -> Awaitable[None]:
    """The consumer's handler applying ``payload``, stopping at the gate."""
    envelope = EventEnvelope.wrap(payload, time=T0)
    state = runtime.app.state
    return handlers.record_event(
        envelope, uow=paused(runtime, gate)(), store=state.evidence_store, clock=state.clock
    )


def sweep(runtime: ServiceRuntime, clock: Clock, gate: Gate | None = None) -> Awaitable[Any]:
    state = runtime.app.state
    return handlers.sweep(
        uow_factory=paused(runtime, gate, when_tracking=True) if gate else state.uow_factory,
        clock=clock,
        policy=state.policy,
        tz=runtime.calendar.tz,
    )


# --- the event consumer against REST actions ---------------------------------------------------


async def test_fld_4_a_quote_issued_while_the_technician_reports_damage_keeps_both(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await on_site(admin, clock, "v-1")
    await ok(
        admin,
        "v-1",
        type="diagnose",
        cause="点火针老化",
        parts=[{"part_no": "P-1", "name": "点火针"}],
    )
    [requested] = await events_named(runtime, "QuoteRequested")
    issued = igniter_quote(requested.data["request_id"])

    gate = Gate()
    _, damage, _ = await race(
        runtime.engine,
        gate,
        consume(runtime, gate, issued),
        lambda: act(admin, "v-1", type="report_damage", description="地板划伤"),
    )

    assert damage.status_code == 200, damage.text
    visit = await stored_visit(runtime, "v-1")
    assert visit.quote is not None and visit.quote.quote_id == "q-1"
    assert [i.description for i in visit.incidents] == ["地板划伤"]


async def test_sch_12_an_order_cancelled_while_the_technician_departs_keeps_the_loaner_in_stock(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1", loaner_required=True)
    registered = await admin.post("/v1/loaners", json={"serial": "L-1", "product_line": "x"})
    assert registered.status_code == 201
    cancelled = OrderCancelled(order_id="o-1", reason="客户取消", cancelled_by="agent-1")

    gate = Gate()
    _, departure, _ = await race(
        runtime.engine,
        gate,
        consume(runtime, gate, cancelled),
        lambda: act(admin, "v-1", **depart(loaner_serial="L-1")),
    )

    # The departure is refused on the cancelled visit, so the loaner never leaves the stock
    # (a departure applied first would have had the cancellation bring it back).
    assert departure.status_code == 409, departure.text
    assert (await stored_visit(runtime, "v-1")).state is VisitState.CANCELLED
    loaners = (await admin.get("/v1/loaners")).json()["items"]
    assert [(x["serial"], x["state"]) for x in loaners] == [("L-1", "available")]


async def test_sch_2_an_appointment_confirmed_while_the_technician_departs_keeps_both(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1")
    window = TimeWindow(start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=3))
    confirmed = AppointmentConfirmed(
        order_id="o-1", visit_id="v-1", window=window, technician_id="tech-7"
    )

    gate = Gate()
    _, departure, _ = await race(
        runtime.engine,
        gate,
        consume(runtime, gate, confirmed),
        lambda: act(admin, "v-1", **depart()),
    )

    assert departure.status_code == 200, departure.text
    visit = await stored_visit(runtime, "v-1")
    assert visit.state is VisitState.DEPARTED
    assert visit.window == window


async def test_sch_8_a_reassignment_while_the_technician_departs_is_not_undone(
    runtime: ServiceRuntime, admin: httpx.AsyncClient
) -> None:
    await order(runtime, "o-1")
    moved = OrderReassigned(
        order_id="o-1",
        visit_id="v-1",
        assignee_kind=AssigneeKind.TECHNICIAN,
        technician_id="tech-8",
        previous_assignee_kind=AssigneeKind.TECHNICIAN,
        previous_technician_id="tech-7",
        reassigned_by="dispatcher-1",
    )

    gate = Gate()
    _, departure, _ = await race(
        runtime.engine, gate, consume(runtime, gate, moved), lambda: act(admin, "v-1", **depart())
    )

    assert departure.status_code == 200, departure.text
    visit = await stored_visit(runtime, "v-1")
    assert (visit.state, visit.technician_id) == (VisitState.DEPARTED, "tech-8")


async def test_int_6_a_visit_assigned_while_its_order_is_recorded_still_asks_for_the_loaner(
    runtime: ServiceRuntime,
) -> None:
    # Intake's and scheduling's topics may be consumed by two replicas at once.
    gate = Gate()
    await race(
        runtime.engine,
        gate,
        consume(runtime, gate, created("o-1", loaner_required=True)),
        lambda: runtime.handle_event(EventEnvelope.wrap(assigned("o-1"), time=T0)),
    )

    visit = await stored_visit(runtime, "v-1")
    assert visit.loaner_required is True
    assert visit.job_type == "water_heater"


# --- the offline app retrying a batch ----------------------------------------------------------


async def test_a_batch_retried_while_the_first_is_applied_reports_duplicates_not_refusals(
    runtime: ServiceRuntime,
) -> None:
    await order(runtime, "o-1")
    state = runtime.app.state
    batch = c.ApplyOfflineBatch(
        actor=c.Actor(key_id="k-1"),
        actions=[
            c.OfflineAction(
                client_id="c-1",
                visit_id="v-1",
                occurred_at=T0,
                action=c.Depart(eta=T0 + timedelta(minutes=30), kit_checked=list(DEFAULT_KIT)),
            )
        ],
    )

    def apply(uow_factory: Callable[[], FieldworkUnitOfWork]) -> Awaitable[list[dict[str, Any]]]:
        return handlers.apply_offline_batch(
            batch,
            uow_factory=uow_factory,
            clock=state.clock,
            policy=state.policy,
            tz=runtime.calendar.tz,
        )

    gate = Gate()
    first, retried, _ = await race(
        runtime.engine, gate, apply(paused(runtime, gate)), lambda: apply(state.uow_factory)
    )

    assert [r["status"] for r in first] == ["applied"]
    assert [r["status"] for r in retried] == ["duplicate"]
    assert len(await events_named(runtime, "TechnicianDeparted")) == 1


# --- the sweep against REST and against another replica's sweep --------------------------------


async def taken_back_on_site(admin: httpx.AsyncClient, receipt_number: str, **details: Any) -> None:
    """The unit of v-1, on site, diagnosed for the workshop and taken back on 2 March with a
    photo of its outside, promised for 9 March."""
    await ok(admin, "v-1", type="diagnose", cause="主板故障", take_back_needed=True)
    photo = await admin.post(
        "/v1/visits/v-1/evidence",
        params={"kind": "photo"},
        content=PNG,
        headers={"Content-Type": "image/png"},
    )
    assert photo.status_code == 201, photo.text
    await ok(
        admin,
        "v-1",
        type="take_back",
        receipt_number=receipt_number,
        appearance="外壳有划痕",
        photo_refs=[photo.json()["ref"]],
        promised_return_date="2026-03-09",
        **details,
    )


async def take_back(runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock) -> None:
    """R-100 taken back on 2 March, promised for 9 March; the clock on 10 March (overdue)."""
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await taken_back_on_site(admin, "R-100", unit_serial="SN-1")
    clock.now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


async def test_fld_6_a_unit_returned_while_the_sweep_reports_it_overdue_stays_returned(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await take_back(runtime, admin, clock)

    gate = Gate()
    counts, returned, _ = await race(
        runtime.engine,
        gate,
        sweep(runtime, clock, gate),
        lambda: admin.post("/v1/take-backs/R-100/return", json={"repaired": False}),
    )

    assert counts["overdue"] == 1
    assert returned.status_code == 200, returned.text
    stored = (await admin.get("/v1/take-backs/R-100")).json()
    assert stored["returned_at"] is not None and stored["repaired"] is False
    assert stored["overdue_reported_at"] is not None
    assert len(await events_named(runtime, "UnitReturnOverdue")) == 1
    assert len(await events_named(runtime, "UnitReturned")) == 1


async def two_replicas_sweep_once(
    runtime: ServiceRuntime, clock: Clock, count: str, event_name: str
) -> None:
    """Two replicas run the sweep at once: what is due is reported by one of them, once."""
    gate = Gate()
    first, second, _ = await race(
        runtime.engine, gate, sweep(runtime, clock, gate), lambda: sweep(runtime, clock)
    )

    assert first[count] + second[count] == 1
    assert len(await events_named(runtime, event_name)) == 1


async def test_fld_6_two_replicas_sweeping_at_once_report_an_overdue_unit_once(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await take_back(runtime, admin, clock)

    await two_replicas_sweep_once(runtime, clock, "overdue", "UnitReturnOverdue")


async def lent_while_taken_back(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    """The unit taken back on 2 March under receipt R-200, loaner L1 lent in its place."""
    await order(runtime, "o-1", loaner_required=True)
    registered = await admin.post(
        "/v1/loaners", json={"serial": "L1", "product_line": "water_heater"}
    )
    assert registered.status_code == 201, registered.text
    await on_site(admin, clock, "v-1", kit_checked=[*DEFAULT_KIT, "loaner"], loaner_serial="L1")
    await taken_back_on_site(admin, "R-200")


async def loaner_kept(runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock) -> None:
    """R-200 came back on 2 March and the customer kept loaner L1, due to be collected by 5 March;
    the clock at midnight starting 6 March in Shanghai (L1 overdue)."""
    await lent_while_taken_back(runtime, admin, clock)
    kept = await admin.post("/v1/take-backs/R-200/return", json={"loaner_recovered": False})
    assert kept.status_code == 200, kept.text
    clock.now = datetime(2026, 3, 5, 16, 0, tzinfo=UTC)


def collect(runtime: ServiceRuntime, uow: FieldworkUnitOfWork) -> Awaitable[Any]:
    """The collection of loaner L1 (POST /v1/loaners/L1/collect) in ``uow``."""
    state = runtime.app.state
    return handlers.collect_loaner(
        c.CollectLoaner(serial="L1", actor=c.Actor(key_id="k-1")),
        uow=uow,
        clock=state.clock,
        policy=state.policy,
        tz=runtime.calendar.tz,
    )


async def test_fld_6_two_replicas_sweeping_at_once_chase_a_kept_loaner_once(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await loaner_kept(runtime, admin, clock)

    await two_replicas_sweep_once(runtime, clock, "loaners_overdue", "LoanerCollectionOverdue")


async def test_fld_6_a_loaner_collected_while_the_sweep_chases_it_is_chased_once_and_late(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await loaner_kept(runtime, admin, clock)

    gate = Gate()
    counts, collected, waited = await race(
        runtime.engine,
        gate,
        sweep(runtime, clock, gate),
        lambda: collect(runtime, runtime.app.state.uow_factory()),
    )

    assert waited  # for the take-back the sweep holds
    assert counts["loaners_overdue"] == 1
    assert collected.state.value == "available"
    stored = (await admin.get("/v1/take-backs/R-200")).json()
    assert stored["loaner_overdue_reported_at"] is not None
    assert stored["loaner_collected_at"] is not None
    assert len(await events_named(runtime, "LoanerCollectionOverdue")) == 1
    [late] = await events_named(runtime, "LoanerCollected")
    assert late.data["late"] is True


async def test_fld_6_a_loaner_being_collected_when_the_sweep_runs_is_not_chased(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await loaner_kept(runtime, admin, clock)

    gate = Gate()
    collected, counts, _ = await race(
        runtime.engine,
        gate,
        collect(runtime, paused(runtime, gate)()),
        lambda: sweep(runtime, clock),
    )

    assert collected.state.value == "available"
    assert counts["loaners_overdue"] == 0  # the take-back was locked: passed over
    assert (await sweep(runtime, clock))["loaners_overdue"] == 0  # and collected since
    assert await events_named(runtime, "LoanerCollectionOverdue") == []
    assert len(await events_named(runtime, "LoanerCollected")) == 1


async def unfinished(runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock) -> None:
    """An order whose visit failed on 2 March: its coordination ticket is due on 3 March."""
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="fail", reason="needs_second_visit")
    clock.now += timedelta(days=1)


async def test_fld_15_two_replicas_sweeping_at_once_open_one_coordination_ticket(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unfinished(runtime, admin, clock)

    gate = Gate()
    first, second, _ = await race(
        runtime.engine, gate, sweep(runtime, clock, gate), lambda: sweep(runtime, clock)
    )

    assert (first["tickets_opened"], second["tickets_opened"]) == (1, 0)
    assert len(await events_named(runtime, "CoordinationTicketOpened")) == 1
    assert len((await admin.get("/v1/coordination-tickets")).json()["items"]) == 1


async def due_ticket(runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock) -> str:
    """An open coordination ticket whose check is due (18 March)."""
    await unfinished(runtime, admin, clock)
    assert (await sweep(runtime, clock))["tickets_opened"] == 1
    [ticket] = (await admin.get("/v1/coordination-tickets")).json()["items"]
    clock.now = datetime(2026, 3, 18, 2, 0, tzinfo=UTC)
    return str(ticket["ticket_id"])


async def test_fld_15_a_contact_logged_while_the_sweep_reports_the_check_due_is_kept(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    ticket_id = await due_ticket(runtime, admin, clock)

    gate = Gate()
    counts, logged, _ = await race(
        runtime.engine,
        gate,
        sweep(runtime, clock, gate),
        lambda: admin.post(
            f"/v1/coordination-tickets/{ticket_id}/contacts",
            json={"by": "agent-1", "note": "约周六上午"},
        ),
    )

    assert counts["checks_due"] == 1
    assert logged.status_code == 200, logged.text
    stored = (await admin.get(f"/v1/coordination-tickets/{ticket_id}")).json()
    assert [x["note"] for x in stored["contacts"]] == ["约周六上午"]
    assert len(await events_named(runtime, "CoordinationCheckDue")) == 1
    assert (await sweep(runtime, clock))["checks_due"] == 0


async def test_fld_15_two_replicas_sweeping_at_once_report_a_due_check_once(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await due_ticket(runtime, admin, clock)

    await two_replicas_sweep_once(runtime, clock, "checks_due", "CoordinationCheckDue")


# --- lock order of the workshop's commands (FLD-6) ----------------------------------------------


def gated_at_loaner(runtime: ServiceRuntime, gate: Gate) -> FieldworkUnitOfWork:
    """Fieldwork's unit of work stopping at the gate when it first asks for a loaner: the locks
    taken before (the take-back's) are held there."""

    class GatedAtLoaner(FieldworkUnitOfWork):
        async def __aenter__(self) -> Self:
            await super().__aenter__()
            get = self.loaners.get

            async def get_after_the_gate(serial: str) -> Any:
                await gate.pass_through()
                return await get(serial)

            self.loaners.get = get_after_the_gate  # type: ignore[method-assign]
            return self

    return GatedAtLoaner(runtime.session_factory)


async def test_fld_6_a_unit_returned_while_its_loaner_is_collected_locks_in_one_order(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    """The return locks the take-back, then its loaner; the collection of that loaner locks them
    in the same order, so the two wait for each other instead of deadlocking (a 503 to retry)."""
    await lent_while_taken_back(runtime, admin, clock)
    state = runtime.app.state
    gate = Gate()

    returned, collected, waited = await race(
        runtime.engine,
        gate,
        handlers.return_unit(
            c.ReturnUnit(
                receipt_number="R-200", actor=c.Actor(key_id="k-1"), loaner_recovered=False
            ),
            uow=gated_at_loaner(runtime, gate),
            clock=state.clock,
            tz=runtime.calendar.tz,
        ),
        lambda: collect(runtime, state.uow_factory()),
    )

    assert waited  # for the take-back the return holds
    assert returned.returned_at is not None
    assert collected.state.value == "available"
    stored = (await admin.get("/v1/take-backs/R-200")).json()
    assert stored["returned_at"] is not None and stored["loaner_collected_at"] is not None
    assert len(await events_named(runtime, "UnitReturned")) == 1
    assert len(await events_named(runtime, "LoanerCollected")) == 1
