"""Feedback's quality lists (conduct findings, fraud suspicions, open issues) page like its
complaint and call-back lists, on SQLite and PostgreSQL: a page object (`items`,
`next_cursor`), `limit` (the policy's `list_page_default` when not given, cut to its
`list_page_max`) and an opaque `cursor` bound to its list; each row exactly once in a stable
order; a bad cursor or limit is a 422 problem; a partner network still sees its own only."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from feedback_support import MONDAY, Harness, local

from contracts.feedback import FraudSignal, Grade
from feedback.domain.findings import ConductFinding, FindingStatus, FraudCase, OpenIssueRecord
from feedback.domain.policy import FeedbackPolicy

POLICY = FeedbackPolicy()
T = local(MONDAY, 9)


async def _pages(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, **params: Any
) -> list[list[dict[str, Any]]]:
    """Every page of the list, following ``next_cursor`` to the end."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor is not None else {})}
        response = await client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not move on"


def _ids(pages: list[list[dict[str, Any]]], key: str) -> list[str]:
    return [item[key] for page in pages for item in page]


def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in response.json()["errors"]}


def _finding(n: int, minute: int, *, technician: str, status: FindingStatus) -> ConductFinding:
    return ConductFinding(
        finding_id=f"f-{n:03d}",
        order_id=f"o-{n}",
        task_id=f"t-{n}",
        aspect="punctuality",
        grade=Grade.POOR,
        raised_at=T + timedelta(minutes=minute),
        technician_id=technician,
        status=status,
    )


def _fraud(n: int, minute: int, *, network: str) -> FraudCase:
    return FraudCase(
        fraud_id=f"x-{n:03d}",
        order_id=f"o-{n}",
        signal=FraudSignal.FEE_MISMATCH,
        flagged_at=T + timedelta(minutes=minute),
        dedupe_key=f"fee:o-{n}",
        network_id=network,
        reported_amount=Decimal("80.00"),
    )


def _issue(n: int, day: int, *, network: str, resolved: bool = False) -> OpenIssueRecord:
    opened = T + timedelta(days=day)
    return OpenIssueRecord(
        issue_id=f"i-{n:03d}",
        order_id=f"o-{n}",
        reason="visit failed",
        opened_at=opened,
        department_due_at=opened + timedelta(hours=8),
        company_due_at=opened + timedelta(days=2),
        dedupe_key=f"issue:o-{n}",
        network_id=network,
        resolved_at=opened + timedelta(hours=1) if resolved else None,
        resolution="fixed" if resolved else None,
    )


async def _store(harness: Harness, *rows: ConductFinding | FraudCase | OpenIssueRecord) -> None:
    async with harness.runtime.app.state.uow_factory() as uow:
        for row in rows:
            if isinstance(row, ConductFinding):
                await uow.findings.save(row)
            elif isinstance(row, FraudCase):
                await uow.frauds.add(row)
            else:
                await uow.issues.save(row)
        await uow.commit()


async def test_fbk_6_conduct_findings_page_oldest_first_each_once_and_filter_as_before(
    harness: Harness,
) -> None:
    # Seven findings raised in an order their ids do not follow, two at the same moment.
    minutes = [5, 0, 3, 3, 1, 6, 2]
    await _store(
        harness,
        *(
            _finding(
                n,
                minute,
                technician="tech-7" if n % 2 else "tech-8",
                status=FindingStatus.CONFIRMED if n == 4 else FindingStatus.PENDING,
            )
            for n, minute in enumerate(minutes)
        ),
    )
    oldest_first = ["f-001", "f-004", "f-006", "f-002", "f-003", "f-000", "f-005"]

    every = await _pages(harness.client, "/v1/conduct-findings", limit=3)
    pending = await _pages(harness.client, "/v1/conduct-findings", limit=2, status="pending")
    tech_7 = await _pages(harness.client, "/v1/conduct-findings", technician_id="tech-7")

    assert [len(p) for p in every] == [3, 3, 1]
    assert _ids(every, "finding_id") == oldest_first
    assert _ids(pending, "finding_id") == [f for f in oldest_first if f != "f-004"]
    assert _ids(tech_7, "finding_id") == ["f-001", "f-003", "f-005"]


