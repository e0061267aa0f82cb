"""The five services by name, loaded lazily."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from servicekit.runtime import ServiceRuntime
from servicekit.settings import ServiceSettings

SERVICE_NAMES: tuple[str, ...] = ("intake", "scheduling", "fieldwork", "billing", "feedback")


def settings_class_for(name: str) -> type[ServiceSettings]:
    """The service's settings class (``<name>.settings.<Name>Settings``)."""
    if name not in SERVICE_NAMES:
        raise KeyError(f"unknown service {name!r}; choose from {', '.join(SERVICE_NAMES)}")
    module = importlib.import_module(f"{name}.settings")
    settings_class: type[ServiceSettings] = next(
        obj
        for attr, obj in vars(module).items()
        if attr.endswith("Settings")
        and isinstance(obj, type)
        and issubclass(obj, ServiceSettings)
        and obj is not ServiceSettings
    )
    return settings_class


def settings_for(name: str, **overrides: Any) -> ServiceSettings:
    """The service's settings from the environment, with ``overrides``."""
    return settings_class_for(name)(**overrides)


def bootstrap_for(name: str) -> Callable[..., ServiceRuntime]:
    """The service's ``bootstrap`` function."""
    module = importlib.import_module(f"{name}.bootstrap")
    bootstrap: Callable[..., ServiceRuntime] = module.bootstrap
    return bootstrap


def build(name: str, **overrides: Any) -> ServiceRuntime:
    """A runtime of service ``name`` from the environment (plus ``overrides``)."""
    return bootstrap_for(name)(settings_for(name, **overrides))
