"""HTTP body codecs shared by the scrubber and the matchers: media types, multipart parts, vcrpy bodies."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Part",
    "body_bytes",
    "boundary_of",
    "build_multipart",
    "header_value",
    "media_type",
    "parse_multipart",
]


@dataclass(frozen=True)
class Part:
    """One part of a ``multipart/form-data`` body."""

    headers: tuple[tuple[str, str], ...]
    content: bytes

    def header(self, name: str) -> str | None:
        """A header of the part, case-insensitively."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def name(self) -> str | None:
        """The ``name`` of its ``Content-Disposition``."""
        return _disposition_param(self.header("content-disposition") or "", "name")

    @property
    def filename(self) -> str | None:
        """The ``filename`` of its ``Content-Disposition`` (None for a plain field)."""
        return _disposition_param(self.header("content-disposition") or "", "filename")


def _disposition_param(value: str, key: str) -> str | None:
    found = re.search(rf'(?:^|;)\s*{key}="((?:[^"\\]|\\.)*)"', value) or re.search(
        rf"(?:^|;)\s*{key}=([^;\s]+)", value
    )
    return found.group(1) if found else None


def header_value(headers: Mapping[str, Any], name: str) -> str | None:
    """A header from a vcrpy headers mapping, case-insensitively (lists give their first value)."""
    for key, value in headers.items():
        if key.lower() == name:
            if isinstance(value, (list, tuple)):
                return str(value[0]) if value else None
            return str(value)
    return None


def media_type(headers: Mapping[str, Any]) -> str:
    """The ``Content-Type`` without parameters, lower case (``""`` when absent)."""
    value = header_value(headers, "content-type") or ""
    return value.split(";", 1)[0].strip().lower()


def boundary_of(headers: Mapping[str, Any]) -> str | None:
    """The multipart boundary named in ``Content-Type``."""
    value = header_value(headers, "content-type") or ""
    found = re.search(r';\s*boundary="?([^";]+)"?', value, re.IGNORECASE)
    return found.group(1) if found else None


def parse_multipart(body: bytes, boundary: str) -> list[Part] | None:
    """The parts of a ``multipart/form-data`` body, or None when it is not well formed."""
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or chunks[0].strip():
        return None
    parts: list[Part] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts
        if not chunk.startswith(b"\r\n"):
            return None
        head, sep, content = chunk[2:].partition(b"\r\n\r\n")
        if not sep:
            return None
        headers = []
        for line in head.split(b"\r\n") if head else []:
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                return None
            headers.append((name.strip(), value.strip()))
        parts.append(Part(tuple(headers), content.removesuffix(b"\r\n")))
    return None  # no closing delimiter


def build_multipart(parts: Iterable[Part], boundary: str) -> bytes:
    """Serialise parts as a ``multipart/form-data`` body with ``boundary``."""
    out = bytearray()
    for part in parts:
        out += b"--" + boundary.encode("latin-1") + b"\r\n"
        for name, value in part.headers:
            out += f"{name}: {value}\r\n".encode("latin-1")
        out += b"\r\n" + part.content + b"\r\n"
    out += b"--" + boundary.encode("latin-1") + b"--\r\n"
    return bytes(out)


def body_bytes(body: Any) -> bytes:
    """A vcrpy body (None, str, bytes, file or iterator already materialised) as bytes."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if hasattr(body, "getvalue"):
        return bytes(body.getvalue())
    return b"".join(body)
