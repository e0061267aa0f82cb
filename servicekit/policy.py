"""The policy file: every business number of RULES.md is a default here, overridable per
deployment in one YAML file (``FSM_POLICY_FILE``), validated when a service starts.

Each service owns the model of its section (``<service>/domain/policy.py``, plain pydantic) and
loads it with :func:`load_section`; a wrong value stops the service at start-up with a
:class:`PolicyError` naming the file and each wrong key (``intake.close_after_quiet_days``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

SectionT = TypeVar("SectionT", bound=BaseModel)

SECTIONS: frozenset[str] = frozenset(
    {"calendar", "intake", "scheduling", "fieldwork", "billing", "feedback"}
)
"""The top-level sections a policy file may have: the business calendar and one per service.
Any other (a misspelt ``intak:``) is refused rather than silently leaving a service on its
built-in defaults."""


AGREEING_KEYS: tuple[tuple[tuple[str, str], tuple[str, str]], ...] = (
    # INT-4 / FBK-1: intake promises the customer the call-back feedback schedules.
    (("intake", "remote_call_back_after_minutes"), ("feedback", "remote_call_back_minutes")),
)
"""Keys of two services' sections that state one business number. Both models default them to
the same value (a test holds them to it), so a key the file leaves out counts as that default and
the two effective values must be equal."""


class PolicyError(ValueError):
    """The policy file is unreadable or a value in it is invalid.

    ``problems`` holds one line per problem, each naming the key (``section.key``); ``str()`` of
    the error is those lines, each prefixed with the file.
    """

    def __init__(self, *problems: str, path: Path | None = None) -> None:
        self.path = path
        self.problems: tuple[str, ...] = problems
        where = f"policy file {path}" if path is not None else "built-in policy"
        super().__init__("\n".join(f"{where}: {problem}" for problem in problems))


def read_policy_file(path: Path) -> dict[str, Any]:
    """The parsed YAML mapping of the policy file (only known :data:`SECTIONS`)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"cannot read it (FSM_POLICY_FILE): {exc.strerror}", path=path) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise PolicyError(f"not valid YAML{where}: {problem}", path=path) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError("must be a mapping of sections (calendar, intake, ...)", path=path)
    unknown = [str(name) for name in data if name not in SECTIONS]
    if unknown:
        raise PolicyError(
            *(_unknown_key(name, SECTIONS, what="section") for name in unknown), path=path
        )
    return data


def load_section(model: type[SectionT], *, section: str, path: Path | None) -> SectionT:
    """The ``section`` of the policy file validated as ``model`` (its defaults when no file)."""
    data = {} if path is None else read_policy_file(path)
    disagreements = _disagreements(data, model, section)
    if disagreements:
        raise PolicyError(*disagreements, path=path)
    raw: Any = data.get(section, {})
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        raise invalid_policy(exc, model=model, section=section, path=path) from exc


def _disagreements(data: dict[str, Any], model: type[BaseModel], section: str) -> list[str]:
    """One line per pair of :data:`AGREEING_KEYS` touching ``section`` the file sets apart.

    A side the file leaves out takes ``model``'s default for this section's key: the two models
    share it, so the other side's default is the same number."""
    lines: list[str] = []
    for first, second in AGREEING_KEYS:
        if section not in (first[0], second[0]):
            continue
        own_key = first[1] if section == first[0] else second[1]
        field = model.model_fields.get(own_key)
        default = None if field is None else field.default
        values = []
        for name, key in (first, second):
            part = data.get(name)
            values.append(part.get(key, default) if isinstance(part, dict) else default)
        if values[0] != values[1]:
            lines.append(
                f"{first[0]}.{first[1]} and {second[0]}.{second[1]} state one number and must be "
                f"equal (they come to {values[0]!r} and {values[1]!r}; a key left out is "
                f"{default!r})"
            )
    return lines


def invalid_policy(
    exc: ValidationError, *, model: type[BaseModel], section: str, path: Path | None
) -> PolicyError:
    """A :class:`PolicyError` with one line per error of ``exc`` (the validation of ``section``
    as ``model``), each naming its key, e.g. ``scheduling.webhooks.claim_lease_seconds``."""
    return PolicyError(*_problems(exc, model=model, section=section), path=path)


def _problems(exc: ValidationError, *, model: type[BaseModel], section: str) -> list[str]:
    fields = list(model.model_fields)
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            known = fields if len(loc) == 1 else ()
            lines.append(_unknown_key(".".join([section, *loc]), known, what="key"))
            continue
        value = error.get("input")
        if not loc:
            # A check across fields (model validator) names no location: its message starts
            # with (or mentions) the key it is about.
            field = _first_mentioned(message, fields)
            if field is not None:
                loc = [field]
                message = message.removeprefix(f"{field} ").lstrip(":, ")
                value = value.get(field) if isinstance(value, dict) else None
        got = (
            f" (got {value!r})"
            if loc and error["type"] != "missing" and isinstance(value, str | int | float)
            else ""
        )
        lines.append(f"{'.'.join([section, *loc])}: {message}{got}")
    return lines


def _first_mentioned(message: str, names: Iterable[str]) -> str | None:
    found = [
        (match.start(), name)
        for name in names
        if (match := re.search(rf"\b{re.escape(name)}\b", message)) is not None
    ]
    return min(found)[1] if found else None


def _unknown_key(key: str, known: Iterable[str], *, what: str) -> str:
    name = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(name, list(known), n=1)
    if close:
        hint = f" (did you mean {close[0]!r}?)"
    elif what == "section":
        hint = f" (known: {', '.join(sorted(known))})"
    else:
        hint = ""
    return f"{key}: unknown {what}{hint}"
