"""Loaners across the visits of an order (FLD-1, FLD-6), how a visit may end (FLD-2, FLD-4,
FLD-10, FLD-14, FLD-15, BIL-9) and the pixel limit of uploads (FLD-10), through the API against a
real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from contracts.billing import QuoteIssued, QuoteLine
from contracts.common import (
    ServiceType,
    WarrantyStatus,
    WorkItemKind,
)
from contracts.envelope import EventEnvelope
from contracts.scheduling import RevisitBooked, RevisitReason
from fieldwork.adapters.report import (
    EMBED_MAX_SIDE,
    ServiceReport,
    find_cjk_font,
    render_service_report,
)
from fieldwork.adapters.tables import TakeBackRow
from fieldwork.domain.policy import DEFAULT_KIT
from servicekit.runtime import ServiceRuntime

from ..conftest import (
    Clock,
    act,
    igniter_quote,
    ok,
    on_site,
    order,
    outbox,
    published,
    upload,
)
from .test_order_changes import technician

LOANER_KIT = [*DEFAULT_KIT, "loaner"]
FONT = find_cjk_font()


async def loaner_states(client: httpx.AsyncClient) -> dict[str, str]:
    return {x["serial"]: x["state"] for x in (await client.get("/v1/loaners")).json()["items"]}


async def register_loaners(client: httpx.AsyncClient, *serials: str) -> None:
    for serial in serials:
        response = await client.post(
            "/v1/loaners", json={"serial": serial, "product_line": "water_heater"}
        )
        assert response.status_code == 201, response.text


async def take_back(client: httpx.AsyncClient, **extra: Any) -> None:
    await ok(client, "v-1", type="diagnose", cause="主板故障", take_back_needed=True)
    photo = await upload(client, "v-1", "photo")
    await ok(
        client,
        "v-1",
        type="take_back",
        receipt_number="R-1",
        appearance="外观完好",
        photo_refs=[photo],
        promised_return_date="2026-03-10",
        **extra,
    )


async def revisit(runtime: ServiceRuntime, reason: RevisitReason) -> None:
    await runtime.handle_event(
        EventEnvelope.wrap(
            RevisitBooked(
                order_id="o-1",
                visit_id="v-2",
                previous_visit_id="v-1",
                reason=reason,
                technician_id="tech-7",
            )
        )
    )


# -- FLD-6: loaners --------------------------------------------------------------------------------


async def test_fld_6_the_loaner_boarded_goes_back_when_another_one_is_lent(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await register_loaners(admin, "L1", "L2")
    await on_site(admin, clock, "v-1", loaner_serial="L1")

    await take_back(admin, loaner_serial="L2")

    assert await loaner_states(admin) == {"L1": "available", "L2": "lent"}
    returned = await admin.post("/v1/take-backs/R-1/return", json={"loaner_recovered": True})
    assert returned.status_code == 200, returned.text
    assert await loaner_states(admin) == {"L1": "available", "L2": "available"}


async def test_fld_6_an_ended_visit_does_not_take_its_old_loaner_from_another_visits_kit(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await register_loaners(admin, "L1")
    await on_site(admin, clock, "v-1", loaner_serial="L1")
    await ok(admin, "v-1", type="diagnose", cause="c")
    await ok(admin, "v-1", type="start_repair")
    await ok(admin, "v-1", type="complete_repair", tested=False, sure_fixed=True)
    await revisit(runtime, RevisitReason.CUSTOMER_DISSATISFIED)
    await ok(
        admin,
        "v-2",
        type="depart",
        eta=(clock.now + timedelta(hours=1)).isoformat(),
        kit_checked=list(DEFAULT_KIT),
        loaner_serial="L1",
    )

    await ok(admin, "v-1", type="complete_report", remedy="更换点火针")

    assert await loaner_states(admin) == {"L1": "on_board"}


@pytest.mark.parametrize("reason", [RevisitReason.UNIT_RETURN, RevisitReason.OTHER])
async def test_fld_1_fld_6_a_revisit_while_the_orders_loaner_is_lent_needs_no_other(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock, reason: RevisitReason
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    await revisit(runtime, reason)

    departed = await act(
        admin,
        "v-2",
        type="depart",
        eta=(clock.now + timedelta(hours=1)).isoformat(),
        kit_checked=list(DEFAULT_KIT),
    )

    assert departed.status_code == 200, departed.text
    assert departed.json()["loaner_serial"] is None
    assert await loaner_states(admin) == {"L1": "lent"}
    event = [e for e in await outbox(runtime) if e.event_name == "TechnicianDeparted"][-1]
    assert event.data["loaner_on_board"] is False


async def test_fld_6_the_unit_return_visit_may_name_the_loaner_it_collects(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    await revisit(runtime, RevisitReason.UNIT_RETURN)

    departed = await depart_with_loaner(admin, clock)

    assert departed.status_code == 200, departed.text
    assert await loaner_states(admin) == {"L1": "lent"}  # at the customer's, not on board
    returned = await admin.post(
        "/v1/take-backs/R-1/return", json={"visit_id": "v-2", "loaner_recovered": True}
    )
    assert returned.status_code == 200, returned.text
    assert await loaner_states(admin) == {"L1": "available"}


async def test_fld_1_a_revisit_after_the_loaner_came_back_needs_one_again(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    returned = await admin.post("/v1/take-backs/R-1/return", json={"loaner_recovered": True})
    assert returned.status_code == 200, returned.text
    await revisit(runtime, RevisitReason.CUSTOMER_DISSATISFIED)

    refused = await act(
        admin,
        "v-2",
        type="depart",
        eta=(clock.now + timedelta(hours=1)).isoformat(),
        kit_checked=list(DEFAULT_KIT),
    )

    assert refused.status_code == 409 and refused.json()["rule"] == "FLD-1"


# -- FLD-10: an installation is completed as one ---------------------------------------------------


async def test_fld_10_an_installation_order_cannot_be_completed_as_a_repair(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", service_type=ServiceType.INSTALLATION)
    kit = [*DEFAULT_KIT, "barcode_scanner", "installation_accessories"]
    await on_site(admin, clock, "v-1", kit=kit)
    await ok(admin, "v-1", type="diagnose", cause="新装")
    visit = await ok(admin, "v-1", type="start_repair")
    assert "complete_repair" not in visit["allowed"]

    refused = await act(admin, "v-1", type="complete_repair", tested=False, sure_fixed=True)

    assert refused.status_code == 409 and refused.json()["rule"] == "FLD-10"
    assert "RepairCompleted" not in await published(runtime)
    photo = await upload(admin, "v-1", "photo")
    done = await ok(
        admin,
        "v-1",
        type="complete_installation",
        installed_on="2026-03-02",
        photo_refs=[photo],
        barcodes=["6901234567890"],
    )
    assert done["state"] == "completed" and done["installation"] is not None
    assert "InstallationCompleted" in await published(runtime)


async def test_fld_10_a_repair_order_cannot_be_completed_as_an_installation(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="c")
    photo = await upload(admin, "v-1", "photo")

    refused = await act(
        admin,
        "v-1",
        type="complete_installation",
        installed_on="2026-03-02",
        photo_refs=[photo],
        barcodes=["6901234567890"],
    )

    assert refused.status_code == 409 and refused.json()["rule"] == "FLD-10"


# -- FLD-4 / BIL-9: a supplementary quote after an accepted one ------------------------------------


def supplement_quote(request_id: str) -> QuoteIssued:
    """Billing's answer to the supplement: igniter 80 and valve 50 (quote ``q-2``)."""
    return QuoteIssued(
        order_id="o-1",
        visit_id="v-1",
        quote_id="q-2",
        request_id=request_id,
        lines=[
            QuoteLine(
                kind=WorkItemKind.PART,
                description=name,
                unit_price=Decimal(price),
                amount=Decimal(price),
                rule_id="BIL-1",
            )
            for name, price in (("点火针", "80"), ("比例阀", "50"))
        ],
        total=Decimal("130"),
        schedule_version="2026-01",
    )


