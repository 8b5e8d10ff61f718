"""Provider cases of the contract suite, one module per provider.

A module here exports ``CASES: dict[str, Factory]``: a case name mapped to a factory that takes the test's
``tmp_path`` and yields a provider URL and the client keyword arguments it needs (a transport, say), tearing
down any server after the test. Every module found here joins the suite; names must be unique.

A provider that indexes only from image URLs (no ``INDEX_FROM_BYTES``: ViSearch downloads its images)
yields a third item, an :class:`ImageHost` that its fake resolves URLs with: the suite then indexes each
image by the URL ``ImageHost.url_for(image_bytes)`` gives, instead of by its bytes.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class ImageHost:
    """Image bytes served at made-up URLs, for a fake that downloads images by URL (its ``url_resolver``)."""

    def __init__(self, base: str = "https://images.contract.test/") -> None:
        self.base = base
        self._images: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def url_for(self, data: bytes) -> str:
        """A URL that :meth:`resolve` answers with ``data`` (content-addressed, so stable)."""
        url = f"{self.base}{hashlib.sha256(data).hexdigest()[:32]}.jpg"
        with self._lock:
            self._images[url] = data
        return url

    def resolve(self, url: str) -> bytes:
        """The bytes behind a URL from :meth:`url_for`; ``KeyError`` (a failed download) for any other."""
        with self._lock:
            return self._images[url]


Case = tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], ImageHost]
Factory = Callable[[Path], Iterator[Case]]


def discover() -> dict[str, Factory]:
    found: dict[str, Factory] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, factory in module.CASES.items():
            if name in found:
                raise RuntimeError(f"contract case {name!r} is declared twice")
            found[name] = factory
    return found


PROVIDERS = discover()
