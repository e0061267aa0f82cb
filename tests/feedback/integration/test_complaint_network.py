"""The network a complaint counts for (FBK-9, FBK-11, FBK-8 reconciliation), through REST on
SQLite and PostgreSQL: its order's network, or the centre when it names no order; the quality
figures and the network's daily reconciliation count it under the same network."""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from feedback_support import CALENDAR, MONDAY, Harness, local

from contracts.common import Channel
from feedback.domain.complaints import Complaint
from feedback.domain.policy import FeedbackPolicy
from feedback.service_layer.unit_of_work import FeedbackUnitOfWork
from servicekit.db import make_engine
from servicekit.migrations import upgrade


async def _complaints_counted(harness: Harness, network: str) -> tuple[int, int]:
    """(complaints in ``network``'s quality figures row, complaints_filed in its Monday
    reconciliation)."""
    figures = await harness.client.get(
        "/v1/quality-figures",
        params={"start": MONDAY.isoformat(), "end": MONDAY.isoformat(), "by": "network"},
    )
    assert figures.status_code == 200, figures.text
    rows = {r["key"]: r for r in figures.json()["rows"]}
    in_figures = sum(rows[network]["complaints_by_class"].values()) if network in rows else 0
    report = await harness.client.get(
        f"/v1/networks/{network}/reconciliation", params={"day": MONDAY.isoformat()}
    )
    assert report.status_code == 200, report.text
    return in_figures, report.json()["complaints_filed"]


async def test_fbk_11_a_complaint_about_no_order_counts_for_the_centre_in_both_reads(
    harness: Harness,
) -> None:
    harness.clock.set(local(MONDAY, 10))
    filed = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "hotline",
            "description": "热线长时间无人接听",
            "confirmed_by_customer": True,
            "level": 1,
            "staff_fault_class": "C",
        },
        headers={"Idempotency-Key": "no-order-1"},
    )
    assert filed.status_code == 201, filed.text
    assert filed.json()["network_id"] == "centre"

    assert await _complaints_counted(harness, "centre") == (1, 1)
    listed = await harness.client.get("/v1/complaints", params={"network_id": "centre"})
    assert listed.status_code == 200, listed.text
    assert [c["complaint_id"] for c in listed.json()["items"]] == [filed.json()["complaint_id"]]


async def test_fbk_11_a_complaint_stored_without_a_network_counts_for_the_centre_in_both(
    harness: Harness,
) -> None:
    """A complaint stored before the rule was kept (network null) still counts for the centre,
    in the figures and the reconciliation alike."""
    complaint = Complaint.file(
        order_id=None,
        channel=Channel.HOTLINE,
        description="热线长时间无人接听",
        level=1,
        staff_fault_class="C",
        taken_by="agent-1",
        confirmed_by_customer=True,
        now=local(MONDAY, 10),
        technician_id=None,
        network_id=None,
        policy=FeedbackPolicy(),
        calendar=CALENDAR,
    )
    complaint.events.clear()
    async with FeedbackUnitOfWork(harness.runtime.session_factory) as uow:
        await uow.complaints.save(complaint)
        await uow.commit()
    harness.clock.set(local(MONDAY, 11))

    assert await _complaints_counted(harness, "centre") == (1, 1)


async def test_fbk_11_migration_0011_moves_complaints_stored_without_a_network_to_the_centre(
    database_url: str,
) -> None:
    migrations = importlib.import_module("feedback.bootstrap").SPEC.migrations_dir
    await upgrade(migrations, database_url, revision="0010")
    complaint = sa.table(
        "feedback_complaint",
        *(
            sa.column(name, kind)
            for name, kind in (
                ("complaint_id", sa.String),
                ("order_id", sa.String),
                ("stage", sa.String),
                ("level", sa.Integer),
                ("network_id", sa.String),
                ("filed_at", sa.DateTime(timezone=True)),
                ("data", sa.JSON),
            )
        ),
    )
    filed_at = local(MONDAY, 10)
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                complaint.insert(),
                [
                    {
                        "complaint_id": complaint_id,
                        "order_id": complaint_id,
                        "stage": "accepted",
                        "level": 1,
                        "network_id": network_id,
                        "filed_at": filed_at,
                        "data": {},
                    }
                    for complaint_id, network_id in (("no-order", None), ("of-net", "net-1"))
                ],
            )
        await upgrade(migrations, database_url)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(sa.select(complaint.c.complaint_id, complaint.c.network_id))
            ).all()
    finally:
        await engine.dispose()
    assert dict((str(c), n) for c, n in rows) == {"no-order": "centre", "of-net": "net-1"}
