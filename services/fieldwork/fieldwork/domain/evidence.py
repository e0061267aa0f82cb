"""Checks on uploaded evidence (FLD-10): the declared type must be accepted and match the bytes."""

from __future__ import annotations

from fieldwork.domain.exceptions import UploadRefused, UploadTooLarge
from fieldwork.domain.policy import FieldworkPolicy

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def sniff_image(data: bytes) -> str | None:
    """The image type the bytes are, from their signature, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_upload(*, content_type: str, data: bytes, policy: FieldworkPolicy) -> str:
    """The file extension of an acceptable upload; UploadRefused/UploadTooLarge otherwise."""
    declared = content_type.split(";", 1)[0].strip().lower()
    accepted = policy.upload_content_types
    if declared not in accepted or declared not in _EXTENSIONS:
        raise UploadRefused(
            f"Content type '{declared or 'none'}' is not accepted; send one of: "
            f"{', '.join(accepted)}.",
            accepted=list(accepted),
        )
    if len(data) > policy.upload_max_bytes:
        raise UploadTooLarge(
            f"The upload is {len(data)} bytes; the limit is {policy.upload_max_bytes}.",
            max_bytes=policy.upload_max_bytes,
        )
    if not data:
        raise UploadRefused("The upload is empty.", accepted=list(accepted))
    actual = sniff_image(data)
    if actual != declared:
        raise UploadRefused(
            f"The bytes are not a {declared} image"
            + (f" (they look like {actual})." if actual else "."),
            accepted=list(accepted),
        )
    return _EXTENSIONS[declared]
