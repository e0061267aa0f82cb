"""BIL-11 through the consumer, on SQLite and PostgreSQL: billing's OrderRetentionExpired erases
the customer's personal data fieldwork stored for the order (rows, files), the API shows the
order erased, and events heard afterwards store none again."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from contracts.billing import OrderRetentionExpired, RetentionClass
from contracts.common import AssigneeKind, Customer
from contracts.envelope import EventEnvelope
from contracts.intake import OrderVerified
from contracts.scheduling import OrderReassigned
from fieldwork.adapters.tables import FIELDWORK_REGISTRY
from fieldwork.domain.policy import DEFAULT_KIT
from servicekit.runtime import ServiceRuntime

from ..conftest import PNG, T0, Clock, act, offline_item, ok, on_site, order, outbox, upload
from .test_loaners_and_endings import unit_taken_back_with_loaner

NAME, PHONE, STREET = "王芳", "13800138000", "西四路"
PERSONAL = (NAME, PHONE, STREET)
ERASED_TYPE = "https://fsm.example/problems/personal-data-erased"


def expiry(order_id: str = "o-1") -> EventEnvelope:
    return EventEnvelope.wrap(
        OrderRetentionExpired(
            order_id=order_id,
            retention_class=RetentionClass.FREE,
            ended_at=T0,
            expired_at=T0 + timedelta(days=366),
        )
    )


async def stored_rows(runtime: ServiceRuntime) -> dict[str, list[dict[str, Any]]]:
    """Every row of every fieldwork table, as column values."""
    rows: dict[str, list[dict[str, Any]]] = {}
    async with runtime.session_factory() as session:
        for table in FIELDWORK_REGISTRY.metadata.sorted_tables:
            result = await session.execute(select(table))
            rows[table.name] = [dict(r._mapping) for r in result]
    return rows


def personal_data_in(rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Where the customer's name, phone or street appears in the stored rows."""
    return [
        f"{table}: {value!r}"
        for table, table_rows in rows.items()
        for row in table_rows
        for value in row.values()
        if any(p in str(value) for p in PERSONAL)
    ]


