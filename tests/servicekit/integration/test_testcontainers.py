"""The outbox relay against real Apache Kafka and PostgreSQL containers (where Docker exists;
skipped with the reason otherwise)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.broker import Broker
from support.db import create_tables
from support.events import envelope
from support.kafka import header, new_topic, read_records

from servicekit.db import make_engine, make_session_factory
from servicekit.kafka import KafkaPublisher
from servicekit.outbox import OutboxRelay, add_to_outbox, pending_count
from servicekit.settings import KafkaSettings

pytestmark = pytest.mark.broker


async def relay_one_event(database_url: str, settings: KafkaSettings) -> None:
    """Commit one event to the outbox at ``database_url``, relay it, and find it on the topic."""
    engine = make_engine(database_url)
    publisher = KafkaPublisher(settings, client_id="test-relay")
    try:
        await create_tables(engine)
        session_factory = make_session_factory(engine)
        topic = await new_topic(settings)
        event = envelope()
        async with session_factory() as session:
            add_to_outbox(session, event, topic=topic)
            await session.commit()
        relay = OutboxRelay(session_factory=session_factory, publisher=publisher, service="test")

        assert await relay.publish_pending() == 1

        assert await pending_count(session_factory) == 0
        [record] = await read_records(settings, topic, count=1, within=30)
        assert record.value == event.to_bytes()
        assert header(record, "ce_id") == str(event.id)
    finally:
        await publisher.stop()
        await engine.dispose()


@pytest.mark.postgres
async def test_outbox_in_a_postgres_container_is_relayed_to_the_broker(
    postgres_container: str, broker: Broker
) -> None:
    await relay_one_event(postgres_container, broker.settings(topic_partitions=1))


async def test_outbox_is_relayed_to_a_kafka_container(kafka_container: str, tmp_path: Path) -> None:
    settings = KafkaSettings(bootstrap=kafka_container, topic_partitions=1, enable_idempotence=True)
    await relay_one_event(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}", settings)
