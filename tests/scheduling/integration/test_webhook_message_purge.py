"""Partner webhook messages are not kept for ever: once their deliveries are over, the hourly
job deletes them with their delivery log after the policy's ``message_retention_days``."""

from __future__ import annotations

from datetime import timedelta

from scheduling_support import Harness, created
from sqlalchemy import func, select, update

from servicekit.webhooks.tables import WebhookDeliveryRow, WebhookMessageRow

RETENTION = timedelta(days=90)  # policy.yaml scheduling.webhooks.message_retention_days


async def _messages(h: Harness) -> int:
    async with h.runtime.session_factory() as session:
        query = select(func.count()).select_from(WebhookMessageRow)
        return int((await session.execute(query)).scalar_one())


async def test_finished_partner_messages_are_purged_after_the_retention_period(
    harness: Harness,
) -> None:
    h = harness
    network = {"network_id": "n1", "name": "网点 n1", "skills": ["*"], "areas": ["Dongying"]}
    assert (await h.client.post("/v1/networks", json=network)).status_code == 201
    partner = await h.key("partner", network_id="n1")
    subscribed = await h.client.post(
        "/v1/webhooks/subscriptions", json={"url": "https://8.8.8.8/hook"}, headers=partner
    )
    assert subscribed.status_code == 201, subscribed.text
    await h.feed(created("o1"))
    await h.feed(created("o2"))
    sent = await _messages(h)
    assert sent >= 2  # each order offered to n1
    async with h.runtime.session_factory() as session:
        o1_messages = select(WebhookMessageRow.id).where(WebhookMessageRow.subject == "o1")
        await session.execute(
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.message_ref.in_(o1_messages))  # type: ignore[attr-defined]
            .values(status="succeeded")
        )
        await session.commit()

    h.clock.now += RETENTION - timedelta(hours=1)
    assert await h.run_job("webhook_purge") == 0
    h.clock.now += timedelta(hours=2)
    purged = await h.run_job("webhook_purge")

    assert purged == sent // 2  # o1's, delivered; o2's are still being retried
    async with h.runtime.session_factory() as session:
        subjects = set((await session.execute(select(WebhookMessageRow.subject))).scalars())
    assert subjects == {"o2"}
    log = (await h.client.get("/v1/webhooks/deliveries", headers=partner)).json()
    assert {d["status"] for d in log["items"]} == {"pending"}
