"""Hostile input: schemathesis generates requests from each service's OpenAPI document.

Whatever it sends, a service never answers 5xx, and every 4xx is an RFC 9457 problem+json body.
Each service gets at least 500 generated requests (``FSM_FUZZ_EXAMPLES`` raises it).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsm.services import SERVICE_NAMES, build

ADMIN_KEY = "fuzz-admin-key-0123456789"
EXAMPLES = int(os.environ.get("FSM_FUZZ_EXAMPLES", "500"))


def _content_type(response: Any) -> str:
    value = response.headers.get("content-type", "")
    return value[0] if isinstance(value, list) else str(value)


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_generated_requests_never_get_5xx_and_every_4xx_is_problem_json(
    service: str, tmp_path: Path
) -> None:
    runtime = build(
        service,
        database_url=f"sqlite+aiosqlite:///{tmp_path / service}.db",
        bootstrap_api_key=ADMIN_KEY,
        run_consumer=False,
        run_relay=False,
        run_periodic_jobs=False,
    )
    asyncio.run(runtime.migrate())
    schema = schemathesis.openapi.from_asgi("/openapi.json", runtime.app)
    operations = [
        result.ok() for result in schema.get_all_operations() if result.ok().path.startswith("/v1/")
    ]
    assert operations, f"{service} documents no /v1 operation"
    sent: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(operations), label="operation")
        case = data.draw(operation.as_strategy(), label="case")
        response = case.call(headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        sent[response.status_code] = sent.get(response.status_code, 0) + 1
        assert response.status_code < 500, (case.method, case.path, response.text[:500])
        if response.status_code >= 400:
            assert _content_type(response).startswith("application/problem+json"), (
                case.method,
                case.path,
                response.status_code,
                response.text[:300],
            )

    fuzz()
    assert sum(sent.values()) >= EXAMPLES, sent
    asyncio.run(runtime.engine.dispose())
