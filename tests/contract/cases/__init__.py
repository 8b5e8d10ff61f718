"""Provider cases of the contract suite, one module per provider.

A module here exports ``CASES: dict[str, Factory]``: a case name mapped to a factory that takes the test's
``tmp_path`` and yields a provider URL and the client keyword arguments it needs (a transport, say), tearing
down any server after the test. Every module found here joins the suite; names must be unique.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Case = tuple[str, dict[str, Any]]
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
