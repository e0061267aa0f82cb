"""BIL-9 over the API: a visit that charges nothing is signed for no other amount."""

from __future__ import annotations

import httpx

from contracts.common import WarrantyStatus
from servicekit.runtime import ServiceRuntime
from tests.fieldwork.conftest import Clock, act, ok, on_site, order, published, upload


async def test_bil_9_signing_for_an_amount_on_a_free_visit_is_refused_as_problem_json(
    runtime: ServiceRuntime, admin: httpx.AsyncClient, clock: Clock
) -> None:
    await order(runtime, "o-1", warranty=WarrantyStatus.IN_WARRANTY)
    await on_site(admin, clock, "v-1")
    await ok(admin, "v-1", type="diagnose", cause="点火针松动")
    await ok(admin, "v-1", type="start_repair")
    await ok(admin, "v-1", type="complete_repair", tested=False, sure_fixed=True)
    sheet = await upload(admin, "v-1", "signature")

    refused = await act(
        admin, "v-1", type="sign_off", signed=True, signature_ref=sheet, amount_acknowledged="150"
    )

    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["rule"] == "BIL-9"
    assert refused.json()["amount_charged"] == "0.00"
    assert "CustomerSignedOff" not in await published(runtime)
    signed = await ok(
        admin, "v-1", type="sign_off", signed=True, signature_ref=sheet, amount_acknowledged="0"
    )
    assert signed["signed_off"]["amount_acknowledged"] == "0"
