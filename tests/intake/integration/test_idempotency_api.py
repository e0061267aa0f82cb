"""Retries are safe: ``Idempotency-Key`` on every POST of intake, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest


async def test_the_same_key_and_body_get_the_same_answer_and_one_order(
    intake: Any, make_order: Any
) -> None:
    headers = {"Idempotency-Key": "call-4711"}
    first = await intake.admin.post("/v1/orders", json=make_order(), headers=headers)
    again = await intake.admin.post("/v1/orders", json=make_order(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await intake.order_count() == 1
    assert len(await intake.events("OrderCreated")) == 1


async def test_the_same_key_with_another_body_is_refused_with_422(
    intake: Any, make_order: Any
) -> None:
    headers = {"Idempotency-Key": "call-4712"}
    assert (await intake.admin.post("/v1/orders", json=make_order(), headers=headers)).is_success
    other = make_order(requests="周日下午")
    response = await intake.admin.post("/v1/orders", json=other, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert await intake.order_count() == 1


async def test_a_key_reused_after_it_expired_is_a_new_request_and_the_purge_drops_old_ones(
    intake: Any, make_order: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select, update

    from servicekit.idempotency import IdempotencyRecord

    headers = {"Idempotency-Key": "call-4713"}
    first = await intake.admin.post("/v1/orders", json=make_order(), headers=headers)
    assert first.status_code == 201
    expired = datetime.now(UTC) - timedelta(seconds=1)
    async with intake.runtime.session_factory() as session:
        await session.execute(update(IdempotencyRecord).values(expires_at=expired))
        await session.commit()

    other = make_order(requests="周日下午")
    other["customer"]["phone"] = "13900000009"
    again = await intake.admin.post("/v1/orders", json=other, headers=headers)

    assert again.status_code == 201, again.text
    assert again.json()["id"] != first.json()["id"]
    assert await intake.order_count() == 2
    async with intake.runtime.session_factory() as session:
        await session.execute(update(IdempotencyRecord).values(expires_at=expired))
        await session.commit()
    purged = await intake.runtime.purge_delivered_messages(datetime.now(UTC))
    assert purged["idempotency_keys"] == 1
    async with intake.runtime.session_factory() as session:
        assert (await session.execute(select(IdempotencyRecord))).scalars().all() == []


async def test_keys_are_per_route_and_every_post_honours_them(intake: Any, make_order: Any) -> None:
    order = (await intake.admin.post("/v1/orders", json=make_order())).json()
    headers = {"Idempotency-Key": "same-key-everywhere"}
    cancel = {"reason": "客户取消"}
    first = await intake.admin.post(
        f"/v1/orders/{order['id']}/cancel", json=cancel, headers=headers
    )
    again = await intake.admin.post(
        f"/v1/orders/{order['id']}/cancel", json=cancel, headers=headers
    )
    assert first.status_code == again.status_code == 200  # not 409: the retry is replayed
    assert len(await intake.events("OrderCancelled")) == 1
    created = await intake.admin.post("/v1/orders", json=make_order(), headers=headers)
    assert created.status_code == 201  # another route: the key is free there


async def test_a_refused_request_stores_nothing_so_a_corrected_retry_works(
    intake: Any, make_order: Any
) -> None:
    order = (
        await intake.admin.post("/v1/orders", json=make_order(product={"line": "water_heater"}))
    ).json()
    headers = {"Idempotency-Key": "verify-1"}
    url = f"/v1/orders/{order['id']}/verify"
    body = {"confirmed": ["product.model"]}
    assert (await intake.admin.post(url, json=body, headers=headers)).status_code == 422
    body = {"confirmed": ["product.model", "product.purchase_date"]}
    ok = await intake.admin.post(url, json=body, headers=headers)
    assert ok.status_code == 200, ok.text  # the refusal stored nothing under the key
    other = {"confirmed": ["customer.address"]}
    assert (await intake.admin.post(url, json=other, headers=headers)).status_code == 422
    assert len(await intake.events("OrderVerified")) == 1


async def test_50_concurrent_posts_with_one_key_create_exactly_one_order(
    intake: Any, make_order: Any
) -> None:
    headers = {"Idempotency-Key": "storm-1"}
    body = make_order()

    async def post() -> httpx.Response:
        return await intake.admin.post("/v1/orders", json=body, headers=headers)

    responses = await asyncio.gather(*(post() for _ in range(50)))
    assert {r.status_code for r in responses} == {201}, {r.status_code for r in responses}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await intake.order_count() == 1
    assert len(await intake.events("OrderCreated")) == 1
    assert await intake.events("DuplicateLinked") == []


async def test_int_8_simultaneous_reports_of_one_product_with_different_keys_make_one_order(
    intake: Any, make_order: Any
) -> None:
    body = make_order()

    async def post(n: int) -> httpx.Response:
        headers = {"Idempotency-Key": f"agent-{n}"}
        return await intake.admin.post("/v1/orders", json=body, headers=headers)

    responses = await asyncio.gather(*(post(n) for n in range(10)))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await intake.order_count() == 1
    assert len(await intake.events("OrderCreated")) == 1
    assert len(await intake.events("DuplicateLinked")) == 9


async def test_a_retry_after_a_crash_between_commit_and_answer_gets_the_order_not_a_second_one(
    intake: Any, make_order: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from servicekit.idempotency import RESOURCE_HEADER, IdempotencyRecord

    headers = {"Idempotency-Key": "crash-1"}
    first = await intake.admin.post("/v1/orders", json=make_order(), headers=headers)
    assert first.status_code == 201
    # As if the process died after committing the order but before storing its answer.
    async with intake.runtime.session_factory() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "crash-1")  # type: ignore[arg-type]
            .values(
                response_status=None,
                response_body=None,
                response_headers=json.dumps({RESOURCE_HEADER: first.json()["id"]}),
                created_at=datetime.now(UTC) - timedelta(minutes=5),
            )
        )
        await session.commit()
    retry = await intake.admin.post("/v1/orders", json=make_order(), headers=headers)
    assert retry.status_code == 201, retry.text
    assert retry.json()["id"] == first.json()["id"]
    assert await intake.order_count() == 1
    assert len(await intake.events("OrderCreated")) == 1
    again = await intake.admin.post("/v1/orders", json=make_order(), headers=headers)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"


async def test_a_retried_key_issue_issues_no_second_key_and_never_stores_the_secret(
    intake: Any,
) -> None:
    from sqlalchemy import func, select

    from servicekit.auth import ApiKey
    from servicekit.idempotency import IdempotencyRecord

    headers = {"Idempotency-Key": "issue-agent-7"}
    body = {"name": "call centre agent 7", "role": "agent"}

    async def keys() -> int:
        async with intake.runtime.session_factory() as session:
            return int((await session.execute(select(func.count()).select_from(ApiKey))).scalar())

    before = await keys()
    first = await intake.admin.post("/v1/api-keys", json=body, headers=headers)
    retry = await intake.admin.post("/v1/api-keys", json=body, headers=headers)

    assert first.status_code == 201, first.text
    key_id, secret = first.json()["key_id"], first.json()["key"]
    assert retry.status_code == 409
    assert retry.headers["content-type"] == "application/problem+json"
    assert retry.json()["key_id"] == key_id and f"/v1/api-keys/{key_id}" in retry.json()["detail"]
    assert "key" not in retry.json() and secret not in retry.text
    assert await keys() == before + 1
    assert len(await intake.events("ApiKeyIssued")) == 1
    async with intake.runtime.session_factory() as session:
        stored = (await session.execute(select(IdempotencyRecord))).scalars().all()
    assert stored and all(secret not in (r.response_body or "") for r in stored)
    # The issued key works, and another body under the key is refused as on every route.
    works = await intake.admin.get("/v1/orders", headers={"Authorization": f"Bearer {secret}"})
    assert works.status_code == 200, works.text
    other = {"name": "call centre agent 8", "role": "agent"}
    assert (await intake.admin.post("/v1/api-keys", json=other, headers=headers)).status_code == 422


async def test_a_key_issue_retried_after_a_crash_before_the_answer_names_the_issued_key(
    intake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from servicekit import idempotency

    headers = {"Idempotency-Key": "issue-crash"}
    body = {"name": "dispatcher 2", "role": "dispatcher"}

    async def died_before_storing_the_answer(*args: Any) -> None:
        return None

    with monkeypatch.context() as patched:
        patched.setattr(idempotency, "_store", died_before_storing_the_answer)
        first = await intake.admin.post("/v1/api-keys", json=body, headers=headers)
    assert first.status_code == 201
    async with intake.runtime.session_factory() as session:  # minutes later: taken for dead
        await session.execute(
            update(idempotency.IdempotencyRecord)
            .where(idempotency.IdempotencyRecord.key == "issue-crash")  # type: ignore[arg-type]
            .values(created_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        await session.commit()
    retry = await intake.admin.post("/v1/api-keys", json=body, headers=headers)

    assert retry.status_code == 409, retry.text
    assert retry.json()["key_id"] == first.json()["key_id"]
    assert first.json()["key"] not in retry.text
    assert len(await intake.events("ApiKeyIssued")) == 1


async def test_int_8_a_linked_report_retried_after_a_crash_before_the_answer_is_answered_as_linked(
    intake: Any, make_order: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from servicekit import idempotency

    taken = await intake.admin.post("/v1/orders", json=make_order())
    assert taken.status_code == 201, taken.text
    headers = {"Idempotency-Key": "repeat-crash"}

    async def died_before_storing_the_answer(*args: Any) -> None:
        return None

    with monkeypatch.context() as patched:
        patched.setattr(idempotency, "_store", died_before_storing_the_answer)
        first = await intake.admin.post("/v1/orders", json=make_order(), headers=headers)
    assert first.status_code == 200 and first.json()["duplicate"] is True
    async with intake.runtime.session_factory() as session:  # minutes later: taken for dead
        await session.execute(
            update(idempotency.IdempotencyRecord)
            .where(idempotency.IdempotencyRecord.key == "repeat-crash")  # type: ignore[arg-type]
            .values(created_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        await session.commit()
    retry = await intake.admin.post("/v1/orders", json=make_order(), headers=headers)

    # the repeated report was linked, not taken as a new order: the retry says so too
    assert retry.status_code == 200, retry.text
    assert retry.json()["duplicate"] is True
    assert retry.json()["id"] == taken.json()["id"]
    assert retry.headers["location"] == taken.headers["location"]
    assert len(await intake.events("DuplicateLinked")) == 1
    assert len(await intake.events("OrderCreated")) == 1
