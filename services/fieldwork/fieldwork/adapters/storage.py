"""The evidence storage port (photos, barcodes, signatures, notes) and its filesystem adapter."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[A-Za-z0-9._-]{1,200}/[A-Za-z0-9-]{1,64}\.[a-z]{2,5}$")
_FOLDER = re.compile(r"[A-Za-z0-9._-]{1,200}")


def evidence_key(visit_id: str, name: str, extension: str) -> str:
    """The key of an upload ``name.extension`` of the visit: ``<visit id>/<name>.<ext>``.

    A visit id is any text the centre gave (spaces, CJK, ``/``, longer than a file name may
    be): one that is not a plain file name is stored under ``h-<sha256 of the id>`` instead,
    so every visit can take evidence (FLD-10). The folder only groups the files; the key is
    kept with the evidence, and reads and erasure (BIL-11) go by it."""
    if not _FOLDER.fullmatch(visit_id) or ".." in visit_id or visit_id == ".":
        digest = hashlib.sha256(visit_id.encode("utf-8", "surrogatepass")).hexdigest()
        visit_id = f"h-{digest}"
    return _check_key(f"{visit_id}/{name}.{extension}")


class EvidenceStore(Protocol):
    """Where uploaded images live; keys are ``<visit id>/<uuid>.<ext>``."""

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The bytes under ``key``, or None."""
        ...

    async def delete(self, key: str) -> None:
        """Remove what is under ``key``; nothing when there is nothing."""
        ...


def _check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"not an evidence key: {key!r}")
    return key


class FileEvidenceStore:
    """Evidence as files under a directory (by default ``<data dir>/fieldwork/evidence``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    async def put(self, key: str, data: bytes) -> None:
        """Write the file (atomically: a temporary file renamed into place)."""
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(path)

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes | None:
        """Read the file, or None when absent."""
        path = self._path(key)

        def read() -> bytes | None:
            return path.read_bytes() if path.is_file() else None

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        """Remove the file (a missing one is already gone)."""
        path = self._path(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)
