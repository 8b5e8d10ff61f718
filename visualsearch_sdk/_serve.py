"""Serve a ``handler(httpx.Request) -> httpx.Response`` on a loopback socket.

Used by ``visualsearch serve`` (the local engine, or any fake vendor face) and by tests that need real
sockets. It is the stdlib ``ThreadingHTTPServer`` with Nagle's algorithm disabled, bound to 127.0.0.1 only
unless a caller explicitly names another loopback address.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

from visualsearch_sdk._config import is_loopback
from visualsearch_sdk._exceptions import ConfigurationError

__all__ = ["LoopbackServer"]

Handler = Callable[[httpx.Request], httpx.Response]
_MAX_BODY = 80 * 1024 * 1024
_HOLD_SECONDS = 60.0  # the longest a simulated timeout keeps a connection open


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        super().server_bind()
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _make_request_handler(handler: Handler) -> type[BaseHTTPRequestHandler]:
    class _RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > _MAX_BODY:
                self.send_error(413, "request body too large")
                return
            body = self.rfile.read(length) if length else b""
            host = self.headers.get("host") or "127.0.0.1"
            request = httpx.Request(
                self.command, f"http://{host}{self.path}", headers=list(self.headers.items()), content=body
            )
            try:
                response = handler(request)
            except Exception as exc:
                # A fake's injected fault (testing/fakes/_faults.py): answer nothing, as a real failure would.
                hold = getattr(exc, "hold_connection", False)
                if hold:  # a timeout: keep the connection open until the client gives up
                    self.connection.settimeout(_HOLD_SECONDS)
                    with contextlib.suppress(OSError):
                        self.rfile.read(1)
                if hold or getattr(exc, "drop_connection", False):
                    self.close_connection = True
                    return
                raise
            # The encoded bytes as the handler built them: ``response.content`` would be decoded (gunzipped)
            # while the content-encoding header still announces the encoding.
            content = b"".join(response.stream) if isinstance(response.stream, Iterable) else response.read()
            self.send_response(response.status_code)
            for key, value in response.headers.multi_items():
                if key.lower() not in {"content-length", "transfer-encoding", "connection"}:
                    self.send_header(key, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:  # quiet: the SDK logs, not the server
            return

    return _RequestHandler


class LoopbackServer:
    """A handler served on ``http://127.0.0.1:PORT`` in a background thread; a context manager."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not is_loopback(host):
            raise ConfigurationError(f"refusing to serve on {host}: only loopback addresses are allowed")
        self._server = _Server((host, port), _make_request_handler(handler))
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="visualsearch-serve", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
