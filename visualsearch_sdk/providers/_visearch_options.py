"""ViSearch credentials, options, environment variables and HTTP Basic auth (VENDORS.md §1.1-§1.2)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from visualsearch_sdk._config import EnvModel
from visualsearch_sdk.providers._visearch_filters import SchemaType

__all__ = [
    "CHINA_BASE_URL",
    "DEFAULT_BASE_URL",
    "ViSearchBasicAuth",
    "ViSearchCredentials",
    "ViSearchEnv",
    "ViSearchOptions",
]

DEFAULT_BASE_URL = "https://visearch.visenze.com/"
"""VENDORS §1.1: the official Python client defaults to plain ``http://`` with Basic credentials."""
CHINA_BASE_URL = "https://visearch.visenze.com.cn/"
_SCHEMA_TYPES: tuple[type, ...] = (str, int, float, bool)


class ViSearchCredentials(BaseModel):
    """An application's access key and secret key (HTTP Basic); neither appears in a repr."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_key: SecretStr
    secret_key: SecretStr


class ViSearchOptions(BaseModel):
    """ViSearch-only options (``options=ViSearchOptions(...)``); None means "URL, env, or the default"."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    credentials: ViSearchCredentials | None = None
    base_url: str | None = None
    """Instead of ``https://visearch.visenze.com/`` (plain http only to loopback or with ``allow_http``)."""
    schema_: dict[str, SchemaType] | None = Field(default=None, alias="schema")
    """Field types for ``value_map`` strings, e.g. ``{"price": float, "on_sale": bool}``; others stay str.
    Also lets ``>``/``<`` filters on ``int`` fields be sent as ranges."""
    detection: str | None = None
    """Upload search: ``"all"`` or a product type makes ViSearch detect the object to search for (its
    ``product_types`` are in ``SearchResult.raw``); also ``search_objects``' default (otherwise ``all``)."""
    detection_limit: int | None = Field(default=None, ge=1, le=30)
    """Most objects ``search_objects`` detects (ViSearch's default 5, at most 30)."""
    detection_sensitivity: Literal["low", "high"] | None = None
    """``high`` returns as many objects as possible, ``low`` (ViSearch's default) only confident ones."""

    @field_validator("schema_")
    @classmethod
    def _v_schema(cls, value: dict[str, SchemaType] | None) -> dict[str, SchemaType] | None:
        for name, kind in (value or {}).items():
            if kind not in _SCHEMA_TYPES:
                raise ValueError(f"schema[{name!r}] must be str, int, float or bool")
        return value


class ViSearchEnv(EnvModel):
    """``VISUALSEARCH_VISEARCH_ACCESS_KEY``, ``..._SECRET_KEY`` and ``..._BASE_URL``."""

    model_config = SettingsConfigDict(env_prefix="VISUALSEARCH_VISEARCH_", extra="ignore", frozen=True)

    access_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    base_url: str | None = None


class ViSearchBasicAuth(httpx.Auth):
    """``Authorization: Basic base64(access_key:secret_key)``, built per request from the ``SecretStr``s."""

    def __init__(self, credentials: ViSearchCredentials) -> None:
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"{type(self).__name__}(access_key=**********)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        creds = self._credentials
        basic = httpx.BasicAuth(creds.access_key.get_secret_value(), creds.secret_key.get_secret_value())
        yield from basic.auth_flow(request)
