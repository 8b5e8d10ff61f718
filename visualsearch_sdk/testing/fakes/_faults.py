"""Fault injection shared by every fake vendor server.

A fake inherits :class:`FaultInjector` and calls :meth:`FaultInjector._intercept` first thing in its
``__call__``. That records the request, sleeps for the configured delay, then plays the next planned fault, if
any. Faults run in the order they were planned (``fail_next(503); drop_next()`` answers 503, then drops)::

    fake.fail_next(429, retry_after=1)       # one 429 with Retry-After: 1, in the vendor's error shape
    fake.fail_next(502, html=True, times=2)  # two proxy-style HTML error pages
    fake.drop_next()                          # no response at all: the connection is dropped
    fake.timeout_next()                       # the read times out
    fake.delay(0.05)                          # every request waits 50 ms first (latency benchmarks)

Dropped connections and timeouts raise httpx exceptions, because that is how they reach an httpx client whose
transport calls the fake in-process (``LocalTransport``). They are the dedicated subclasses
:class:`DroppedConnection` and :class:`SimulatedTimeout`, so a socket server can recognise them and close the
connection without answering instead of reporting a server error: they carry the class attributes
``drop_connection`` and ``hold_connection``, so the server needs no import from this testing package.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import ClassVar, Literal

import httpx

__all__ = ["DroppedConnection", "FaultInjector", "SimulatedTimeout"]

_HTML_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class DroppedConnection(httpx.RemoteProtocolError):
    """The fake dropped the connection without answering (what httpx reports as a disconnect)."""

    drop_connection: ClassVar[bool] = True
    """Marks the exception for a socket server: close the connection without a response."""


class SimulatedTimeout(httpx.ReadTimeout):
    """The fake never answered in time."""

    hold_connection: ClassVar[bool] = True
    """Marks the exception for a socket server: answer nothing until the client gives up, then close."""


@dataclass
class _Fault:
    kind: Literal["fail", "drop", "timeout"]
    times: int
    status: int = 0
    retry_after: float | None = None
    body: bytes | str | Mapping[str, object] | None = None
    html: bool = False


class FaultInjector:
    """Request log and planned faults for a fake server; thread-safe."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        """Every request the fake saw, faulted ones included, in arrival order."""
        self._faults: list[_Fault] = []
        self._delay = 0.0
        self._fault_lock = threading.Lock()

    def fail_next(
        self,
        status: int,
        *,
        retry_after: float | None = None,
        body: bytes | str | Mapping[str, object] | None = None,
        times: int = 1,
        html: bool = False,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` instead of handling them.

        Args:
            status: the HTTP status to answer.
            retry_after: seconds for a ``Retry-After`` header (omitted when None).
            body: the body to send: a mapping is sent as JSON, str/bytes as they are. By default the fake's
                own error shape for that status (:meth:`_fault_body`).
            times: how many consecutive requests get this answer.
            html: answer a proxy-style HTML error page (``text/html``) instead of JSON.
        """
        self._plan(_Fault("fail", times, status=status, retry_after=retry_after, body=body, html=html))

    def drop_next(self, times: int = 1) -> None:
        """Drop the next ``times`` requests: no response; the request is not handled."""
        self._plan(_Fault("drop", times))

    def timeout_next(self, times: int = 1) -> None:
        """Let the next ``times`` requests time out (:class:`SimulatedTimeout`); they are not handled."""
        self._plan(_Fault("timeout", times))

    def delay(self, seconds: float) -> None:
        """Sleep ``seconds`` before every request from now on (``0`` turns it off)."""
        if seconds < 0:
            raise ValueError("delay must be >= 0 seconds")
        self._delay = float(seconds)

    def reset_faults(self) -> None:
        """Forget planned faults and the delay (the request log is kept)."""
        with self._fault_lock:
            self._faults.clear()
            self._delay = 0.0

    def _plan(self, fault: _Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be >= 1")
        with self._fault_lock:
            self._faults.append(fault)

    def _fault_body(self, status: int) -> Mapping[str, object]:
        """The JSON body of an injected failure when ``fail_next`` was given none; vendors override it."""
        return {"detail": _reason(status)}

    def _intercept(self, request: httpx.Request) -> httpx.Response | None:
        """Log ``request``, wait, then play the next planned fault: a response to send, or None to go on.

        Raises:
            DroppedConnection: a planned drop.
            SimulatedTimeout: a planned timeout.
        """
        with self._fault_lock:
            self.requests.append(request)
            fault = self._faults[0] if self._faults else None
            if fault is not None:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.pop(0)
            delay = self._delay
        if delay:
            time.sleep(delay)
        if fault is None:
            return None
        if fault.kind == "drop":
            raise DroppedConnection("Server disconnected without sending a response.", request=request)
        if fault.kind == "timeout":
            raise SimulatedTimeout("The read operation timed out", request=request)
        return self._failure(fault)

    def _failure(self, fault: _Fault) -> httpx.Response:
        headers = {} if fault.retry_after is None else {"retry-after": _seconds(fault.retry_after)}
        if fault.html:
            page = _HTML_PAGE.format(status=fault.status, reason=_reason(fault.status))
            content = page.encode() if fault.body is None else _bytes(fault.body)
            headers["content-type"] = "text/html"
        elif isinstance(fault.body, (bytes, str)):
            content = _bytes(fault.body)
        else:
            content = json.dumps(
                fault.body if fault.body is not None else self._fault_body(fault.status)
            ).encode()
            headers["content-type"] = "application/json"
        return httpx.Response(fault.status, content=content, headers=headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _bytes(body: bytes | str | Mapping[str, object]) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()
