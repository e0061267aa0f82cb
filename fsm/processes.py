"""The five services as real OS processes (``fsm serve``) on one broker: for end-to-end journeys,
crash tests, benchmarks and the demo.

Each service gets a free port and its own database; processes can be killed (SIGKILL) and
restarted on the same database, and the embedded broker can be frozen (SIGSTOP) to simulate an
outage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from servicekit.embedded import EmbeddedBroker, free_port

SERVICES: tuple[str, ...] = ("intake", "scheduling", "fieldwork", "billing", "feedback")
ADMIN_KEY = "platform-admin-key-0123456789"
"""Admin key the processes accept (``FSM_BOOTSTRAP_API_KEY``); override with ``admin_key=``."""

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T], *, within: float, interval: float = 0.05, message: str = "condition"
) -> T:
    """Poll ``probe`` until it returns something truthy; AssertionError after ``within`` s."""
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within}s waiting for {message}; last: {last!r}")
        time.sleep(interval)


class Platform:
    """Start, kill, restart and stop the services; HTTP clients with the admin key."""

    def __init__(
        self,
        data_dir: Path,
        *,
        database_urls: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
        admin_key: str = ADMIN_KEY,
    ) -> None:
        self.data_dir = data_dir
        self.admin_key = admin_key
        data_dir.mkdir(parents=True, exist_ok=True)
        external = os.environ.get("FSM_KAFKA_BOOTSTRAP")
        self.broker = None if external else EmbeddedBroker(log_file=data_dir / "broker.log")
        self._external_bootstrap = external
        self.urls: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._service_of: dict[str, str] = {name: name for name in SERVICES}
        self._port_env: dict[str, dict[str, str]] = {}
        self.env: dict[str, str] = {
            **(EmbeddedBroker.CLIENT_DEFAULTS if self.broker is not None else {}),
            **os.environ,
            "FSM_BOOTSTRAP_API_KEY": admin_key,
            "FSM_DATA_DIR": str(data_dir),  # fieldwork's evidence files, say
            "FSM_LOG_JSON": "true",
            "FSM_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        for name in SERVICES:
            prefix = f"FSM_{name.upper()}_"
            port = free_port()
            self.env[prefix + "PORT"] = str(port)
            self.env[prefix + "DATABASE_URL"] = (database_urls or {}).get(
                name, f"sqlite+aiosqlite:///{data_dir / name}.db"
            )
            self.urls[name] = f"http://127.0.0.1:{port}"

    @property
    def bootstrap(self) -> str:
        """The broker's bootstrap address."""
        return self._external_bootstrap or self.broker.bootstrap  # type: ignore[union-attr]

    def start(self, *, within: float = 90.0) -> Platform:
        """Start the broker (unless external) and every service; wait until all are ready."""
        if self.broker is not None:
            self.broker.start()
        self.env["FSM_KAFKA_BOOTSTRAP"] = self.bootstrap
        try:
            for name in SERVICES:
                self._spawn(name)
            for name in SERVICES:
                self.wait_ready(name, within=within)
        except BaseException:
            self.stop()  # never leave processes or the broker behind a failed start
            raise
        return self

    def add_replica(self, service: str, *, within: float = 90.0) -> str:
        """Start one more process of ``service`` on the same database and broker, at a port of
        its own, and wait until it is ready; returns the replica's name (``scheduling-2``),
        which every method taking a service name accepts. Replicas share the consumer group:
        give the topics more than one partition (``FSM_KAFKA_TOPIC_PARTITIONS``) for each to
        get a share of the events."""
        taken = sum(1 for of in self._service_of.values() if of == service)
        replica = f"{service}-{taken + 1}"
        port = free_port()
        self._service_of[replica] = service
        self._port_env[replica] = {f"FSM_{service.upper()}_PORT": str(port)}
        self.urls[replica] = f"http://127.0.0.1:{port}"
        self._spawn(replica)
        self.wait_ready(replica, within=within)
        return replica

    def replicas(self, service: str) -> list[str]:
        """The names of ``service``'s processes (the first is the service's own name)."""
        return [name for name, of in self._service_of.items() if of == service]

    def _spawn(self, name: str) -> None:
        log = (self.data_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "fsm", "serve", self._service_of[name]],
            env={**self.env, **self._port_env.get(name, {})},
            stdout=log,
            stderr=log,
        )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """The end of a service's log."""
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def wait_ready(self, name: str, *, within: float = 60.0) -> None:
        """Wait for ``/readyz`` to answer 200."""

        def ready() -> bool:
            process = self.processes[name]
            if process.poll() is not None:
                raise AssertionError(
                    f"{name} exited with {process.returncode}:\n{self.log_tail(name)}"
                )
            try:
                return httpx.get(self.urls[name] + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, within=within, interval=0.2, message=f"{name} ready")

    def kill(self, name: str) -> None:
        """SIGKILL a service (no shutdown hooks run)."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def restart(self, name: str, *, within: float = 60.0) -> None:
        """Start a killed service again on the same database and wait until it is ready."""
        self._spawn(name)
        self.wait_ready(name, within=within)

    def pause(self, name: str) -> None:
        """Freeze a service (SIGSTOP): it uses no CPU until :meth:`resume`."""
        self.processes[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        """Let a paused service run again (SIGCONT)."""
        self.processes[name].send_signal(signal.SIGCONT)

    def pid(self, name: str) -> int:
        """The OS process id of a running service."""
        return self.processes[name].pid

    @property
    def broker_pid(self) -> int | None:
        """The OS process id of the embedded broker (None for an external one)."""
        if self.broker is None or self.broker._process is None:
            return None
        return self.broker._process.pid

    def freeze_broker(self) -> None:
        """Stop the embedded broker process dead (SIGSTOP): clients see it unreachable.

        The embedded broker keeps data in memory only, so an outage is simulated by freezing
        it rather than restarting it (which would lose every topic).
        """
        if self.broker is None or self.broker._process is None:
            raise RuntimeError("only the embedded broker can be frozen")
        self.broker._process.send_signal(signal.SIGSTOP)

    def thaw_broker(self) -> None:
        """Resume a frozen broker (SIGCONT)."""
        if self.broker is None or self.broker._process is None:
            raise RuntimeError("only the embedded broker can be frozen")
        self.broker._process.send_signal(signal.SIGCONT)

    def client(self, name: str, *, key: str | None = "admin", timeout: float = 10) -> httpx.Client:
        """An HTTP client for a service (the admin key by default; ``key=None`` for none)."""
        if key == "admin":
            key = self.admin_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.urls[name], headers=headers, timeout=timeout)

    def stop(self) -> list[str]:
        """SIGTERM every service, then stop the broker; returns services that did not stop."""
        stubborn = []
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.send_signal(signal.SIGCONT)  # a paused service must run to stop
        for name, process in self.processes.items():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                stubborn.append(name)
        if self.broker is not None:
            self.broker.stop()
        return stubborn
