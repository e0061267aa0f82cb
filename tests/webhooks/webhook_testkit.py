"""Test helpers for the webhook kit: a real HTTP receiver on a free port, a settable clock, and
the official verifier run at a chosen "now"."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import standardwebhooks.webhooks as sw
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """What the receiver answers."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"


class Receiver:
    """A uvicorn server in a thread that records every POST and answers from a script."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: list[Reply] = []
        self.default = Reply()
        self._lock = threading.Lock()
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[self._sock])), daemon=True
        )

    def url(self, path: str = "hook") -> str:
        """The URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}/{path}"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies`` (then with :attr:`default`)."""
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        """Forget requests and script; answer 200."""
        with self._lock:
            self.received.clear()
            self._script.clear()
            self.default = Reply()

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.received.append(
                Received(path=request.url.path, headers=dict(request.headers), body=body)
            )
            reply = self._script.pop(0) if self._script else self.default
        return Response(reply.body, status_code=reply.status, headers=reply.headers)

    def start(self) -> None:
        """Serve until :meth:`stop`."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test receiver did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Shut the server down."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


class Clock:
    """A settable clock (aware UTC)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by a ``timedelta(**delta)``."""
        self.now += timedelta(**delta)
        return self.now

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment``."""
        self.now = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return self.now


@contextmanager
def verifier_clock(moment: datetime) -> Iterator[None]:
    """Run the official verifier as if the wall clock showed ``moment`` (for deliveries made at
    an injected time hours away from now). Only the verifier's notion of "now" changes."""

    class _Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> _Frozen:  # type: ignore[override]
            return cls.fromtimestamp(moment.timestamp(), tz=tz)

    with mock.patch.object(sw, "datetime", _Frozen):
        yield


def verify(secret: str, received: Received) -> Any:
    """The official ``standardwebhooks`` verification of one received request."""
    return sw.Webhook(secret).verify(received.body, received.headers)
