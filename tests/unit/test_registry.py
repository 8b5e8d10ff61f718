"""The provider registry: lookup, aliases, refusal of silent overwrites and import failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from visualsearch_sdk import ConfigurationError, Provider, available_providers, register_adapter
from visualsearch_sdk import _registry as registry
from visualsearch_sdk._registry import canonical_name, get_adapter
from visualsearch_sdk.providers.local import LocalAdapter


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Snapshot the registry tables and restore them, whatever the test registered."""
    table, loaded = dict(registry._table), dict(registry._loaded)
    try:
        yield
    finally:
        registry._table.clear()
        registry._table.update(table)
        registry._loaded.clear()
        registry._loaded.update(loaded)


class _OtherAdapter(LocalAdapter):
    provider = "other"


def test_get_local_adapter() -> None:
    assert get_adapter("local") is LocalAdapter
    assert get_adapter(Provider.LOCAL) is LocalAdapter
    assert get_adapter("LOCAL") is LocalAdapter


def test_memory_is_an_alias_of_local() -> None:
    assert canonical_name("memory") == "local"
    assert get_adapter("memory") is LocalAdapter


def test_provider_enum() -> None:
    assert str(Provider.LOCAL) == "local"
    assert Provider("local") is Provider.LOCAL


def test_available_providers_lists_local() -> None:
    names = available_providers()
    assert "local" in names
    assert names == sorted(names)


def test_unknown_provider_lists_available_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        get_adapter("nope")
    message = str(info.value)
    assert "unknown provider 'nope'" in message
    assert "available:" in message and "local" in message


@pytest.mark.usefixtures("clean_registry")
def test_register_refuses_silent_overwrite() -> None:
    with pytest.raises(ConfigurationError, match="replace=True"):
        register_adapter("local", _OtherAdapter)
    with pytest.raises(ConfigurationError, match="registered already"):
        register_adapter("memory", _OtherAdapter)  # the alias names the same entry
    assert get_adapter("local") is LocalAdapter


@pytest.mark.usefixtures("clean_registry")
def test_register_new_class_then_refuse_second_registration() -> None:
    register_adapter("other", _OtherAdapter)
    assert get_adapter("other") is _OtherAdapter
    assert "other" in available_providers()
    with pytest.raises(ConfigurationError):
        register_adapter("other", LocalAdapter)
    assert get_adapter("other") is _OtherAdapter


@pytest.mark.usefixtures("clean_registry")
def test_register_replace() -> None:
    register_adapter("local", _OtherAdapter, replace=True)
    assert get_adapter("local") is _OtherAdapter
    assert get_adapter("memory") is _OtherAdapter
    register_adapter("local", "visualsearch_sdk.providers.local:LocalAdapter", replace=True)
    assert get_adapter("local") is LocalAdapter


@pytest.mark.usefixtures("clean_registry")
def test_register_lazy_path() -> None:
    register_adapter("lazy", f"{__name__}:_OtherAdapter")
    assert "lazy" not in registry._loaded
    assert get_adapter("lazy") is _OtherAdapter


def test_clean_registry_restored() -> None:
    # Runs after the tests above (file order): nothing they registered leaks.
    assert "other" not in available_providers()
    assert "lazy" not in available_providers()
    assert get_adapter("local") is LocalAdapter


@pytest.mark.usefixtures("clean_registry")
@pytest.mark.parametrize(
    ("target", "match"),
    [
        ("no_such_module_for_visualsearch:Adapter", "could not be imported"),
        ("visualsearch_sdk.providers.local:NoSuchClass", "names no adapter class"),
        ("visualsearch_sdk.providers.local", "names no adapter class"),
    ],
)
def test_bad_module_path_is_configuration_error(target: str, match: str) -> None:
    register_adapter("broken", target)
    with pytest.raises(ConfigurationError, match=match) as info:
        get_adapter("broken")
    assert not isinstance(info.value, ImportError)
    # And a client for it fails the same way, before any I/O.
    from visualsearch_sdk import VisualSearch

    with pytest.raises(ConfigurationError, match=match):
        VisualSearch.from_url("broken://")


@pytest.mark.usefixtures("clean_registry")
def test_import_failure_names_the_extra() -> None:
    registry._table["vendorx"] = ("no_such_module_for_visualsearch:Adapter", "vendorx")
    with pytest.raises(ConfigurationError, match=r"pip install 'visualsearch_sdk\[vendorx\]'"):
        get_adapter("vendorx")
