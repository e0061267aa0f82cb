"""API-key management (admin): issue, list, revoke. Keys reach every service as events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import select

from contracts.identity import ApiKeyRevoked, Role
from contracts.ids import new_id
from intake.entrypoints.dependencies import IdempotencyKeyHeader, NowDep, PolicyDep, UowFactoryDep
from servicekit.auth import (
    ApiKey,
    Principal,
    generate_key,
    issued_event,
    key_row,
    require_roles,
)
from servicekit.dates import IsoDatetime
from servicekit.db import get_row
from servicekit.http import created
from servicekit.idempotency import handle_idempotently
from servicekit.problems import ProblemError, problem_response, problem_responses

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])
AdminDep = Annotated[Principal, Depends(require_roles("admin"))]


_KEY_EXAMPLE: dict[str, Any] = {
    "key_id": "0193a8a4-5c1e-7d2a-9b7e-4d0f2a1c3b5e",
    "name": "call centre agent 7",
    "role": "agent",
    "network_id": None,
    "technician_id": None,
    "created_at": "2025-05-30T02:00:00Z",
    "expires_at": None,
    "revoked_at": None,
}


_NETWORK_ROLES = frozenset({"partner", "technician"})
"""The roles whose key may carry a network_id (a technician of a partner network)."""


class ApiKeyCreate(BaseModel):
    """A key to issue. Partner keys name their network; technician keys their technician (and
    may name their partner network). A binding the role does not use (a network or technician
    on an agent, dispatcher or admin key, a technician on a partner key) is refused with 422
    naming it: it would restrict nothing."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "call centre agent 7", "role": "agent"},
                {"name": "东营网点", "role": "partner", "network_id": "net-dongying-01"},
            ]
        }
    )

    name: str = Field(
        min_length=1, max_length=200, description="Not blank (stored without the spaces around it)."
    )
    role: Role
    network_id: str | None = Field(
        default=None,
        max_length=64,
        description="Required for a partner key; a technician key may name its partner network; "
        "refused on any other role.",
    )
    technician_id: str | None = Field(
        default=None,
        max_length=64,
        description="Required for a technician key; refused on any other role.",
    )
    expires_at: IsoDatetime | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        # The name is who the key's calls are recorded as (cancelled_by, verified_by, an
        # override's dispatcher): one of only spaces would record nobody.
        stripped = value.strip()
        if not stripped:
            raise ValueError("must not be blank: it is only spaces")
        return stripped

    @field_validator("network_id")
    @classmethod
    def _network(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Only partner keys are scoped by their network (a technician of a partner network may
        # carry theirs too); on a centre key it would restrict nothing while seeming to.
        role = info.data.get("role")  # absent when the role was refused
        if value is not None and role is not None and role not in _NETWORK_ROLES:
            raise ValueError(
                f"a {role} key is not bound to a network: only partner and technician keys "
                "take network_id"
            )
        return value

    @field_validator("technician_id")
    @classmethod
    def _technician(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Only technician keys are scoped to their technician's visits; on another key it would
        # restrict nothing while seeming to.
        role = info.data.get("role")
        if value is not None and role is not None and role != "technician":
            raise ValueError(
                f"a {role} key is not bound to a technician: only technician keys take "
                "technician_id"
            )
        return value

    @model_validator(mode="after")
    def _binding(self) -> ApiKeyCreate:
        if self.role == "partner" and not self.network_id:
            raise ValueError("a partner key must name its network_id")
        if self.role == "technician" and not self.technician_id:
            raise ValueError("a technician key must name its technician_id")
        return self


class ApiKeyOut(BaseModel):
    """A key's record (never the key itself)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    key_id: str
    name: str
    role: str
    network_id: str | None
    technician_id: str | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyIssuedOut(ApiKeyOut):
    """The new key: `key` is shown only in this response."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**_KEY_EXAMPLE, "key": "fsm_3q2+7w0N5m0c0E1Y3o1aQk9s"}]}
    )

    key: str


def _out(row: ApiKey) -> dict[str, Any]:
    return {
        "key_id": row.key_id,
        "name": row.name,
        "role": row.role,
        "network_id": row.network_id,
        "technician_id": row.technician_id,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
    }


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyIssuedOut,
    responses=problem_responses(401, 403, 409, 422),
    summary="Issue an API key",
)
async def issue_key(
    request: Request,
    body: ApiKeyCreate,
    uow: UowFactoryDep,
    principal: AdminDep,
    policy: PolicyDep,
    now: NowDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Issue a key with a role; it works at every service once ApiKeyIssued reached it.

    The secret is in this answer only (only its hash is kept). With `Idempotency-Key`, a retry
    issues no second key: it is answered 409 naming the key already issued, whose secret cannot
    be shown again; if the first answer was lost, revoke that key and issue another."""
    # The service's clock, as every other time of intake's and the expiry check at sign-in.
    if body.expires_at is not None and body.expires_at <= now:
        raise ProblemError(
            422,
            "The request has invalid or missing fields: expires_at.",
            title="Invalid request",
            errors=[
                {
                    "field": "expires_at",
                    "message": "expires_at is already past: a key is issued to be used",
                    "type": "value_error",
                }
            ],
        )

    async def issue() -> JSONResponse:
        raw = generate_key()
        event = issued_event(
            key_id=str(new_id()),
            raw_key=raw,
            role=body.role,
            name=body.name,
            network_id=body.network_id,
            technician_id=body.technician_id,
            expires_at=body.expires_at,
        )
        row = key_row(event)
        async with uow() as work:
            work.session.add(row)
            work.record(event)
            work.resource_id = row.key_id
            await work.commit()
        answer = ApiKeyIssuedOut.model_validate({**_out(row), "key": raw})
        return created(answer.model_dump(mode="json"), f"/v1/api-keys/{row.key_id}")

    return await handle_idempotently(
        request,
        session_factory=request.app.state.runtime.session_factory,
        principal_id=principal.key_id,
        ttl=timedelta(hours=policy.idempotency_key_ttl_hours),
        body=body.model_dump(mode="json"),
        run=issue,
        rebuild=_rebuilt,
        kept=lambda response: _issued_already(response.headers["Location"].rsplit("/", 1)[-1]),
    )


async def _rebuilt(key_id: str, events: Sequence[str]) -> JSONResponse:
    # The first attempt committed and died before answering.
    return _issued_already(key_id)


def _issued_already(key_id: str) -> JSONResponse:
    """What a retry of an issue gets: the key is not issued twice, and its secret was shown
    once and is not kept."""
    return problem_response(
        409,
        title="Key issued already",
        detail=f"API key {key_id} was issued for this Idempotency-Key; its secret is shown only "
        "once and is not kept. If that answer was lost, revoke the key "
        f"(DELETE /v1/api-keys/{key_id}) and issue another.",
        headers={"Location": f"/v1/api-keys/{key_id}"},
        key_id=key_id,
    )


@router.get(
    "", response_model=list[ApiKeyOut], responses=problem_responses(401, 403), summary="List keys"
)
async def list_keys(uow: UowFactoryDep, principal: AdminDep) -> Any:
    """Every key issued, newest first (hashes and keys are never shown)."""
    async with uow() as work:
        rows = (
            await work.session.execute(select(ApiKey).order_by(ApiKey.created_at.desc()))  # type: ignore[attr-defined]
        ).scalars()
        return [_out(r) for r in rows]


@router.get(
    "/{key_id}",
    response_model=ApiKeyOut,
    responses=problem_responses(401, 403, 404),
    summary="Read a key",
)
async def read_key(key_id: str, uow: UowFactoryDep, principal: AdminDep) -> Any:
    """One key as issued, and whether it was revoked (its hash and the key are never shown)."""
    async with uow() as work:
        row = await get_row(work.session, ApiKey, key_id)
        if row is None:
            raise ProblemError(404, f"API key {key_id} does not exist.", title="Not Found")
        return _out(row)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
    summary="Revoke a key",
)
async def revoke_key(key_id: str, uow: UowFactoryDep, principal: AdminDep, now: NowDep) -> None:
    """Revoke a key everywhere (ApiKeyRevoked)."""
    async with uow() as work:
        # Locked: of two revocations at once, the second sees the first and publishes nothing.
        row = await get_row(work.session, ApiKey, key_id, for_update=True)
        if row is None:
            raise ProblemError(404, f"API key {key_id} does not exist.", title="Not Found")
        if row.revoked_at is None:
            row.revoked_at = now
            work.session.add(row)
            work.record(ApiKeyRevoked(key_id=key_id, reason=f"revoked by {principal.name}"))
            await work.commit()
