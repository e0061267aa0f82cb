"""The lists of feedback page with a declared limit and a cursor: no row is silently dropped
(complaints, call-backs, the call-backs due now), on SQLite and PostgreSQL; the migration that
lets open complaints be listed most overdue first."""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from feedback_support import MONDAY, Harness, local, resolved_remotely

from feedback.domain.policy import FeedbackPolicy
from servicekit.db import make_engine
from servicekit.migrations import upgrade

POLICY = FeedbackPolicy()


async def _file(harness: Harness, n: int, *, level: int = 1) -> dict[str, Any]:
    filed = await harness.client.post(
        "/v1/complaints",
        json={
            "channel": "hotline",
            "description": f"投诉 {n}",
            "confirmed_by_customer": True,
            "level": level,
        },
    )
    assert filed.status_code == 201, filed.text
    return dict(filed.json())


async def _pages(harness: Harness, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of the list, following ``next_cursor`` to the end."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor is not None else {})}
        response = await harness.client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not move on"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _ids(pages: list[list[dict[str, Any]]], key: str = "complaint_id") -> list[str]:
    return [item[key] for page in pages for item in page]


async def test_fbk_10_205_open_complaints_page_through_exactly_once_in_every_sort_order(
    harness: Harness,
) -> None:
    filed = []
    for n in range(205):
        # two complaints a minute: equal filing times are ordered by id, never lost between pages
        harness.clock.set(local(MONDAY, 9) + timedelta(minutes=n // 2))
        filed.append(await _file(harness, n))
    harness.clock.set(local(MONDAY, 14))
    page = POLICY.list_page_default
    sizes = [page] * (205 // page) + ([205 % page] if 205 % page else [])
    oldest_first = [
        c["complaint_id"]
        for c in sorted(filed, key=lambda c: (_at(c["filed_at"]), c["complaint_id"]))
    ]
    soonest_due = [
        c["complaint_id"]
        for c in sorted(filed, key=lambda c: (_at(c["due_at"]), c["complaint_id"]))
    ]

    newest = await _pages(harness, "/v1/complaints", open_only=True)
    oldest = await _pages(harness, "/v1/complaints", open_only=True, sort="filed_at")
    due = await _pages(harness, "/v1/complaints", sort="due")

    assert [len(p) for p in newest] == sizes
    assert _ids(newest) == oldest_first[::-1]
    assert _ids(oldest) == oldest_first
    assert _ids(due) == soonest_due
    assert due[0][0]["complaint_id"] == filed[0]["complaint_id"]  # the most overdue first


async def test_fbk_10_the_complaint_list_honours_its_limit_up_to_the_policy_maximum(
    harness: Harness,
) -> None:
    harness.clock.set(local(MONDAY, 9))
    for n in range(POLICY.list_page_max + 3):
        await _file(harness, n)

    five = (await harness.client.get("/v1/complaints", params={"limit": 5})).json()
    too_many = await harness.client.get(
        "/v1/complaints", params={"limit": POLICY.list_page_max + 100}
    )
    rest = await harness.client.get(
        "/v1/complaints",
        params={"limit": POLICY.list_page_max + 100, "cursor": too_many.json()["next_cursor"]},
    )

    assert len(five["items"]) == 5 and five["next_cursor"] is not None
    assert too_many.status_code == 200, too_many.text
    # cut to the policy's largest page, and it says so
    assert len(too_many.json()["items"]) == POLICY.list_page_max
    assert too_many.json()["next_cursor"] is not None
    assert len(rest.json()["items"]) == 3 and rest.json()["next_cursor"] is None


async def test_fbk_10_sort_due_lists_only_open_complaints_most_overdue_first(
    harness: Harness,
) -> None:
    harness.clock.set(local(MONDAY, 9))
    plain = await _file(harness, 1)  # accepted: due in 1 working hour, 10:00
    harness.clock.set(local(MONDAY, 9, 10))
    urgent = await _file(harness, 2, level=2)  # level 2: half the time, 9:40
    harness.clock.set(local(MONDAY, 9, 20))
    moved = await _file(harness, 3)
    harness.clock.set(local(MONDAY, 9, 30))
    url = f"/v1/complaints/{moved['complaint_id']}"
    advanced = await harness.client.post(f"{url}/advance", json={"to": "dispatched", "owner": "d"})
    assert advanced.status_code == 200, advanced.text  # dispatched: its clock starts again
    done = await _file(harness, 4)
    url = f"/v1/complaints/{done['complaint_id']}"
    for stage in ("dispatched", "handled", "fed_back", "replied", "followed_up"):
        step = await harness.client.post(f"{url}/advance", json={"to": stage, "owner": "d"})
        assert step.status_code == 200, step.text
    closing = await harness.client.post(
        f"{url}/close",
        json={
            "cause": "迟到",
            "owner": "d",
            "preventive_action": "提前出发",
            "at_fault": False,
        },
    )
    assert closing.status_code == 200, closing.text
    harness.clock.set(local(MONDAY, 11))

    listed = await harness.client.get("/v1/complaints", params={"sort": "due"})
    every = await harness.client.get("/v1/complaints", params={"sort": "due", "open_only": False})

    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [c["complaint_id"] for c in items] == [
        urgent["complaint_id"],
        plain["complaint_id"],
        moved["complaint_id"],
    ]
    assert [c["stages"][-1]["overdue"] for c in items] == [True, True, False]
    assert every.json()["items"] == items  # a closed complaint runs no clock


async def test_a_malformed_cursor_or_one_of_another_sort_order_is_refused_naming_the_field(
    harness: Harness,
) -> None:
    harness.clock.set(local(MONDAY, 9))
    for n in range(3):
        await _file(harness, n)
    newest = (await harness.client.get("/v1/complaints", params={"limit": 1})).json()
    assert newest["next_cursor"] is not None

    refused = [
        await harness.client.get("/v1/complaints", params={"cursor": "not-a-cursor"}),
        await harness.client.get(
            "/v1/complaints", params={"sort": "due", "cursor": newest["next_cursor"]}
        ),
        await harness.client.get("/v1/call-backs", params={"cursor": newest["next_cursor"]}),
        await harness.client.get("/v1/call-backs/due", params={"cursor": "e30"}),
    ]
    bad_sort = await harness.client.get("/v1/complaints", params={"sort": "owner"})
    bad_limit = await harness.client.get("/v1/call-backs", params={"limit": 0})

    for response in refused:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == ["cursor"]
    assert bad_sort.status_code == 422 and bad_limit.status_code == 422


async def _remote_call_backs(harness: Harness, count: int) -> list[str]:
    """``count`` call-backs after phone guidance (FBK-1), a minute apart, soonest due first."""
    for n in range(count):
        at = local(MONDAY, 10, n)
        harness.clock.set(at)
        await harness.emit(resolved_remotely(f"o-{n}", at=at), at)
    return [(await harness.tasks(f"o-{n}"))[0]["task_id"] for n in range(count)]


async def test_fbk_1_call_backs_page_through_every_task_once(harness: Harness) -> None:
    tasks = await _remote_call_backs(harness, 5)

    pages = await _pages(harness, "/v1/call-backs", limit=2)

    assert [len(p) for p in pages] == [2, 2, 1]
    assert _ids(pages, "task_id") == tasks


async def test_fbk_1_call_backs_due_are_not_hidden_behind_tasks_that_agents_hold(
    harness: Harness,
) -> None:
    tasks = await _remote_call_backs(harness, 6)
    harness.clock.set(local(MONDAY, 12, 30))  # all callable (from 12:00..12:05)
    for task_id in tasks[:4]:  # the four soonest due are being called
        claim = await harness.client.post(f"/v1/call-backs/{task_id}/claim")
        assert claim.status_code == 200, claim.text

    first = (await harness.client.get("/v1/call-backs/due", params={"limit": 2})).json()

    assert [t["task_id"] for t in first["items"]] == tasks[4:]
    assert first["next_cursor"] is None
    assert _ids(await _pages(harness, "/v1/call-backs/due", limit=1), "task_id") == tasks[4:]


async def test_fbk_10_migration_0008_finds_when_the_current_state_of_open_complaints_runs_out(
    database_url: str,
) -> None:
    migrations = importlib.import_module("feedback.bootstrap").SPEC.migrations_dir
    await upgrade(migrations, database_url, revision="0007")
    columns = {
        "complaint_id": sa.String,
        "order_id": sa.String,
        "stage": sa.String,
        "level": sa.Integer,
        "filed_at": sa.DateTime(timezone=True),
        "data": sa.JSON,
    }
    complaint = sa.table("feedback_complaint", *(sa.column(n, t) for n, t in columns.items()))
    filed = local(MONDAY, 9)

    def row(complaint_id: str, stage: str, due_at: str | None) -> dict[str, Any]:
        state = {"stage": stage, "owner": "desk", "entered_at": filed.isoformat(), "note": None}
        state |= {"due_at": due_at, "left_at": None, "overdue_reported_at": None}
        return {
            "complaint_id": complaint_id,
            "order_id": f"o-{complaint_id}",
            "stage": stage,
            "level": 1,
            "filed_at": filed,
            "data": {"stages": [state]},
        }

    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                complaint.insert(),
                [
                    row("waiting", "accepted", "2026-03-02T10:00:00+08:00"),
                    row("reported", "dispatched", "2026-03-02T01:30:00+00:00"),
                    row("closed", "closed", None),
                ],
            )
        await upgrade(migrations, database_url)
        migrated = sa.table(
            "feedback_complaint",
            sa.column("complaint_id", sa.String),
            sa.column("due_at", sa.DateTime(timezone=True)),
        )
        async with engine.connect() as conn:
            due = {str(r.complaint_id): r.due_at for r in await conn.execute(sa.select(migrated))}
    finally:
        await engine.dispose()
    # Overdue reported or not, an open complaint is listed by its SLA end; a closed one has none.
    assert due == {
        "waiting": local(MONDAY, 10),
        "reported": local(MONDAY, 9, 30),
        "closed": None,
    }
