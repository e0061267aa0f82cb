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


_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""JPEG start-of-frame markers (baseline, progressive, lossless...), which carry the size."""


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from the image's header (PNG, JPEG, WebP), without decoding it; None
    when the header does not say."""
    kind = sniff_image(data)
    if kind == "image/png":
        return _png_dimensions(data)
    if kind == "image/jpeg":
        return _jpeg_dimensions(data)
    if kind == "image/webp":
        return _webp_dimensions(data)
    return None


def _png_dimensions(data: bytes) -> tuple[int, int] | None:
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk = data[pos + 4 : pos + 8]
        if chunk == b"IHDR":
            if pos + 16 > len(data):
                return None
            body = data[pos + 8 : pos + 16]
            return int.from_bytes(body[:4], "big"), int.from_bytes(body[4:], "big")
        if chunk in (b"IDAT", b"IEND"):
            return None
        pos += 12 + length
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            pos += 1
            continue
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1  # fill bytes
        if pos >= len(data):
            return None
        marker = data[pos]
        pos += 1
        if marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD8:
            continue  # no segment body
        if marker in (0xD9, 0xDA):
            return None  # end of image, or the scan, before any frame header
        if pos + 2 > len(data):
            return None
        length = int.from_bytes(data[pos : pos + 2], "big")
        if marker in _JPEG_FRAMES:
            if pos + 7 > len(data):
                return None
            height = int.from_bytes(data[pos + 3 : pos + 5], "big")
            width = int.from_bytes(data[pos + 5 : pos + 7], "big")
            return width, height
        pos += max(length, 2)
    return None


def _webp_dimensions(data: bytes) -> tuple[int, int] | None:
    chunk, body = data[12:16], data[20:30]
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width = int.from_bytes(body[6:8], "little") & 0x3FFF
        height = int.from_bytes(body[8:10], "little") & 0x3FFF
        return width, height
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(body) >= 10:
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return width, height
    return None


def check_upload(*, content_type: str, data: bytes, policy: FieldworkPolicy) -> str:
    """The file extension of an acceptable upload; UploadRefused/UploadTooLarge otherwise (over
    the byte size, or over the pixels its header declares: a small file may decode to gigabytes).
    """
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
    size = image_dimensions(data)
    if size is not None and size[0] * size[1] > policy.upload_max_pixels:
        width, height = size
        raise UploadTooLarge(
            f"The image is {width} x {height} pixels; the limit is "
            f"{policy.upload_max_pixels} pixels.",
            max_pixels=policy.upload_max_pixels,
            width=width,
            height=height,
        )
    return _EXTENSIONS[declared]