async def accepted_then_more_found(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> tuple[dict[str, Any], str]:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await on_site(admin, clock, "v-1")
    visit = await ok(
        admin, "v-1", type="diagnose", cause="c", parts=[{"part_no": "P-1", "name": "点火针"}]
    )
    await runtime.handle_event(EventEnvelope.wrap(igniter_quote(visit["quote"]["request_id"])))
    signature = await upload(admin, "v-1", "signature")
    await ok(admin, "v-1", type="accept_quote", quote_id="q-1", signature_ref=signature)
    await ok(
        admin,
        "v-1",
        type="record_work",
        description="换点火针",
        parts=[{"part_no": "P-1", "name": "点火针"}],
    )
    await ok(admin, "v-1", type="start_test")
    await ok(admin, "v-1", type="reexamine")
    visit = await ok(
        admin,
        "v-1",
        type="diagnose",
        cause="比例阀也坏了",
        parts=[{"part_no": "P-2", "name": "比例阀"}],
    )
    return visit, signature


async def test_fld_4_bil_9_a_declined_supplement_leaves_the_accepted_quote_charged(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    visit, signature = await accepted_then_more_found(runtime, admin, clock)
    assert visit["state"] == "awaiting_consent"
    request = [e for e in await outbox(runtime) if e.event_name == "QuoteRequested"][-1]
    # Billing replaces the visit's accepted quote with the one accepted after it: the supplement
    # repeats the accepted items, so it is charged in full if accepted.
    assert [i["part_no"] for i in request.data["items"]] == ["P-1", "P-2"]
    await runtime.handle_event(EventEnvelope.wrap(supplement_quote(visit["quote"]["request_id"])))

    visit = await ok(admin, "v-1", type="decline_quote", reason="阀先不换")

    assert visit["state"] == "repairing"
    assert visit["quote"]["quote_id"] == "q-1" and visit["quote"]["status"] == "accepted"
    declined = [e for e in await outbox(runtime) if e.event_name == "QuoteDeclined"]
    assert [e.data["quote_id"] for e in declined] == ["q-2"]
    assert "VisitClosed" not in await published(runtime)
    await ok(admin, "v-1", type="complete_repair", tested=False, sure_fixed=True)
    closed = [e for e in await outbox(runtime) if e.event_name == "VisitClosed"]
    assert [(e.data["outcome"], e.data["paid_work"]) for e in closed] == [("completed", True)]
    signed_off = await upload(admin, "v-1", "signature")
    wrong = await act(
        admin,
        "v-1",
        type="sign_off",
        signed=True,
        signature_ref=signed_off,
        amount_acknowledged="1",
    )
    assert wrong.status_code == 409 and wrong.json()["rule"] == "BIL-9"
    # FLD-12: the consent's signature does not sign the sheet too
    reused = await act(
        admin,
        "v-1",
        type="sign_off",
        signed=True,
        signature_ref=signature,
        amount_acknowledged="80",
    )
    assert reused.status_code == 409 and "consent to quote q-1" in reused.json()["detail"]
    await ok(
        admin,
        "v-1",
        type="sign_off",
        signed=True,
        signature_ref=signed_off,
        amount_acknowledged="80.00",
    )


async def test_fld_4_an_accepted_supplement_is_the_charge(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    visit, _ = await accepted_then_more_found(runtime, admin, clock)
    await runtime.handle_event(EventEnvelope.wrap(supplement_quote(visit["quote"]["request_id"])))

    supplement_signature = await upload(admin, "v-1", "signature")
    visit = await ok(
        admin, "v-1", type="accept_quote", quote_id="q-2", signature_ref=supplement_signature
    )

    assert visit["state"] == "repairing" and visit["consented_quote"] is None
    await ok(admin, "v-1", type="complete_repair", tested=False, sure_fixed=True)
    await ok(
        admin,
        "v-1",
        type="sign_off",
        signed=True,
        signature_ref=await upload(admin, "v-1", "signature"),
        amount_acknowledged="130",
    )


# -- FLD-2 / FLD-3: "customer out" is what someone said --------------------------------------------


async def test_fld_2_customer_out_with_nobody_reached_is_refused_for_not_home(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await ok(
        admin,
        "v-1",
        type="depart",
        eta=(clock.now + timedelta(minutes=30)).isoformat(),
        kit_checked=list(DEFAULT_KIT),
    )
    clock.advance(minutes=30)
    await ok(admin, "v-1", type="arrive")
    clock.advance(seconds=5)

    refused = await act(
        admin,
        "v-1",
        type="door_outcome",
        outcome="customer_out",
        next_step="rebook",
        id_shown=False,
    )

    assert refused.status_code == 409, refused.text
    assert refused.json()["rule"] == "FLD-2" and refused.json()["instead"] == "not_home"
    assert "CustomerNotHome" not in await published(runtime)
    await ok(admin, "v-1", type="log_attempt", kind="phone", reached=True, detail="客户在外地")
    visit = await ok(
        admin,
        "v-1",
        type="door_outcome",
        outcome="customer_out",
        next_step="rebook",
        id_shown=False,
    )
    assert visit["state"] == "rebook"
    assert "CustomerNotHome" in await published(runtime)


# -- FLD-14 / FLD-15: after a declined visit -------------------------------------------------------


async def declined(runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.OUT_OF_WARRANTY)
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="c", parts=[{"part_no": "P-1", "name": "点火针"}])
    await ok(admin, "v-1", type="decline_quote", reason="太贵")


async def test_fld_14_a_safety_incident_after_the_visit_ended_is_taken(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await declined(runtime, admin, clock)

    visit = await ok(
        admin, "v-1", type="safety_incident", kind="detained", description="锁门不让走"
    )

    assert visit["state"] == "declined"
    names = await published(runtime)
    assert "SafetyIncident" in names and names.count("VisitClosed") == 1


async def test_fld_15_a_declined_order_opens_no_coordination_ticket(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await declined(runtime, admin, clock)
    clock.advance(days=2)

    assert (await runtime.app.state.sweep())["tickets_opened"] == 0
    assert (await admin.get("/v1/coordination-tickets")).json()["items"] == []


# -- FLD-10: pixels --------------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """The signature and header of a PNG of that size (the rest does not matter here)."""
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + ihdr + b"\x00" * 64


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (255, 255, 255)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_fld_10_an_image_over_the_pixel_limit_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")

    refused = await admin.post(
        "/v1/visits/v-1/evidence",
        params={"kind": "signature"},
        content=png_header(20_000, 20_000),
        headers={"Content-Type": "image/png"},
    )

    assert refused.status_code == 413, refused.text
    assert refused.json()["max_pixels"] == 25_000_000
    assert await upload(admin, "v-1", "photo", png_header(5_000, 5_000))


@pytest.mark.skipif(FONT is None, reason="no CJK font installed for the service report")
async def test_fld_12_the_signature_is_shrunk_before_it_goes_into_the_report(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    from pypdf import PdfReader

    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="c")
    await ok(admin, "v-1", type="start_repair")
    await ok(admin, "v-1", type="complete_repair", tested=False, sure_fixed=True)
    signature = await upload(admin, "v-1", "signature", png(3000, 2000))
    await ok(admin, "v-1", type="sign_off", signed=True, signature_ref=signature)

    response = await admin.get("/v1/visits/v-1/report.pdf")

    assert response.status_code == 200, response.text
    images = PdfReader(io.BytesIO(response.content)).pages[-1].images
    assert images, "the signature is in the report"
    image = images[0].image
    assert image is not None
    assert max(image.size) <= EMBED_MAX_SIDE


@pytest.mark.skipif(FONT is None, reason="no CJK font installed for the service report")
def test_fld_10_a_stored_image_over_the_pixel_limit_is_not_decoded_for_the_report() -> None:
    from pypdf import PdfReader

    assert FONT is not None
    report = ServiceReport(
        **dict.fromkeys(
            (
                "order_id",
                "visit_id",
                "customer",
                "address",
                "product",
                "technician",
                "arrived_at",
                "ended_at",
                "on_site",
                "outcome",
                "fault",
                "cause",
                "remedy",
                "tested",
            ),
            "x",
        ),
        signature_image=png(40, 30),
    )

    pdf = render_service_report(report, font=FONT, max_image_pixels=1000)

    reader = PdfReader(io.BytesIO(pdf))
    assert not reader.pages[-1].images
    assert "无法显示" in reader.pages[-1].extract_text()


# -- FLD-6: a loaner the customer keeps (audit D1) -------------------------------------------------


async def unit_taken_back_with_loaner(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock, serial: str = "L1"
) -> None:
    """Order o-1 asks for a loaner: ``serial`` (L1) boarded on v-1 and lent at take-back R-1."""
    await order(runtime, "o-1", loaner_required=True)
    await register_loaners(admin, serial)
    await on_site(admin, clock, "v-1", kit=LOANER_KIT, loaner_serial=serial)
    await take_back(admin)


async def depart_with_loaner(
    admin: httpx.AsyncClient,
    clock: Clock,
    visit_id: str = "v-2",
    eta_in: timedelta = timedelta(hours=1),
) -> httpx.Response:
    """The visit (the revisit v-2) leaves with loaner L1 on board, due there ``eta_in`` from
    now (an hour) (FLD-1, FLD-6)."""
    return await act(
        admin,
        visit_id,
        type="depart",
        eta=(clock.now + eta_in).isoformat(),
        kit_checked=LOANER_KIT,
        loaner_serial="L1",
    )


async def loaner(client: httpx.AsyncClient, serial: str) -> dict[str, Any]:
    [found] = [
        x for x in (await client.get("/v1/loaners")).json()["items"] if x["serial"] == serial
    ]
    return found


async def test_fld_6_a_return_that_does_not_say_whether_the_loaner_came_back_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)

    # the audit's request: the condition says the customer kept it, nothing says it came back
    refused = await admin.post(
        "/v1/take-backs/R-1/return",
        json={"repaired": False, "loaner_condition": "客户未归还周转机"},
    )

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["field"] == "loaner_recovered" and refused.json()["rule"] == "FLD-6"
    assert (await loaner(admin, "L1"))["state"] == "lent"
    assert (await admin.get("/v1/take-backs/R-1")).json()["returned_at"] is None
    assert "UnitReturned" not in await published(runtime)


async def test_fld_6_a_return_recovering_a_loaner_never_lent_is_refused(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    await on_site(admin, clock, "v-1")
    await take_back(admin)  # no loaner lent

    refused = await admin.post(
        "/v1/take-backs/R-1/return", json={"repaired": True, "loaner_recovered": True}
    )

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["field"] == "loaner_recovered" and refused.json()["rule"] == "FLD-6"
    assert (await admin.get("/v1/take-backs/R-1")).json()["returned_at"] is None
    assert "UnitReturned" not in await published(runtime)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"repaired": "no", "loaner_recovered": False}, "repaired"),
        ({"repaired": 0, "loaner_recovered": False}, "repaired"),
        ({"repaired": False, "loaner_recovered": "yes"}, "loaner_recovered"),
    ],
    ids=["repaired_no", "repaired_0", "loaner_recovered_yes"],
)
async def test_fld_6_the_return_takes_only_json_booleans_for_its_flags(
    runtime: ServiceRuntime,
    admin: httpx.AsyncClient,
    clock: Clock,
    body: dict[str, Any],
    field: str,
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)

    refused = await admin.post("/v1/take-backs/R-1/return", json=body)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in refused.json()["errors"]} == {field}
    assert (await admin.get("/v1/take-backs/R-1")).json()["returned_at"] is None
    assert "UnitReturned" not in await published(runtime)


