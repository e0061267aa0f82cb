"""A thin client of the five services' public REST APIs (nothing private, no database)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

SERVICES: tuple[str, ...] = ("intake", "scheduling", "fieldwork", "billing", "feedback")
DEFAULT_URLS: dict[str, str] = {
    name: f"http://127.0.0.1:{8001 + n}" for n, name in enumerate(SERVICES)
}
START_HINT = "start them with `make run` and export FSM_BOOTSTRAP_API_KEY"

T = TypeVar("T")


class DemoError(Exception):
    """A step of the day could not be done; the message says which and what the service said."""


class NotRunning(DemoError):
    """A service does not answer (or refuses the admin key)."""


def urls_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Base URLs: FSM_DEMO_<SERVICE>_URL, else 127.0.0.1 on FSM_<SERVICE>_PORT (what `fsm run`
    listens on), else the `make run` defaults."""

    def url(name: str) -> str:
        port = environ.get(f"FSM_{name.upper()}_PORT", "").strip()
        fallback = f"http://127.0.0.1:{port}" if port else DEFAULT_URLS[name]
        return environ.get(f"FSM_DEMO_{name.upper()}_URL", fallback).rstrip("/")

    return {name: url(name) for name in SERVICES}


@dataclass
class Service:
    """One service, called with one key."""

    name: str
    client: httpx.Client

    def call(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200, 201),
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The JSON answer of a call; DemoError naming the call when the status is unexpected."""
        response = self.request(
            method, path, json=json, params=params, content=content, headers=headers
        )
        if response.status_code not in expect:
            raise DemoError(
                f"{self.name}: {method} {path} answered {response.status_code}: "
                f"{response.text[:600]}"
            )
        return response.json() if response.content else None

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """The raw response; NotRunning when the service cannot be reached."""
        try:
            return self.client.request(
                method, path, json=json, params=params, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            raise NotRunning(
                f"{self.name} at {self.client.base_url} does not answer "
                f"({exc.__class__.__name__}); {START_HINT}"
            ) from exc


class Platform:
    """HTTP clients of the five services, per key (the admin's and each technician's)."""

    def __init__(self, urls: Mapping[str, str], admin_key: str, *, timeout: float = 15.0) -> None:
        self.urls = dict(urls)
        self.admin_key = admin_key
        self.timeout = timeout
        self._clients: dict[tuple[str, str], Service] = {}

    def as_key(self, name: str, key: str) -> Service:
        """The service ``name`` called with ``key``."""
        found = self._clients.get((name, key))
        if found is None:
            client = httpx.Client(
                base_url=self.urls[name],
                headers={"Authorization": f"Bearer {key}"},
                timeout=self.timeout,
            )
            found = self._clients[(name, key)] = Service(name=name, client=client)
        return found

    def admin(self, name: str) -> Service:
        """The service ``name`` with the admin key."""
        return self.as_key(name, self.admin_key)

    def check(self) -> None:
        """Every service answers /readyz and accepts the admin key, else NotRunning."""
        for name in SERVICES:
            service = self.admin(name)
            ready = service.request("GET", "/readyz")
            if ready.status_code != 200:
                raise NotRunning(f"{name} is not ready ({ready.status_code}: {ready.text[:300]})")
        probe = self.admin("intake").request("GET", "/v1/api-keys")
        if probe.status_code in (401, 403):
            raise NotRunning(
                "intake refuses the admin key: export the FSM_BOOTSTRAP_API_KEY the services "
                "were started with"
            )

    def close(self) -> None:
        """Close every client."""
        for service in self._clients.values():
            service.client.close()


def wait_until(
    probe: Callable[[], T | None], *, within: float, what: str, interval: float = 0.1
) -> T:
    """Poll ``probe`` until it returns something truthy; DemoError naming ``what`` otherwise."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise DemoError(f"timed out after {within:.0f} s waiting for {what}")
        time.sleep(interval)
