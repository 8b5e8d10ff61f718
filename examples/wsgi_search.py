"""Search by upload over plain WSGI (stdlib only): ``POST /search`` with an image, JSON hits back.

    python examples/wsgi_search.py --port 8000 --url memory:// --seed
    curl -F image=@query.jpg 'http://127.0.0.1:8000/search?limit=3'
    curl -g --data-binary @query.jpg 'http://127.0.0.1:8000/search?box=0,0,200,300&filter={"colour":"red"}'

The body is ``multipart/form-data`` with an ``image`` part, or else the image itself (raw bytes, any other
content type). Query parameters: ``box=x1,y1,x2,y2`` in the image's pixels, ``limit`` (default 10),
``filter`` (MongoDB-style JSON). Errors come back as JSON ``{"error", "message"}``: 400 for a bad image
(with the SDK's ``reason``) or a bad parameter, 501 when the provider lacks what the query needs, 502 when
the provider fails. ``make_app(vs)`` is a WSGI app for any server (gunicorn, waitress); ``wsgiref`` here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
from collections.abc import Callable, Iterable
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import make_server

from visualsearch_sdk import APIError, ImageError, UnsupportedCapabilityError, VisualSearch

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
MAX_UPLOAD = 20 * 1024 * 1024


def read_image(environ: dict[str, Any]) -> bytes:
    """The uploaded image: the ``image`` part of a multipart body, else the whole body."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    content_type = environ.get("CONTENT_TYPE", "")
    if not content_type.startswith("multipart/form-data"):
        return bytes(body)
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "image":
            return bytes(part.get_payload(decode=True) or b"")
    raise ValueError("the multipart body has no 'image' part")


def search(vs: VisualSearch, environ: dict[str, Any]) -> dict[str, Any]:
    params = {key: values[-1] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
    box = [float(v) for v in params["box"].split(",")] if "box" in params else None
    result = vs.search(
        image=read_image(environ),
        box=box,
        limit=int(params.get("limit", 10)),
        filter=json.loads(params["filter"]) if "filter" in params else None,
    )
    hits = [{"id": hit.id, "score": hit.score, "metadata": hit.metadata} for hit in result.hits]
    return {"provider": result.provider, "query_box": result.query_box, "hits": hits}


def make_app(vs: VisualSearch) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI app over one client for its whole lifetime (connections, or the local engine, stay open)."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        status, body = 200, {}
        if environ["PATH_INFO"] != "/search":
            status, body = 404, {"error": "NotFound", "message": "try POST /search"}
        elif environ["REQUEST_METHOD"] != "POST":
            status, body = 405, {"error": "MethodNotAllowed", "message": "POST an image"}
        elif int(environ.get("CONTENT_LENGTH") or 0) > MAX_UPLOAD:
            status, body = 413, {"error": "TooLarge", "message": f"at most {MAX_UPLOAD} bytes"}
        else:
            try:
                body = search(vs, environ)
            except ImageError as exc:  # unreadable, truncated, too small, bad box...
                status, body = 400, {"error": "ImageError", "reason": exc.reason, "message": str(exc)}
            except ValueError as exc:  # InvalidQueryError (a ValueError), bad JSON, a bad number
                status, body = 400, {"error": type(exc).__name__, "message": str(exc)}
            except UnsupportedCapabilityError as exc:  # e.g. a filter on a provider without filters
                status, body = 501, {"error": type(exc).__name__, "message": str(exc)}
            except APIError as exc:  # the provider failed (after the SDK's retries)
                status, body = 502, {"error": type(exc).__name__, "message": str(exc)}
        payload = json.dumps(body).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [payload]

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve POST /search on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--url", help="provider URL (default: VISUALSEARCH_URL, a profile, or memory://)")
    parser.add_argument(
        "--seed", action="store_true", help="first index the 24 images of `visualsearch demo`"
    )
    args = parser.parse_args(argv)

    vs = VisualSearch.from_url(args.url) if args.url else VisualSearch.from_env()  # one client for the app
    with vs:
        if args.seed:
            from visualsearch_sdk._samples import make_samples  # the demo's images (a private module)

            vs.index(
                [{"id": s.id, "image": s.jpeg, "metadata": s.metadata} for s in make_samples()], upsert=True
            )
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop on SIGTERM as on Ctrl-C
        with make_server("127.0.0.1", args.port, make_app(vs)) as server:
            print(f"http://127.0.0.1:{server.server_port}/search", flush=True)  # first line: where to POST
            with contextlib.suppress(KeyboardInterrupt):
                server.serve_forever()


if __name__ == "__main__":
    main()