async def visit_with_personal_data(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> tuple[str, str, str]:
    """Order o-1 (customer 王芳) and its visit v-1, completed and signed with notes naming the
    customer, a signature, a photo of the home and a barcode scan; the stored file paths."""
    await order(runtime, "o-1")
    await ok(
        admin,
        "v-1",
        type="depart",
        eta=(clock.now + timedelta(minutes=30)).isoformat(),
        kit_checked=list(DEFAULT_KIT),
    )
    clock.advance(minutes=30)
    await ok(admin, "v-1", type="arrive", position={"lat": 39.9, "lon": 116.4})
    await ok(admin, "v-1", type="log_attempt", kind="phone", reached=True, detail=f"{PHONE} 接通")
    await ok(
        admin,
        "v-1",
        type="door_outcome",
        outcome="customer_present",
        next_step="proceed",
        id_shown=True,
        detail=f"{NAME}本人开门",
    )
    await ok(admin, "v-1", type="diagnose", cause="点火针老化")
    await ok(admin, "v-1", type="start_repair")
    photo = await upload(admin, "v-1", "photo")
    barcode = await upload(admin, "v-1", "barcode")
    await ok(
        admin,
        "v-1",
        type="report_damage",
        description=f"{NAME}家{STREET}厨房地板划痕",
        photo_refs=[photo],
    )
    clock.advance(minutes=25)
    await ok(
        admin, "v-1", type="complete_repair", tested=False, sure_fixed=True, remedy="更换点火针"
    )
    signature = await upload(admin, "v-1", "signature")
    await ok(
        admin,
        "v-1",
        type="sign_off",
        signed=True,
        signature_ref=signature,
        repair_quality="satisfied",
        comments=f"{NAME} 很满意，电话{PHONE}",
    )
    return photo, barcode, signature


def evidence_file(tmp_path: Path, ref: str) -> Path:
    return tmp_path / "evidence" / ref


async def test_bil_11_retention_expiry_erases_the_orders_personal_data_rows_and_files(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock, tmp_path: Path
) -> None:
    from pypdf import PdfReader

    photo, barcode, signature = await visit_with_personal_data(runtime, admin, clock)
    assert personal_data_in(await stored_rows(runtime))
    assert evidence_file(tmp_path, signature).is_file()

    clock.advance(days=400)
    await runtime.handle_event(expiry())

    assert personal_data_in(await stored_rows(runtime)) == []
    assert not evidence_file(tmp_path, signature).exists()
    assert not evidence_file(tmp_path, photo).exists()
    assert evidence_file(tmp_path, barcode).is_file()  # not personal: an installation's scan

    visit = (await admin.get("/v1/visits/v-1")).json()
    assert visit["anonymised_at"] is not None
    assert visit["position"] is None
    assert visit["signed_off"]["signature_ref"] is None
    assert visit["signed_off"]["comments"] == "[erased]"
    assert visit["signed_off"]["sign_off"] == "signed"
    assert visit["signed_off"]["repair_quality"] == "satisfied"
    assert visit["incidents"][0]["description"] == "[erased]"
    assert [a["detail"] for a in visit["attempts"]] == ["[erased]"]
    assert [e["ref"] for e in visit["evidence"]] == [barcode]
    assert visit["state"] == "completed" and visit["remedy"] == "更换点火针"

    events = (await admin.get("/v1/orders/o-1/events")).json()
    assert events["anonymised_at"] is not None
    created = next(e for e in events["events"] if e["type"] == "OrderCreated")
    assert created["summary"]["customer.name"] == "[erased]"
    assert created["summary"]["product.line"] == "water_heater"

    report = await admin.get("/v1/visits/v-1/report.pdf")
    assert report.status_code == 200, report.text
    text = PdfReader(io.BytesIO(report.content)).pages[0].extract_text()
    assert NAME not in text and STREET not in text
    assert "已删除" in text and "客户已签字" in text and "更换点火针" in text


async def test_bil_11_heard_twice_the_expiry_changes_nothing(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await visit_with_personal_data(runtime, admin, clock)
    clock.advance(days=400)
    await runtime.handle_event(expiry())
    erased = await stored_rows(runtime)
    visit = (await admin.get("/v1/visits/v-1")).json()
    assert visit["anonymised_at"] is not None

    clock.advance(days=1)
    await runtime.handle_event(expiry())  # republished: another event id

    after = await stored_rows(runtime)
    erased.pop("fieldwork_order_event"), after.pop("fieldwork_order_event")
    assert after == erased
    assert (await admin.get("/v1/visits/v-1")).json()["anonymised_at"] == visit["anonymised_at"]


async def test_bil_11_a_late_event_after_the_erasure_stores_nothing_personal(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await visit_with_personal_data(runtime, admin, clock)
    clock.advance(days=400)
    await runtime.handle_event(expiry())

    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderVerified(
                order_id="o-1",
                verified=["customer"],
                customer=Customer.model_validate(
                    {"name": NAME, "phones": [f"+86{PHONE}"], "address": {"detail": STREET}}
                ),
            )
        )
    )
    await runtime.handle_event(
        EventEnvelope.wrap(
            OrderReassigned(
                order_id="o-1",
                visit_id="v-2",
                assignee_kind=AssigneeKind.TECHNICIAN,
                technician_id="tech-8",
                reason=f"{NAME}要求换人，电话{PHONE}",
                previous_assignee_kind=AssigneeKind.TECHNICIAN,
                reassigned_by="dispatcher-1",
            )
        )
    )

    assert personal_data_in(await stored_rows(runtime)) == []
    events = (await admin.get("/v1/orders/o-1/events")).json()["events"]
    verified = next(e for e in events if e["type"] == "OrderVerified")
    assert verified["summary"]["customer.name"] == "[erased]"


async def test_bil_11_an_order_that_became_a_coordination_ticket_is_kept_for_good(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="fail", reason="needs_second_visit")
    clock.advance(days=1)
    assert (await runtime.app.state.sweep())["tickets_opened"] == 1  # FLD-15

    await runtime.handle_event(expiry())  # crossed billing hearing of the ticket

    assert personal_data_in(await stored_rows(runtime))
    assert (await admin.get("/v1/visits/v-1")).json()["anonymised_at"] is None


# -- BIL-11: an erased order takes no command, 409 "Personal data erased" as in intake/scheduling --


def refused_as_erased(response: httpx.Response, *, at: str, action: str) -> None:
    """The answer intake and scheduling give a command on an erased order (BIL-11)."""
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["title"] == "Personal data erased"
    assert problem["type"] == ERASED_TYPE
    assert datetime.fromisoformat(problem["anonymised_at"]) == datetime.fromisoformat(at)
    assert (
        "BIL-11" in problem["detail"] and f"'{action}' is no longer possible" in problem["detail"]
    )
    assert "rule" not in problem


async def everything_kept(runtime: ServiceRuntime, admin: httpx.AsyncClient) -> tuple[Any, ...]:
    """What a command could change: the visit, its take-back, the loaners and the events staged."""
    return (
        (await admin.get("/v1/visits/v-1")).json(),
        (await admin.get("/v1/take-backs/R-1")).json(),
        (await admin.get("/v1/loaners")).json(),
        [e.id for e in await outbox(runtime)],
    )


async def erased(runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock) -> str:
    """Let o-1's retention run out (billing's OrderRetentionExpired heard); when v-1 says it
    was erased."""
    clock.advance(days=400)
    await runtime.handle_event(expiry())
    anonymised_at: str = (await admin.get("/v1/visits/v-1")).json()["anonymised_at"]
    return anonymised_at


async def test_bil_11_an_erased_visit_refuses_actions_and_uploads_409_personal_data_erased(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await visit_with_personal_data(runtime, admin, clock)
    at = await erased(runtime, admin, clock)
    before = await everything_kept(runtime, admin)

    report = await act(admin, "v-1", type="complete_report", cause="点火针老化")
    damage = await act(admin, "v-1", type="report_damage", description="划痕")
    photo = await admin.post(
        "/v1/visits/v-1/evidence",
        params={"kind": "photo"},
        content=PNG,
        headers={"Content-Type": "image/png"},
    )

    refused_as_erased(report, at=at, action="complete_report")
    refused_as_erased(damage, at=at, action="report_damage")
    refused_as_erased(photo, at=at, action="upload")
    assert await everything_kept(runtime, admin) == before
    visit = (await admin.get("/v1/visits/v-1")).json()
    assert visit["allowed"] == []  # the visit offers no action it would refuse


async def test_bil_11_offline_items_of_an_erased_visit_are_each_refused_as_erased(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await visit_with_personal_data(runtime, admin, clock)
    at = await erased(runtime, admin, clock)
    before = await everything_kept(runtime, admin)
    synced = await admin.post(
        "/v1/offline/batches",
        json={
            "actions": [
                offline_item("c-1", clock.now - timedelta(minutes=2), type="complete_report"),
                offline_item("c-2", clock.now - timedelta(minutes=1), type="start_test"),
            ]
        },
    )

    assert synced.status_code == 200, synced.text
    first, second = synced.json()["results"]
    # The REST answer to the same action, for comparison.
    single = (await act(admin, "v-1", type="complete_report")).json()
    for item, action in ((first, "complete_report"), (second, "start_test")):
        assert item["status"] == "refused"
        assert item["problem"] == {
            "type": ERASED_TYPE,
            "title": "Personal data erased",
            "anonymised_at": single["anonymised_at"],
        }
        assert datetime.fromisoformat(item["problem"]["anonymised_at"]) == datetime.fromisoformat(
            at
        )
        assert "BIL-11" in item["reason"] and f"'{action}' is no longer possible" in item["reason"]
    assert first["reason"] == single["detail"]
    assert await everything_kept(runtime, admin) == before


async def test_bil_11_fld_6_an_erased_orders_take_back_takes_no_progress_its_loaner_is_collected(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    at = await erased(runtime, admin, clock)
    before = await everything_kept(runtime, admin)

    progress = await admin.post("/v1/take-backs/R-1/progress", json={"stage": "fixed"})

    refused_as_erased(progress, at=at, action="record_workshop_progress")
    assert await everything_kept(runtime, admin) == before
    # The loaner is the centre's, not the customer's data: it can always come back to stock.
    collected = await admin.post("/v1/loaners/L1/collect", json={"condition": "scratched"})
    assert collected.status_code == 200, collected.text
    loaner = (await admin.get("/v1/loaners/L1")).json()
    assert (loaner["state"], loaner["condition"]) == ("available", "scratched"), loaner


async def test_bil_11_fld_15_no_coordination_ticket_is_opened_for_an_erased_order(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="fail", reason="needs_second_visit")
    await runtime.handle_event(expiry())  # billing ended the order before the sweep ran
    clock.advance(days=1)

    assert (await runtime.app.state.sweep())["tickets_opened"] == 0
    assert (await admin.get("/v1/coordination-tickets")).json()["items"] == []


# -- BIL-11, FLD-6: the customer's unit still goes back to them once the order is erased --------


async def unit_back_at_the_workshop_then_erased(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> str:
    """Take-back R-1 of o-1 (loaner L1 lent) with a workshop note naming the customer, the
    unit still at the workshop when the order's retention runs out; when it was erased."""
    await unit_taken_back_with_loaner(runtime, admin, clock)
    noted = await admin.post(
        "/v1/take-backs/R-1/progress", json={"stage": "received", "note": f"{NAME}的机器 {PHONE}"}
    )
    assert noted.status_code == 200, noted.text
    return await erased(runtime, admin, clock)


async def test_bil_11_fld_6_the_unit_of_an_erased_order_is_returned_without_personal_data(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_back_at_the_workshop_then_erased(runtime, admin, clock)
    assert personal_data_in(await stored_rows(runtime)) == []

    returned = await admin.post(
        "/v1/take-backs/R-1/return",
        json={"loaner_recovered": True, "loaner_condition": "scratched", "repaired": True},
    )

    assert returned.status_code == 200, returned.text
    take_back = returned.json()
    assert take_back["returned_at"] is not None and take_back["repaired"] is True
    assert [p["note"] for p in take_back["progress"]] == ["[erased]"]  # not put back
    assert (await admin.get("/v1/take-backs/R-1")).json() == take_back
    [event] = [e for e in await outbox(runtime) if e.event_name == "UnitReturned"]
    assert event.subject == "o-1"
    assert event.data == {
        "order_id": "o-1",
        "visit_id": None,
        "receipt_number": "R-1",
        "returned_at": clock.now.isoformat().replace("+00:00", "Z"),
        "repaired": True,
        "loaner_recovered": True,
        "on_time": False,
    }
    loaner = (await admin.get("/v1/loaners/L1")).json()  # the centre's: back in stock
    assert (loaner["state"], loaner["condition"]) == ("available", "scratched"), loaner
    assert personal_data_in(await stored_rows(runtime)) == []
    # Still no other workshop command on it, and a second return is refused as such.
    again = await admin.post("/v1/take-backs/R-1/return", json={"loaner_recovered": False})
    assert again.status_code == 409 and again.json()["title"] != "Personal data erased"


async def test_bil_11_fld_6_an_erased_orders_unit_is_still_chased_then_returned_and_loaner_chased(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_back_at_the_workshop_then_erased(runtime, admin, clock)

    # The unit is still overdue to the centre: the sweep reports it once, erased or not.
    assert (await runtime.app.state.sweep())["overdue"] == 1
    assert (await runtime.app.state.sweep())["overdue"] == 0
    [overdue] = [e for e in await outbox(runtime) if e.event_name == "UnitReturnOverdue"]
    assert overdue.data["receipt_number"] == "R-1" and overdue.data["loaner_serial"] == "L1"

    kept = await admin.post("/v1/take-backs/R-1/return", json={"loaner_recovered": False})
    assert kept.status_code == 200, kept.text
    assert (await admin.get("/v1/loaners/L1")).json()["state"] == "lent"

    # The loaner the customer kept is chased after its collect-by day, then collected late.
    clock.advance(days=10)
    swept = await runtime.app.state.sweep()
    assert (swept["overdue"], swept["loaners_overdue"]) == (0, 1)
    collected = await admin.post("/v1/loaners/L1/collect", json={})
    assert collected.status_code == 200, collected.text
    [late] = [e for e in await outbox(runtime) if e.event_name == "LoanerCollected"]
    assert late.data["late"] is True
    assert personal_data_in(await stored_rows(runtime)) == []
