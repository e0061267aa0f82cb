"""Refusing query parameters a route does not take.

FastAPI ignores unknown query parameters, so a misspelt filter (``?phone_number=`` for
``?phone=``, ``?statuss=``) silently returns everything: an agent may then act on another
customer's order. Every service's routes answer 422 naming the unknown parameter instead.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from servicekit.problems import PROBLEM_BASE, ProblemError

_ATTRIBUTE = "_fsm_query_parameters"


def _query_names(dependant: Dependant) -> set[str]:
    names: set[str] = set()
    for field in dependant.query_params:
        annotation = getattr(field.field_info, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            # A query-parameter model: its fields are the parameters.
            names |= {info.alias or name for name, info in annotation.model_fields.items()}
        else:
            names.add(field.alias)
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def allowed_query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameters ``route`` and its dependencies declare (computed once per route)."""
    allowed: frozenset[str] | None = getattr(route, _ATTRIBUTE, None)
    if allowed is None:
        allowed = frozenset(_query_names(route.dependant))
        setattr(route, _ATTRIBUTE, allowed)
    return allowed


async def refuse_unknown_query_parameters(request: Request) -> None:
    """422 problem naming each query parameter the matched route does not take (an app-wide
    dependency; requests without a query string cost nothing)."""
    if not request.url.query:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params.keys()) - allowed_query_parameters(route))
    if unknown:
        raise ProblemError(
            422,
            f"The request has invalid or missing fields: {', '.join(unknown)} (not a query "
            "parameter of this route; check its spelling).",
            title="Invalid request",
            type_=f"{PROBLEM_BASE}validation",
            errors=[
                {"field": name, "message": "unknown query parameter", "type": "extra_forbidden"}
                for name in unknown
            ],
        )
