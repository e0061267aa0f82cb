"""What every service's OpenAPI document says of the kit's behaviour, added once for all routes.

FastAPI documents what a route declares; the kit answers more than that on its behalf. So the
document is completed from the routes themselves: every error answer is an RFC 9457 problem
(``Problem`` schema, ``application/problem+json``); an operation that needs an API key lists
401 (the security schemes come from :func:`servicekit.auth.current_principal`), one guarded by
a role check 403; every operation 422 (validation, unknown query parameters, NUL characters);
one with a body 413; one behind the admission gate 503; and one whose route calls the
idempotency helper takes the ``Idempotency-Key`` header and may answer 409.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from servicekit.admission import UNGATED_PATHS
from servicekit.auth import ROLE_CHECK_ATTRIBUTE, current_principal
from servicekit.idempotency import HEADER, answer_once, handle_idempotently, header_parameter
from servicekit.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An error answer (RFC 9457 problem details). Members other than these "
    "may be present (extensions, e.g. `checks` of /readyz).",
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem."},
        "title": {"type": "string", "description": "A short summary of the kind of problem."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, and what to do."},
        "instance": {"type": "string", "description": "The path of the request."},
        "errors": {
            "type": "array",
            "description": "Each invalid field of a 422 answer.",
            "items": {"$ref": "#/components/schemas/ProblemFieldError"},
        },
    },
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
}
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ProblemFieldError",
    "type": "object",
    "properties": {
        "field": {"type": "string", "description": "The field, dotted (`customer.phone`)."},
        "message": {"type": "string"},
        "type": {"type": "string", "description": "The kind of error (`missing`, ...)."},
    },
    "required": ["field", "message", "type"],
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}

_DESCRIPTIONS = {
    401: "No API key was sent, or it is unknown, revoked or expired.",
    403: "The key's role may not do this.",
    409: "Conflicts with the current state, or a request with the same Idempotency-Key is "
    "still running or lost its answer.",
    413: "The request body is larger than the service accepts.",
    422: "The request is invalid: each wrong field is named in `errors` (also an unknown query "
    "parameter, or a NUL character).",
    503: "The service is saturated or its database is unreachable: retry after `Retry-After`.",
}
_IDEMPOTENCY_HELPERS: tuple[Callable[..., Any], ...] = (handle_idempotently, answer_once)


@dataclass(frozen=True)
class _RouteFacts:
    authenticated: bool
    role_checked: bool
    idempotent: bool


def install_openapi(app: FastAPI) -> None:
    """Complete ``app``'s OpenAPI document as the module docstring says (built on first use)."""
    build = app.openapi
    completed: list[int] = []

    def openapi() -> dict[str, Any]:
        document = build()
        if id(document) not in completed:  # FastAPI rebuilds it when routes are added
            complete(document, app)
            completed[:] = [id(document)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], app: FastAPI) -> None:
    """Add the kit's answers, headers and schemas to ``document`` (idempotent)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ProblemFieldError"] = FIELD_ERROR_SCHEMA
    for path, method, route in _operations(app):
        operation = document.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None:
            continue
        facts = _facts(route.dependant, route.endpoint)
        statuses = {422}
        if facts.authenticated:
            statuses.add(401)
        if facts.role_checked:
            statuses.add(403)
        if "requestBody" in operation:
            statuses.add(413)
        if path not in UNGATED_PATHS:
            statuses.add(503)
        if facts.idempotent:
            statuses.add(409)
            parameters = operation.setdefault("parameters", [])
            if not any(
                p.get("in") == "header" and p.get("name", "").lower() == HEADER.lower()
                for p in parameters
            ):
                parameters.append(header_parameter())
        responses = operation.setdefault("responses", {})
        for status in statuses:
            responses.setdefault(str(status), {"description": _DESCRIPTIONS[status]})
        for status, response in responses.items():
            if status.isdigit() and int(status) >= 400:
                if int(status) == 422 and "Validation Error" in response.get("description", ""):
                    response["description"] = _DESCRIPTIONS[422]
                response.setdefault("description", HTTPStatus(int(status)).phrase)
                response["content"] = _PROBLEM_CONTENT
    text = repr(document.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{unused}'" not in text and unused in schemas:
            del schemas[unused]


def _operations(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    for route in iter_route_contexts(app.routes):
        if not getattr(route, "include_in_schema", False) or route.path_format is None:
            continue
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant):
            continue
        for method in sorted(route.methods or ()):
            yield route.path_format, method, route


def _facts(dependant: Dependant, endpoint: Any) -> _RouteFacts:
    calls = [d.call for d in _dependencies(dependant)]
    return _RouteFacts(
        authenticated=any(call is current_principal for call in calls),
        role_checked=any(hasattr(call, ROLE_CHECK_ATTRIBUTE) for call in calls),
        idempotent=_calls_any(endpoint, _IDEMPOTENCY_HELPERS, depth=3, seen={}),
    )


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def _calls_any(
    function: Any, targets: tuple[Callable[..., Any], ...], *, depth: int, seen: dict[int, int]
) -> bool:
    """Whether ``function``, or a function it names (``depth`` calls deep), names one of
    ``targets``: the routes call the idempotency helper from their body, through a helper of
    their module (``_once``, ``_idempotent``), so that is where the kit finds it."""
    function = inspect.unwrap(function) if callable(function) else function
    code = getattr(function, "__code__", None)
    if not isinstance(code, types.CodeType) or seen.get(id(function), -1) >= depth:
        return False
    seen[id(function)] = depth
    names = _names(code)
    namespace: dict[str, Any] = getattr(function, "__globals__", {})
    named: list[Any] = [namespace[name] for name in names if name in namespace]
    for module in [obj for obj in named if isinstance(obj, types.ModuleType)]:
        named += [getattr(module, name) for name in names if hasattr(module, name)]
    for cell in getattr(function, "__closure__", None) or ():
        try:
            named.append(cell.cell_contents)
        except ValueError:  # a cell not filled yet
            continue
    if any(obj is target for obj in named for target in targets):
        return True
    return depth > 0 and any(
        _calls_any(obj, targets, depth=depth - 1, seen=seen)
        for obj in named
        if inspect.isfunction(obj)
    )


def _names(code: types.CodeType) -> set[str]:
    """The global and attribute names ``code`` and the functions defined in it use."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names
