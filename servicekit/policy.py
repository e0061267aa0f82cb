"""The policy file: every business number of RULES.md is a default here, overridable per
deployment in one YAML file (``FSM_POLICY_FILE``), validated when a service starts.

Each service owns the model of its section (``<service>/domain/policy.py``, plain pydantic) and
loads it with :func:`load_section`; a wrong value stops the service at start-up with a message
naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

SectionT = TypeVar("SectionT", bound=BaseModel)


class PolicyError(ValueError):
    """The policy file is unreadable or a value in it is invalid."""


def read_policy_file(path: Path) -> dict[str, Any]:
    """The parsed YAML mapping of the policy file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {path} must be a mapping of sections")
    return data


def load_section(model: type[SectionT], *, section: str, path: Path | None) -> SectionT:
    """The ``section`` of the policy file validated as ``model`` (its defaults when no file)."""
    raw: Any = {} if path is None else read_policy_file(path).get(section, {})
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        raise PolicyError(f"policy section '{section}' in {path} is invalid:\n{exc}") from exc
