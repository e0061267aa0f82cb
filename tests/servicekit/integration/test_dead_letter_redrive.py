"""Ops list what a consumer gave up on and, once the cause is mended, send it again: the event
is applied once where it was missing, however often it is re-driven (fsm dead-letters)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from support.events import envelope
from support.inbox import apply, create_effect_table, effect_event_ids
from support.kafka import new_topic, produce, running_consumer
from support.waiting import wait_until

from contracts.envelope import EventEnvelope
from contracts.topics import dead_letter_topic, events_topic
from fsm.dead_letters import read_dead_letters, redrive
from servicekit.db import SessionFactory
from servicekit.kafka import ensure_topics
from servicekit.settings import KafkaSettings

pytestmark = pytest.mark.broker


async def test_a_dead_lettered_event_is_listed_and_applied_once_when_re_driven_after_the_fix(
    kafka_settings: KafkaSettings, engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    await create_effect_table(engine)
    topic = await new_topic(kafka_settings, with_dlt=True)
    bad, good = envelope(note="cannot be applied yet"), envelope()
    mended = False
    seen: list[uuid.UUID] = []

    async def handler(event: EventEnvelope) -> None:
        seen.append(event.id)
        if event.id == bad.id and not mended:
            raise RuntimeError("a bug, since fixed")
        await apply(session_factory, event)

    await produce(kafka_settings, topic, [bad.to_bytes(), good.to_bytes()])
    group = f"group-{uuid.uuid4().hex[:12]}"
    async with running_consumer(kafka_settings, topic=topic, group_id=group, handler=handler):
        await wait_until(lambda: good.id in seen, message="the event after the failing one")
        [letter] = await read_dead_letters(kafka_settings, [dead_letter_topic(topic)])
        assert letter.original_topic == topic and letter.consumer_group == group
        assert "RuntimeError: a bug, since fixed" in letter.summary()
        assert await effect_event_ids(session_factory) == [str(good.id)]

        mended = True
        assert await redrive(kafka_settings, [letter, letter]) == 2
        await wait_until(lambda: seen.count(bad.id) >= 5, message="both copies read again")

    assert sorted(await effect_event_ids(session_factory)) == sorted([str(good.id), str(bad.id)])
    # re-driving changes no dead-letter topic
    assert len(await read_dead_letters(kafka_settings, [dead_letter_topic(topic)])) == 1


async def test_fsm_dead_letters_lists_what_a_service_gave_up_on_with_the_error(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    topic = dead_letter_topic(events_topic("billing"))
    await ensure_topics(kafka_settings, [topic])
    event = envelope(note="poison")
    await produce(
        kafka_settings,
        topic,
        [event.to_bytes()],
        key=b"order-77",
        headers=[
            [
                ("ce_type", b"com.fsm.intake.OrderCreated.v1"),
                ("dlt-original-topic", events_topic("intake").encode()),
                ("dlt-consumer-group", b"fsm-billing"),
                ("dlt-error-class", b"ValidationError"),
                ("dlt-error-message", b"amount: not a decimal"),
            ]
        ],
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSM_")}
    env["FSM_KAFKA_BOOTSTRAP"] = kafka_settings.bootstrap

    def fsm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "fsm", "dead-letters", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    listed = await asyncio.to_thread(fsm, "billing")
    other_group = await asyncio.to_thread(fsm, "billing", "--group", "fsm-feedback")

    assert listed.returncode == 0, listed.stderr
    [line] = [x for x in listed.stdout.splitlines() if "order-77" in x]
    assert "group=fsm-billing" in line and "ValidationError: amount: not a decimal" in line
    assert "type=com.fsm.intake.OrderCreated.v1" in line
    assert "order-77" not in other_group.stdout
