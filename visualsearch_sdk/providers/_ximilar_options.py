"""Ximilar's configuration: services and their path prefixes, credentials, options, token auth, and the
typed multi-image query. Re-exported by ``visualsearch_sdk.providers.ximilar``; VENDORS.md §2.1-2.2.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Annotated, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from visualsearch_sdk._config import EnvModel
from visualsearch_sdk.filters import Filter, FilterLike, parse_filter
from visualsearch_sdk.preprocess import PreparedImage

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_SERVICE",
    "XimilarCredentials",
    "XimilarMultiQuery",
    "XimilarOptions",
    "XimilarService",
    "XimilarTokenAuth",
]

DEFAULT_BASE_URL = "https://api.ximilar.com/"

DEFAULT_SERVICE: Literal["products"] = "products"


XimilarService = Literal[
    "photos", "photos-new", "products", "products-new", "fashion", "fashion-new",
    "custom", "colors", "homedecor", "image_matching",
]  # fmt: skip

_PREFIXES: dict[str, str] = {
    "photos": "photo/search/v2/",
    "photos-new": "similarity/photos/v2/",
    "products": "similarity/products/v2/",
    "products-new": "similarity/products-new/v2/",
    "fashion": "similarity/fashion/v2/",
    "fashion-new": "similarity/fashion-new/v2/",
    "custom": "similarity/custom/v2/",
    "colors": "similarity/colors/v2/",
    "homedecor": "similarity/homedecor/v2/",
    "image_matching": "image_matching/v2/",
}


class XimilarCredentials(BaseModel):
    """An API token and the collection it works on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr
    collection_id: str = Field(min_length=1)


class XimilarOptions(BaseModel):
    """Ximilar-only options (``options=XimilarOptions(...)``); None means "URL, env, or the default"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    credentials: XimilarCredentials | None = None
    service: XimilarService | None = None
    """Collection type, which picks the path prefix (default ``products``)."""
    base_url: str | None = None
    """Instead of ``https://api.ximilar.com/`` (plain http only to loopback or with ``allow_http``)."""
    product_field: str | None = None
    """Sent with searches: at most one hit per value of this field."""
    search_method: Literal["visualKNN", "visualTagsKNN"] | None = None
    """``visualTagsKNN`` mixes in tag similarity; None picks it for fashion (as the official client does)."""
    insert_method: Literal["insert", "nearDupsInsert"] | None = None
    """``nearDupsInsert`` refuses a record whose image has a near duplicate in the collection (the record
    fails with :class:`NearDuplicateError`, naming them); default ``insert``."""
    near_duplicate_radius: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    """The distance within which ``nearDupsInsert`` finds a near duplicate (its ``radius``; Ximilar's
    default is 5.0)."""

    @model_validator(mode="after")
    def _radius_needs_near_dups_insert(self) -> XimilarOptions:
        if self.near_duplicate_radius is not None and self.insert_method != "nearDupsInsert":
            raise ValueError('near_duplicate_radius applies only with insert_method="nearDupsInsert"')
        return self


class XimilarMultiQuery(BaseModel):
    """Several query images at once (``visualKNNMulti``): the records closest to any of them.

    Build the request with :meth:`XimilarAdapter.build_search_multi` and read the answer with
    :meth:`XimilarAdapter.parse_search_multi`. At least one of ``ids``, ``urls`` and ``images``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    ids: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    """Records of the collection to search by; they are left out of the hits."""
    urls: tuple[str, ...] = ()
    """Image URLs (http or https) that Ximilar downloads."""
    images: tuple[PreparedImage, ...] = ()
    """Images from ``visualsearch_sdk.preprocess.prepare_image``, sent as ``_base64``."""
    limit: Annotated[int, Field(ge=1, le=1000)] = 10
    offset: Annotated[int, Field(ge=0)] = 0
    filter: Filter | None = None
    """A ``Filter`` (``F("price") < 50``) or a MongoDB-style dict."""
    fields: tuple[str, ...] | None = None
    """Metadata fields to return (None: all)."""

    @field_validator("filter", mode="before")
    @classmethod
    def _parse_filter(cls, value: FilterLike | None) -> Filter | None:
        return parse_filter(value)

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            parsed = httpx.URL(url)
            if parsed.scheme not in {"http", "https"} or not parsed.host:
                raise ValueError(f"url must be an http(s) URL with a host, got {url!r}")
        return urls

    @model_validator(mode="after")
    def _some_query(self) -> XimilarMultiQuery:
        if not (self.ids or self.urls or self.images):
            raise ValueError("a multi-image query needs at least one of ids=, urls= or images=")
        return self


class _XimilarEnv(EnvModel):
    model_config = SettingsConfigDict(env_prefix="VISUALSEARCH_XIMILAR_", extra="ignore", frozen=True)

    token: SecretStr | None = None
    collection: str | None = None
    service: str | None = None
    base_url: str | None = None


class XimilarTokenAuth(httpx.Auth):
    """``Authorization: Token <t>`` (``JWT <t>`` for tokens of 70+ characters) and ``collection-id``."""

    def __init__(self, token: SecretStr, collection_id: str) -> None:
        self._token = token
        self._collection_id = collection_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token.get_secret_value()
        request.headers["Authorization"] = f"{'JWT' if len(token) >= 70 else 'Token'} {token}"
        request.headers["collection-id"] = self._collection_id
        yield request
