"""A lean keep-alive HTTP/1.1 client for load generation.

httpx spends about 4 ms of CPU per request at 32 connections (its pool is scanned per request):
on a 2-core machine the load generator then takes most of a core and becomes the bottleneck,
so a bare endpoint measures the client, not the server. This client writes a pre-built request
head and parses the answer with httptools (the parser uvicorn uses), at a few tens of
microseconds per request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import httptools


class HttpError(RuntimeError):
    """The server closed the connection or answered something that is not HTTP/1.1."""


class _Answer:
    """httptools callbacks: collects one response's body."""

    def __init__(self) -> None:
        self.body = bytearray()
        self.complete = False

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


class Connection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._head = f"Host: {self._host}:{self._port}\r\n{extra}Content-Type: application/json\r\n"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def post_json(self, path: str, payload: Any) -> tuple[int, bytes]:
        """``POST path`` with ``payload`` as JSON: the status code and the body."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        return await self.request("POST", path, body)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request and read its whole answer."""
        if self._reader is None or self._writer is None:
            raise HttpError("the connection is not open")
        self._writer.write(
            f"{method} {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        answer = _Answer()
        parser = httptools.HttpResponseParser(answer)
        while not answer.complete:
            data = await self._reader.read(65536)
            if not data:
                raise HttpError(f"{self._host}:{self._port} closed the connection")
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as exc:
                raise HttpError(str(exc)) from exc
        return parser.get_status_code(), bytes(answer.body)


class ConnectionPool:
    """Up to ``size`` keep-alive connections, lent one request at a time (open-loop load)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, size: int = 64) -> None:
        self._url = url
        self._headers = headers
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        self._opened: list[Connection] = []
        self._size = size

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for connection in self._opened:
            await connection.__aexit__()

    async def post_json(self, path: str, payload: Any) -> tuple[int, bytes]:
        """``POST path`` on an idle connection (a new one while fewer than ``size`` exist)."""
        if self._idle.empty() and len(self._opened) < self._size:
            connection = await Connection(self._url, self._headers).__aenter__()
            self._opened.append(connection)
        else:
            connection = await self._idle.get()
        try:
            return await connection.post_json(path, payload)
        finally:
            self._idle.put_nowait(connection)