async def board_for_another_order(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> httpx.Response:
    """Order o-2's technician leaving for v-9 with loaner L1 on board."""
    await order(runtime, "o-2", visit_id="v-9", loaner_required=True)
    return await depart_with_loaner(admin, clock, "v-9", timedelta(minutes=30))


async def test_fld_6_a_loaner_the_customer_kept_stays_lent_to_the_order_until_collected(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)

    returned = await admin.post(
        "/v1/take-backs/R-1/return", json={"repaired": False, "loaner_recovered": False}
    )

    assert returned.status_code == 200, returned.text
    assert returned.json()["returned_at"] is not None
    assert returned.json()["loaner_collected_at"] is None
    kept = await loaner(admin, "L1")
    assert (kept["state"], kept["order_id"], kept["receipt_number"]) == ("lent", "o-1", "R-1")
    [back] = [e for e in await outbox(runtime) if e.event_name == "UnitReturned"]
    assert back.data["loaner_recovered"] is False and back.data["repaired"] is False
    # nobody else departs with it
    boarded = await board_for_another_order(runtime, admin, clock)
    assert boarded.status_code == 409, boarded.text
    assert (await loaner(admin, "L1"))["order_id"] == "o-1"

    clock.advance(days=2)
    collected = await admin.post("/v1/loaners/L1/collect", json={"condition": "外壳磨损"})

    assert collected.status_code == 200, collected.text
    assert (collected.json()["state"], collected.json()["order_id"]) == ("available", None)
    assert collected.json()["condition"] == "外壳磨损"
    take_back_now = (await admin.get("/v1/take-backs/R-1")).json()
    assert take_back_now["loaner_collected_at"] == clock.now.isoformat().replace("+00:00", "Z")
    again = await admin.post("/v1/loaners/L1/collect", json={})
    assert again.status_code == 409, again.text


async def test_fld_6_a_loaner_collected_with_the_unit_is_back_in_stock(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)

    returned = await admin.post(
        "/v1/take-backs/R-1/return", json={"loaner_recovered": True, "loaner_condition": "完好"}
    )

    assert returned.status_code == 200, returned.text
    assert returned.json()["loaner_collected_at"] is not None
    back = await loaner(admin, "L1")
    assert (back["state"], back["condition"]) == ("available", "完好")
    [event] = [e for e in await outbox(runtime) if e.event_name == "UnitReturned"]
    assert event.data["loaner_recovered"] is True


async def test_fld_1_fld_6_a_revisit_while_the_customer_still_has_the_loaner_needs_no_other(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    kept = await admin.post("/v1/take-backs/R-1/return", json={"loaner_recovered": False})
    assert kept.status_code == 200, kept.text
    await revisit(runtime, RevisitReason.CUSTOMER_DISSATISFIED)

    departed = await depart_with_loaner(admin, clock)

    assert departed.status_code == 200, departed.text
    assert (await loaner(admin, "L1"))["state"] == "lent"  # at the customer's, not on board


async def test_fld_6_a_technician_collects_only_loaners_of_orders_they_have_a_visit_for(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    kept = await admin.post("/v1/take-backs/R-1/return", json={"loaner_recovered": False})
    assert kept.status_code == 200, kept.text

    async with await technician(runtime, "tech-8") as other:
        refused = await other.post("/v1/loaners/L1/collect", json={})
        missing = await other.post("/v1/loaners/L-none/collect", json={})
    async with await technician(runtime, "tech-7") as own:
        collected = await own.post("/v1/loaners/L1/collect", json={})

    assert refused.status_code == missing.status_code == 404, refused.text
    assert refused.json()["detail"] == "No loaner with serial L1."
    assert collected.status_code == 200, collected.text
    assert (await loaner(admin, "L1"))["state"] == "available"


@pytest.mark.parametrize(
    "serial",
    ["WH/2024/0007", "/L1", "L1/", "L1/collect", "50% off?#1", "热水器/甲"],
    ids=["slashes", "leading_slash", "trailing_slash", "ends_like_the_route", "reserved", "cjk"],
)
async def test_fld_6_a_loaner_whose_serial_holds_a_slash_is_read_and_collected_at_its_location(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock, serial: str
) -> None:
    # Serials are the maker's, printed on the unit: a `/` (or `?`, `#`, `%`) is taken, and the
    # serial is one percent-encoded path segment of its URL (`%2F` for `/`).
    await unit_taken_back_with_loaner(runtime, admin, clock, serial)
    kept = await admin.post("/v1/take-backs/R-1/return", json={"loaner_recovered": False})
    assert kept.status_code == 200, kept.text
    location = "/v1/loaners/" + quote(serial, safe="")

    read = await admin.get(location)
    collected = await admin.post(location + "/collect", json={"condition": "完好"})

    assert read.status_code == 200, read.text
    assert (read.json()["serial"], read.json()["state"]) == (serial, "lent")
    assert collected.status_code == 200, collected.text
    assert (collected.json()["serial"], collected.json()["state"]) == (serial, "available")
    assert (await admin.get(location)).json()["state"] == "available"
    assert (await admin.post(location + "/collect", json={})).status_code == 409


async def test_fld_6_a_loaner_is_read_apart_from_one_whose_serial_continues_it(
    admin: httpx.AsyncClient,
) -> None:
    await register_loaners(admin, "WH", "WH/collect")

    plain = await admin.get("/v1/loaners/WH")
    longer = await admin.get("/v1/loaners/WH%2Fcollect")
    missing = await admin.post("/v1/loaners/WH%2F/collect", json={})

    assert (plain.json()["serial"], longer.json()["serial"]) == ("WH", "WH/collect")
    assert missing.status_code == 404, missing.text
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["detail"] == "No loaner with serial WH/."


@pytest.mark.parametrize("serial", [".", ".."])
async def test_fld_6_a_serial_that_cannot_be_a_path_segment_is_refused(
    admin: httpx.AsyncClient, serial: str
) -> None:
    # "." and ".." are removed from any URL by clients (RFC 3986 5.2.4): no URL reaches them.
    refused = await admin.post("/v1/loaners", json={"serial": serial, "product_line": "x"})

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == ["serial"]
    assert (await admin.get("/v1/loaners")).json()["items"] == []


# -- FLD-1 / FLD-6: a loaner of the order's product line (audit D3) ------------------------------


# -- FLD-6: a kept loaner chased after its collect-by day, and its collection published ----------

#: The unit comes back on Monday 2 March; the customer keeps the loaner until 5 March (3 days).
COLLECT_BY_ENDS = datetime(2026, 3, 5, 16, 0, tzinfo=UTC)  # midnight in Shanghai


async def sweep(runtime: ServiceRuntime) -> int:
    swept: dict[str, int] = await runtime.app.state.sweep()
    return swept["loaners_overdue"]


async def events_named(runtime: ServiceRuntime, name: str) -> list[EventEnvelope]:
    return [e for e in await outbox(runtime) if e.event_name == name]


async def returned_keeping_the_loaner(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    kept = await admin.post("/v1/take-backs/R-1/return", json={"loaner_recovered": False})
    assert kept.status_code == 200, kept.text


async def test_fld_6_a_loaner_kept_past_its_collect_by_day_is_chased_once_and_collected_late(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await returned_keeping_the_loaner(runtime, admin, clock)
    returned_at = clock.now

    assert await sweep(runtime) == 0
    clock.now = COLLECT_BY_ENDS - timedelta(minutes=1)  # 23:59 on the collect-by day
    assert await sweep(runtime) == 0
    clock.now = COLLECT_BY_ENDS
    assert await sweep(runtime) == 1
    clock.advance(days=1)
    assert await sweep(runtime) == 0

    [overdue] = await events_named(runtime, "LoanerCollectionOverdue")
    assert overdue.subject == overdue.partitionkey == "o-1"
    assert overdue.data == {
        "order_id": "o-1",
        "receipt_number": "R-1",
        "loaner_serial": "L1",
        "unit_returned_at": returned_at.isoformat().replace("+00:00", "Z"),
        "collect_by": "2026-03-05",
        "detected_at": COLLECT_BY_ENDS.isoformat().replace("+00:00", "Z"),
    }
    shown = (await admin.get("/v1/take-backs/R-1")).json()
    assert shown["loaner_overdue_reported_at"] == overdue.data["detected_at"]
    assert await events_named(runtime, "UnitReturnOverdue") == []

    collected = await admin.post("/v1/loaners/L1/collect", json={})

    assert collected.status_code == 200, collected.text
    [late] = await events_named(runtime, "LoanerCollected")
    assert late.subject == "o-1"
    assert late.data == {
        "order_id": "o-1",
        "receipt_number": "R-1",
        "loaner_serial": "L1",
        "collected_at": clock.now.isoformat().replace("+00:00", "Z"),
        "late": True,
    }
    assert await sweep(runtime) == 0
    assert len(await events_named(runtime, "LoanerCollectionOverdue")) == 1
    # back in stock: another order's technician takes it along
    assert (await loaner(admin, "L1"))["state"] == "available"
    boarded = await board_for_another_order(runtime, admin, clock)
    assert boarded.status_code == 200, boarded.text


async def test_fld_6_a_kept_loaner_collected_in_time_is_published_and_never_chased(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await returned_keeping_the_loaner(runtime, admin, clock)
    clock.now = COLLECT_BY_ENDS - timedelta(hours=1)

    collected = await admin.post("/v1/loaners/L1/collect", json={})

    assert collected.status_code == 200, collected.text
    [event] = await events_named(runtime, "LoanerCollected")
    assert event.data["late"] is False and event.data["loaner_serial"] == "L1"
    clock.advance(days=10)
    assert await sweep(runtime) == 0
    assert await events_named(runtime, "LoanerCollectionOverdue") == []


async def test_fld_6_a_loaner_collected_with_the_unit_is_neither_chased_nor_published_again(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    returned = await admin.post("/v1/take-backs/R-1/return", json={"loaner_recovered": True})
    assert returned.status_code == 200, returned.text

    clock.now = COLLECT_BY_ENDS + timedelta(days=10)

    assert await sweep(runtime) == 0
    assert "LoanerCollectionOverdue" not in await published(runtime)
    assert "LoanerCollected" not in await published(runtime)


async def test_fld_1_a_loaner_of_another_product_line_is_not_boarded(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", loaner_required=True)  # a water heater
    registered = await admin.post(
        "/v1/loaners", json={"serial": "L-GS", "product_line": "gas_stove"}
    )
    assert registered.status_code == 201, registered.text

    refused = await act(
        admin,
        "v-1",
        type="depart",
        eta=(clock.now + timedelta(minutes=30)).isoformat(),
        kit_checked=LOANER_KIT,
        loaner_serial="L-GS",
    )

    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["rule"] == "FLD-1"
    assert (problem["loaner_product_line"], problem["order_product_line"]) == (
        "gas_stove",
        "water_heater",
    )
    assert "gas_stove" in problem["detail"] and "water_heater" in problem["detail"]
    assert await loaner_states(admin) == {"L-GS": "available"}
    assert (await admin.get("/v1/visits/v-1")).json()["state"] == "scheduled"
    assert "TechnicianDeparted" not in await published(runtime)


async def test_fld_6_a_loaner_of_another_product_line_is_not_lent_at_the_take_back(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1")
    registered = await admin.post(
        "/v1/loaners", json={"serial": "L-GS", "product_line": "gas_stove"}
    )
    assert registered.status_code == 201, registered.text
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="主板故障", take_back_needed=True)

    refused = await act(
        admin,
        "v-1",
        type="take_back",
        receipt_number="R-1",
        appearance="外观完好",
        photo_refs=[await upload(admin, "v-1", "photo")],
        promised_return_date="2026-03-10",
        loaner_serial="L-GS",
    )

    assert refused.status_code == 409, refused.text
    assert refused.json()["rule"] == "FLD-6"
    assert refused.json()["order_product_line"] == "water_heater"
    assert await loaner_states(admin) == {"L-GS": "available"}
    assert (await admin.get("/v1/take-backs/R-1")).status_code == 404


# -- FLD-6: the visit a unit comes back on (audit D4) ---------------------------------------------


async def test_fld_6_a_unit_is_not_returned_on_another_orders_visit(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    await order(runtime, "o-2", visit_id="v-b")

    refused = await admin.post(
        "/v1/take-backs/R-1/return", json={"visit_id": "v-b", "loaner_recovered": True}
    )
    own_take_back_visit = await admin.post(
        "/v1/take-backs/R-1/return", json={"visit_id": "v-1", "loaner_recovered": True}
    )
    unknown = await admin.post(
        "/v1/take-backs/R-1/return", json={"visit_id": "v-none", "loaner_recovered": True}
    )

    for response, problem in (
        (refused, "is not a visit of order o-1"),
        (own_take_back_visit, "is the visit the unit was taken back on"),
        (unknown, "is not a visit of order o-1"),
    ):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["field"] == "visit_id" and problem in response.json()["detail"]
    assert "UnitReturned" not in await published(runtime)
    assert (await loaner(admin, "L1"))["state"] == "lent"


async def test_fld_6_a_technician_returns_a_unit_only_on_a_visit_they_hold(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    await runtime.handle_event(
        EventEnvelope.wrap(
            RevisitBooked(
                order_id="o-1",
                visit_id="v-2",
                previous_visit_id="v-1",
                reason=RevisitReason.UNIT_RETURN,
                technician_id="tech-8",
            )
        )
    )
    async with await technician(runtime, "tech-8") as tech8:
        await ok(
            tech8,
            "v-2",
            type="depart",
            eta=(clock.now + timedelta(hours=1)).isoformat(),
            kit_checked=list(DEFAULT_KIT),
        )

    async with await technician(runtime, "tech-7") as tech7:
        refused = await tech7.post(
            "/v1/take-backs/R-1/return", json={"visit_id": "v-2", "loaner_recovered": True}
        )
    async with await technician(runtime, "tech-8") as tech8:
        returned = await tech8.post(
            "/v1/take-backs/R-1/return", json={"visit_id": "v-2", "loaner_recovered": True}
        )

    assert refused.status_code == 422, refused.text
    assert returned.status_code == 200, returned.text
    [event] = [e for e in await outbox(runtime) if e.event_name == "UnitReturned"]
    assert event.data["visit_id"] == "v-2"


async def test_fld_6_a_unit_returned_before_collections_were_recorded_shows_its_loaner_back(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await unit_taken_back_with_loaner(runtime, admin, clock)
    returned = await admin.post("/v1/take-backs/R-1/return", json={"loaner_recovered": True})
    assert returned.status_code == 200, returned.text
    async with runtime.session_factory() as session:
        row = await session.get(TakeBackRow, "R-1")
        assert row is not None
        # as stored before: a return then always took the loaner back
        row.doc = {k: v for k, v in row.doc.items() if k != "loaner_collected_at"}
        session.add(row)
        await session.commit()

    shown = (await admin.get("/v1/take-backs/R-1")).json()

    assert shown["loaner_collected_at"] == shown["returned_at"] is not None