async def test_fbk_8_fraud_suspicions_page_newest_first_and_a_partner_sees_its_own_only(
    harness: Harness,
) -> None:
    await _store(
        harness,
        *(_fraud(n, n // 2, network="net-a" if n % 3 else "net-b") for n in range(9)),
    )
    # newest first; equal times (two a minute) by id, descending too
    newest_first = [f"x-{n:03d}" for n in reversed(range(9))]
    partner = await harness.key("partner", network_id="net-a")

    every = await _pages(harness.client, "/v1/fraud-suspicions", limit=4)
    own = await _pages(harness.client, "/v1/fraud-suspicions", headers=partner, limit=2)
    one_order = await _pages(harness.client, "/v1/fraud-suspicions", order_id="o-4")
    foreign = await harness.client.get(
        "/v1/fraud-suspicions", params={"network_id": "net-b"}, headers=partner
    )

    assert [len(p) for p in every] == [4, 4, 1]
    assert _ids(every, "fraud_id") == newest_first
    assert _ids(own, "fraud_id") == [f for f in newest_first if int(f[2:]) % 3]
    assert _ids(one_order, "fraud_id") == ["x-004"]
    assert foreign.status_code == 403


async def test_fbk_12_open_issues_page_as_a_work_queue_the_soonest_to_escalate_first(
    harness: Harness,
) -> None:
    days = [4, 0, 2, 1, 3, 2, 5]
    await _store(
        harness,
        *(
            _issue(n, day, network="net-a" if n != 6 else "net-b", resolved=n == 3)
            for n, day in enumerate(days)
        ),
    )
    partner = await harness.key("partner", network_id="net-a")
    soonest_due = ["i-001", "i-003", "i-002", "i-005", "i-004", "i-000", "i-006"]

    open_issues = await _pages(harness.client, "/v1/issues", limit=2)
    every = await _pages(harness.client, "/v1/issues", limit=5, open_only=False)
    own = await _pages(harness.client, "/v1/issues", headers=partner, open_only=False)
    one_order = await _pages(harness.client, "/v1/issues", order_id="o-2")

    assert [len(p) for p in open_issues] == [2, 2, 2]
    assert _ids(open_issues, "issue_id") == [i for i in soonest_due if i != "i-003"]
    assert _ids(every, "issue_id") == soonest_due
    assert _ids(own, "issue_id") == [i for i in soonest_due if i != "i-006"]
    assert _ids(one_order, "issue_id") == ["i-002"]


async def test_the_quality_lists_cut_a_limit_to_the_policy_maximum(harness: Harness) -> None:
    count = POLICY.list_page_max + 3
    await _store(harness, *(_fraud(n, n, network="net-a") for n in range(count)))

    default = await _pages(harness.client, "/v1/fraud-suspicions")
    first = await harness.client.get(
        "/v1/fraud-suspicions", params={"limit": POLICY.list_page_max + 100}
    )
    rest = await harness.client.get(
        "/v1/fraud-suspicions",
        params={"limit": POLICY.list_page_max + 100, "cursor": first.json()["next_cursor"]},
    )

    page = POLICY.list_page_default
    assert [len(p) for p in default] == [page] * (count // page) + [count % page]
    assert len(set(_ids(default, "fraud_id"))) == count
    assert first.status_code == 200, first.text
    assert len(first.json()["items"]) == POLICY.list_page_max
    assert first.json()["next_cursor"] is not None
    assert len(rest.json()["items"]) == 3 and rest.json()["next_cursor"] is None


async def test_the_quality_lists_refuse_a_bad_cursor_or_limit_naming_the_field(
    harness: Harness,
) -> None:
    await _store(
        harness,
        _finding(1, 0, technician="tech-7", status=FindingStatus.PENDING),
        _finding(2, 1, technician="tech-7", status=FindingStatus.PENDING),
        _fraud(1, 0, network="net-a"),
        _fraud(2, 1, network="net-a"),
        _issue(1, 0, network="net-a"),
        _issue(2, 1, network="net-a"),
    )
    cursors = {
        path: (await harness.client.get(path, params={"limit": 1})).json()["next_cursor"]
        for path in ("/v1/conduct-findings", "/v1/fraud-suspicions", "/v1/issues")
    }
    assert all(cursors.values())

    for path in cursors:
        _refused(await harness.client.get(path, params={"cursor": "not-a-cursor"}), "cursor")
        _refused(await harness.client.get(path, params={"cursor": "e30"}), "cursor")
        _refused(await harness.client.get(path, params={"limit": 0}), "limit")
        for other, cursor in cursors.items():  # a cursor of another list
            if other != path:
                _refused(await harness.client.get(path, params={"cursor": cursor}), "cursor")
