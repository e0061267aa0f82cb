"""Testcontainers support: whether a Docker engine answers here."""

from __future__ import annotations

import functools


@functools.cache
def docker_available() -> tuple[bool, str]:
    """``(True, "")`` when a Docker daemon answers a ping, else ``(False, why)``."""
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # no socket, no permission, daemon down: all mean "no Docker"
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""
