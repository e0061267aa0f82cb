"""A receiver's answer is the receiver's to choose: whatever its body holds, the attempt is
recorded (never a transaction the database refuses) and the worker's memory stays bounded."""

from __future__ import annotations

import gzip
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
from webhook_testkit import Receiver, Reply

from servicekit.db import SessionFactory
from servicekit.webhooks import (
    OwnerScope,
    WebhookPolicy,
    create_subscription,
    deliver_due,
    enqueue,
    list_attempts,
)
from servicekit.webhooks.delivery import _attempt, _Claimed

OWNER = "net-1"
EVENT = "fsm.OrderAssigned.v1"


async def test_a_response_body_holding_nul_characters_is_recorded_as_a_failed_attempt(
    sessions: SessionFactory, receiver: Receiver, local_policy: WebhookPolicy
) -> None:
    # PostgreSQL text cannot hold NUL: storing the excerpt as received rolled back the whole
    # batch's outcomes, and the delivery was sent again after every lease, never counted.
    now = datetime.now(UTC)
    async with sessions() as session:
        await create_subscription(
            session, owner_id=OWNER, url=receiver.url(), policy=local_policy, now=now
        )
        [delivery_id] = await enqueue(session, OWNER, EVENT, "msg-nul", {"a": 1}, now=now)
        await session.commit()
    receiver.script(Reply(status=500, body="bad\x00body"))

    async with httpx.AsyncClient() as client:
        report = await deliver_due(sessions, client, now, policy=local_policy)

    assert report.retrying == 1
    async with sessions() as session:
        [attempt] = await list_attempts(
            session, scope=OwnerScope.owner(OWNER), delivery_id=delivery_id
        )
    assert attempt.status_code == 500
    assert attempt.response_excerpt == "bad\ufffdbody"


class _Chunks(httpx.AsyncByteStream):
    """A body arriving in 64 KiB pieces, as from a socket."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), 65_536):
            yield self._data[start : start + 65_536]


async def test_a_compressed_response_is_not_inflated_beyond_the_excerpt() -> None:
    # 64 MiB of zeros gzip to about 64 KiB: inflating the answer whole to keep its first KiB
    # let any receiver make each attempt hold tens of megabytes.
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500, headers={"content-encoding": "gzip"}, stream=_Chunks(bomb))

    policy = WebhookPolicy(allow_private_addresses=True)
    claimed = _Claimed(
        delivery_id="d-1",
        claim_token="t-1",
        subscription_id="s-1",
        url="https://hooks.partner.example/x",
        secrets=("whsec_" + "A" * 44,),
        message_id="msg-1",
        body="{}",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        tracemalloc.start()
        try:
            outcome = await _attempt(
                client, claimed, clock=lambda: datetime.now(UTC), policy=policy, resolver=None
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert peak < 8 << 20, f"peak {peak / (1 << 20):.1f} MiB"
    assert seen[0].headers["accept-encoding"] == "identity"
    assert outcome.status_code == 500
    assert outcome.excerpt == "\ufffd" * policy.response_excerpt_bytes
