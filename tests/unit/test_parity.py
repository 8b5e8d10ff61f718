"""The sync and async clients expose the same API: same names, same parameters, awaitable on one side."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from visualsearch_sdk import AsyncVisualSearch, VisualSearch
from visualsearch_sdk._client_base import _ClientBase

# Sync name -> async name where they differ by convention.
RENAMED = {"close": "aclose", "__enter__": "__aenter__", "__exit__": "__aexit__"}
ITERATORS = {"iter_search", "iter_records"}


def public_methods(cls: type[Any]) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and (inspect.isfunction(member) or inspect.ismethod(member))
    }


def params(fn: Any) -> list[tuple[str, Any, Any]]:
    """Names, kinds and defaults; annotations differ by design (Iterator vs AsyncIterator)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


SYNC = public_methods(VisualSearch)
ASYNC = public_methods(AsyncVisualSearch)


def test_the_api_is_not_empty() -> None:
    assert {"search", "iter_search", "index", "index_many", "get", "update", "delete", "count"} <= set(SYNC)
    assert {"verify", "iter_records", "close", "from_url", "from_env", "with_options"} <= set(SYNC)


def test_same_public_names() -> None:
    expected = {RENAMED.get(name, name) for name in SYNC}
    assert expected == set(ASYNC)


@pytest.mark.parametrize("name", sorted(SYNC))
def test_same_parameters(name: str) -> None:
    sync, other = SYNC[name], ASYNC[RENAMED.get(name, name)]
    assert params(sync) == params(other)


@pytest.mark.parametrize("name", sorted(set(SYNC) | set(RENAMED)))
def test_async_side_awaits(name: str) -> None:
    sync = getattr(VisualSearch, name)
    other = getattr(AsyncVisualSearch, RENAMED.get(name, name))
    shared = (
        name in vars(_ClientBase) and name not in vars(VisualSearch) and name not in vars(AsyncVisualSearch)
    )
    if shared:
        # Shared from the base class (constructors, with_options): plain functions on both sides.
        assert not inspect.iscoroutinefunction(other)
        return
    assert not inspect.iscoroutinefunction(sync) and not inspect.isasyncgenfunction(sync)
    if name in ITERATORS:
        assert inspect.isgeneratorfunction(sync)
        assert inspect.isasyncgenfunction(other)
    else:
        assert inspect.iscoroutinefunction(other), f"AsyncVisualSearch.{RENAMED.get(name, name)} is not async"


@pytest.mark.parametrize(("sync_name", "async_name"), sorted(RENAMED.items()))
def test_renamed_pairs(sync_name: str, async_name: str) -> None:
    sync, other = getattr(VisualSearch, sync_name), getattr(AsyncVisualSearch, async_name)
    assert params(sync) == params(other)
    assert inspect.iscoroutinefunction(other)
    assert not hasattr(AsyncVisualSearch, sync_name) or sync_name.startswith("__")
    assert not hasattr(VisualSearch, async_name)


def test_constructors_match() -> None:
    assert params(VisualSearch.__init__) == params(AsyncVisualSearch.__init__)


def test_context_managers_return_self() -> None:
    assert inspect.signature(VisualSearch.__enter__).return_annotation in {"VisualSearch", VisualSearch}
    assert inspect.signature(AsyncVisualSearch.__aenter__).return_annotation in {
        "AsyncVisualSearch",
        AsyncVisualSearch,
    }


def test_same_docstring_summaries() -> None:
    for name, sync in SYNC.items():
        other = ASYNC[RENAMED.get(name, name)]
        assert (sync.__doc__ or "").strip(), f"VisualSearch.{name} has no docstring"
        assert (other.__doc__ or "").strip(), f"AsyncVisualSearch.{name} has no docstring"


@pytest.mark.anyio
async def test_async_iterators_really_are_async() -> None:
    async with AsyncVisualSearch.from_url("memory://") as client:
        records = client.iter_records()
        assert inspect.isasyncgen(records)
        assert [record async for record in records] == []
