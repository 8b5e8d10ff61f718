"""What the fake ViSearch server reads and writes on the wire (VENDORS.md §1.3-§1.6), as pure functions.

Kept apart from :mod:`visualsearch_sdk.providers.visearch` on purpose: the fake parses what the adapter
sends with its own code, so a mistake on one side shows up as a failing test instead of agreeing with itself.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx

from visualsearch_sdk.filters import Between, Compare, Filter, In

__all__ = [
    "MESSAGES",
    "FieldType",
    "Query",
    "WireError",
    "envelope",
    "error_object",
    "fail_body",
    "failure",
    "format_value",
    "parse_fq",
    "read_request",
    "store_value",
]

FieldType = Literal["string", "text", "int", "float"]
"""VENDORS §1.5: the four schema field types of a ViSearch application."""

# The meaning of each code is VENDORS §1.6 (the Java SDK's ResponseMessages); [?] the exact wording is ours.
MESSAGES: dict[int, str] = {
    11: "Invalid access key or secret key.",
    12: "Unauthorized.",
    21: "Collection size limit exceeded.",
    31: "System busy, please retry later.",
    32: "System error.",
    101: "Transaction not found with trans_id.",
    102: "Image not found with im_name.",
    103: "Exceeded the maximum of 100 images per insert.",
    104: "No image inserted.",
    105: "Exceeded the maximum of 32 parameters per image.",
    106: "A parameter value exceeds its length limit.",
    107: "Invalid im_name.",
    108: "Missing im_url.",
    109: "Field has the wrong data type.",
    201: "Could not download the image from im_url.",
    202: "Unsupported image format.",
    203: "Unsupported image dimension.",
    1001: "Query image is still being processed, please retry.",
    1101: "Image not found with im_name.",
    1102: "Invalid image file format.",
    1103: "Invalid image format or dimension.",
    1104: "Invalid image or im_url.",
    1105: "Could not download the image, please retry.",
    1106: "Timeout when downloading the image.",
    1107: "The app has no images.",
}

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class WireError(Exception):
    """A request the fake answers with ``status: fail``: a code (with its message) or a bare message."""

    def __init__(self, code: int | None, message: str | None = None) -> None:
        self.code = code
        self.message = message or (MESSAGES.get(code, "Invalid request.") if code else "Invalid request.")
        super().__init__(self.message)


@dataclass
class Query:
    """A request's parameters (query string, form fields and multipart text parts, in that order)."""

    pairs: list[tuple[str, str]]
    image: bytes | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The last value of ``name`` (a form field overrides the query string), or ``default``."""
        found = [v for k, v in self.pairs if k == name]
        return found[-1] if found else default

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]

    def flag(self, name: str) -> bool:
        """VENDORS §1.3: booleans arrive as ``true``/``false`` (Java) or ``True``/``False`` (Python)."""
        return (self.get(name) or "").lower() == "true"

    def number(self, name: str, default: float) -> float:
        value = self.get(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise WireError(None, f"Invalid value for {name}: {value!r}.") from None
        if not math.isfinite(number):
            raise WireError(None, f"Invalid value for {name}: {value!r}.")
        return number

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        value = self.get(name)
        if value is None:
            return default
        if not _INT.match(value) or not low <= int(value) <= high:
            raise WireError(None, f"Invalid value for {name}: {value!r} (an integer in {low}..{high}).")
        return int(value)


def read_request(request: httpx.Request) -> Query:
    """The parameters of any ViSearch call: query string, then a form or multipart body (VENDORS §1.3)."""
    request.read()  # a request built in-process may still hold a (multipart) stream
    pairs = list(request.url.params.multi_items())
    ctype = request.headers.get("content-type", "")
    image = None
    if ctype.startswith("application/x-www-form-urlencoded"):
        try:
            pairs += parse_qsl(request.content.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise WireError(None, "The form body is not UTF-8.") from None
    elif ctype.startswith("multipart/form-data"):
        head = f"Content-Type: {ctype}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + request.content)
        if not isinstance(message, EmailMessage) or not message.is_multipart():
            raise WireError(None, "The multipart body cannot be read.")
        for part in message.iter_parts():
            if not isinstance(part, EmailMessage):
                continue
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if name == "image":  # VENDORS §1.3: the file part is named "image"
                image = data
            elif isinstance(name, str):
                pairs.append((name, data.decode("utf-8", errors="replace")))
    return Query(pairs, image)


def store_value(kind: FieldType | None, raw: str) -> str | int | float:
    """A form value as the schema type stores it (VENDORS §1.5); ``None`` infers int/float/string.

    Raises:
        WireError: 109, the value does not read as its field's type.
    """
    if kind in ("string", "text"):
        return raw
    if kind == "int":
        if not _INT.match(raw.strip()):
            raise WireError(109)
        return int(raw)
    if kind == "float":
        if not _FLOAT.match(raw.strip()) or not math.isfinite(float(raw)):
            raise WireError(109)
        return float(raw)
    if _INT.match(raw):  # no schema: the fake's convenience, not ViSearch's behaviour
        return int(raw)
    if _FLOAT.match(raw) and math.isfinite(float(raw)):
        return float(raw)
    return raw


def format_value(value: Any) -> str:
    """VENDORS §1.6: ``value_map`` holds strings; floats print with six decimals (``"67.500000"``)."""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def parse_fq(
    expression: str, kind_of: Callable[[str], FieldType | None]
) -> tuple[str, Filter | None, list[str] | None]:
    """One ``fq`` (``field:value``, split at the first ``:``): a filter, or the words of a text-field match.

    String fields take a value or ``A OR B`` (double-quoted when special: doc 002); int and float fields a
    number or an inclusive ``min,max`` range; text fields match any of the words (full text).

    Raises:
        WireError: a malformed expression.
    """
    field, sep, value = expression.partition(":")
    if not sep or not field or not value:
        raise WireError(None, f"Invalid fq parameter: {expression!r}.")
    kind = kind_of(field)
    if kind == "text":
        return field, None, re.findall(r"\w+", value.lower())
    numeric = kind in ("int", "float") or (kind is None and _numeric(value))
    if numeric:
        low, comma, high = value.partition(",")
        try:
            if comma:
                return field, Between(field, _number(low), _number(high)), None
            return field, Compare(field, "eq", _number(low)), None
        except ValueError as exc:  # InvalidFilterError included (lo > hi)
            raise WireError(None, f"Invalid fq range for {field}: {value!r}.") from exc
    values = _or_values(value)
    return field, (Compare(field, "eq", values[0]) if len(values) == 1 else In(field, tuple(values))), None


def _numeric(value: str) -> bool:
    parts = value.split(",")
    return len(parts) <= 2 and all(_FLOAT.match(p.strip()) for p in parts)


def _number(text: str) -> int | float:
    text = text.strip()
    if _INT.match(text):
        return int(text)
    if not _FLOAT.match(text):
        raise ValueError(text)
    return float(text)


def _or_values(expression: str) -> list[str]:
    """``A OR "B C" OR D`` -> ``["A", "B C", "D"]`` (doc 002: quote values with special characters)."""
    values: list[str] = []
    rest = expression.strip()
    while rest:
        if rest.startswith('"'):
            i, out = 1, []
            while i < len(rest) and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < len(rest):
                    i += 1
                out.append(rest[i])
                i += 1
            if i >= len(rest):
                raise WireError(None, f"Invalid fq value: unbalanced quote in {expression!r}.")
            values.append("".join(out))
            rest = rest[i + 1 :].strip()
        else:
            head, sep, tail = rest.partition(" OR ")
            values.append(head.strip())
            rest = tail.strip() if sep else ""
            continue
        if rest.startswith("OR "):
            rest = rest[3:].strip()
        elif rest:
            raise WireError(None, f"Invalid fq value: expected OR in {expression!r}.")
    return values


def envelope(method: str, **extra: Any) -> dict[str, Any]:
    """An ``OK`` answer (VENDORS §1.6)."""
    return {"status": "OK", "method": method, "error": [], **extra}


def failure(method: str, errors: list[Any]) -> dict[str, Any]:
    """A ``fail`` answer: strings for searches, objects for the data API (VENDORS §1.6)."""
    # The vector "status_fail_with_http_200_is_returned_not_raised" shows this shape.
    empty = {"limit": 0, "result": [], "total": 0, "page": 0}
    return {"status": "fail", "method": method, "error": errors, **empty}


def error_object(code: int, **where: Any) -> dict[str, Any]:
    """A data-API error entry: ``{"error_code", "error_message"}`` plus ``im_name``/``index``."""
    return {**where, "error_code": code, "error_message": MESSAGES[code]}


def fail_body(code: int, method: str = "search") -> Mapping[str, Any]:
    """The HTTP 200 ``status: fail`` body a search gets for ``code`` (``fake.fail_next(200, body=...)``)."""
    return failure(method, [MESSAGES.get(code, "Invalid request.")])
