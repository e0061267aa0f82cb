"""Fieldwork's, billing's and feedback's order files on SQLite and PostgreSQL: an event goes on
the file once (without the file being read), and the file reads oldest first whatever order the
events arrived in."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from servicekit.db import make_engine, make_session_factory
from servicekit.migrations import upgrade

SERVICES = ["fieldwork", "billing", "feedback"]
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def entry(model: Any, event_id: str, minutes: int) -> Any:
    return model.RecordedEvent(
        event_id=event_id,
        type="OrderAssigned",
        version=1,
        time=T0 + timedelta(minutes=minutes),
        source="/fsm/scheduling",
        summary={"visit_id": "v-1", "minutes": minutes},
    )


@pytest.mark.parametrize("service", SERVICES)
async def test_an_event_goes_on_its_order_file_once_and_the_file_reads_oldest_first(
    service: str, database_url: str
) -> None:
    spec = importlib.import_module(f"{service}.bootstrap").SPEC
    model = importlib.import_module(f"{service}.domain.model")
    repository = importlib.import_module(f"{service}.adapters.repository").OrderFileRepository
    await upgrade(spec.migrations_dir, database_url)
    engine = make_engine(database_url)
    try:
        async with make_session_factory(engine)() as session:
            files = repository(session)
            assert await files.record("o-1", entry(model, "late", 30)) is True
            assert await files.record("o-1", entry(model, "early", 0)) is True
            assert await files.record("o-1", entry(model, "late", 30)) is False
            assert await files.record("o-2", entry(model, "other", 5)) is True
            await session.commit()
        async with make_session_factory(engine)() as session:
            order_file = await repository(session).get("o-1")
            assert await repository(session).get("o-none") is None
    finally:
        await engine.dispose()
    assert order_file is not None
    assert [e.event_id for e in order_file.entries] == ["early", "late"]
    assert order_file.entries[1].time == T0 + timedelta(minutes=30)
    assert order_file.entries[1].summary == {"visit_id": "v-1", "minutes": 30}
