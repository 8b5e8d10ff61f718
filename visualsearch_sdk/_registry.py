"""Provider -> adapter table, loaded lazily.

``providers/__init__.py`` imports no adapter module: an adapter's module is imported the first time a client
for that provider is built, so a missing optional dependency only matters to the users of that provider.
Outside packages add providers through the ``visualsearch_sdk.adapters`` entry-point group
(``name = "package.module:AdapterClass"``) or :func:`register_adapter`. Nothing is overwritten silently.
"""

from __future__ import annotations

import enum
import importlib
import threading
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from visualsearch_sdk._exceptions import ConfigurationError

if TYPE_CHECKING:
    from visualsearch_sdk.providers._base import Adapter

__all__ = ["Provider", "available_providers", "get_adapter", "register_adapter"]

ENTRY_POINT_GROUP = "visualsearch_sdk.adapters"


class Provider(str, enum.Enum):
    """The providers this package ships. Outside adapters register under their own names."""

    LOCAL = "local"
    XIMILAR = "ximilar"
    VISEARCH = "visearch"
    VISUALSNOOP = "visualsnoop"
    ALIBABA = "alibaba"

    def __str__(self) -> str:
        return self.value


_BUILTIN: dict[str, tuple[str, str | None]] = {
    # provider name -> ("module:Class", the extra to install when its import fails)
    "local": ("visualsearch_sdk.providers.local:LocalAdapter", None),
    "ximilar": ("visualsearch_sdk.providers.ximilar:XimilarAdapter", None),
    "visearch": ("visualsearch_sdk.providers.visearch:ViSearchAdapter", None),
    "visualsnoop": ("visualsearch_sdk.providers.visualsnoop:VisualSnoopAdapter", None),
    "alibaba": ("visualsearch_sdk.providers.alibaba:AlibabaAdapter", None),
}
_ALIASES = {"memory": "local"}
_table: dict[str, tuple[str, str | None]] = dict(_BUILTIN)
_loaded: dict[str, type[Adapter]] = {}
_lock = threading.Lock()
_entry_points_read = False


def canonical_name(name: str | Provider) -> str:
    """The registry key for a provider name or URL scheme (``memory`` is the in-memory local backend)."""
    key = str(name).lower()
    return _ALIASES.get(key, key)


def register_adapter(name: str, target: str | type[Adapter], *, replace: bool = False) -> None:
    """Register an adapter class (or a lazy ``"module:Class"`` path) under ``name``."""
    key = canonical_name(name)
    with _lock:
        if key in _table or key in _loaded:
            if not replace:
                raise ConfigurationError(
                    f"provider {key!r} is registered already; pass replace=True to replace it"
                )
            _table.pop(key, None)
            _loaded.pop(key, None)
        if isinstance(target, str):
            _table[key] = (target, None)
        else:
            _loaded[key] = target


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    for point in entry_points(group=ENTRY_POINT_GROUP):
        key = canonical_name(point.name)
        if key not in _table and key not in _loaded:
            _table[key] = (point.value, None)
    _entry_points_read = True


def available_providers() -> list[str]:
    """Every provider name a client can be built for."""
    with _lock:
        _read_entry_points()
        return sorted(set(_table) | set(_loaded))


def get_adapter(name: str | Provider) -> type[Adapter]:
    """The adapter class for a provider, importing its module on first use."""
    key = canonical_name(name)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        _read_entry_points()
        if key not in _table:
            known = ", ".join(sorted(set(_table) | set(_loaded)))
            raise ConfigurationError(f"unknown provider {key!r}; available: {known}")
        target, extra = _table[key]
        module_name, _, attr = target.partition(":")
        try:
            adapter: type[Adapter] = getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:
            hint = f"; install it with: pip install 'visualsearch_sdk[{extra}]'" if extra else ""
            raise ConfigurationError(f"the {key!r} adapter could not be imported ({exc}){hint}") from exc
        except AttributeError as exc:
            raise ConfigurationError(f"{target!r} names no adapter class") from exc
        _loaded[key] = adapter
        return adapter
