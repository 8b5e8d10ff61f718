"""Normalised models shared by every provider.

Inputs are frozen and forbid unknown fields, so a typo is an error rather than a silently ignored option.
Boxes are ``(x1, y1, x2, y2)`` in the pixel space of the **original, upright** image (after EXIF rotation),
both in queries and in results. Scores are in ``[0, 1]``, higher is more similar, for every provider; the
provider's own number is kept in ``vendor_score``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO, Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from visualsearch_sdk._exceptions import VisualSearchError
from visualsearch_sdk.filters import Filter

__all__ = [
    "Box",
    "DeleteReport",
    "DetectedObject",
    "ImageInput",
    "ImageRecord",
    "IndexReport",
    "MetadataValue",
    "ObjectQuery",
    "ObjectSearchResult",
    "RecordFailure",
    "SearchHit",
    "SearchMode",
    "SearchQuery",
    "SearchResult",
    "StoredRecord",
]

MetadataValue = str | int | float | bool
"""A metadata value: a JSON scalar. Nested objects and lists are refused so every provider can store them."""

ImageInput = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | Image.Image
"""A path, encoded bytes, a binary file object or a decoded Pillow image."""

Box = tuple[int, int, int, int]
"""``(x1, y1, x2, y2)`` in original upright pixels."""

SearchMode = Literal["image", "url", "id", "color", "upload_id"]

_ID_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")
_FIELD_RE = re.compile(r"^[^\x00-\x1f\x7f$][^\x00-\x1f\x7f]{0,127}$")
_INPUT = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
_OUTPUT = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError("an id is 1 to 256 characters with no control characters")
    return value


def _check_metadata(value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
    for key, item in value.items():
        if not _FIELD_RE.match(key):
            raise ValueError(
                f"metadata field {key!r} must be 1-128 characters, no control chars, no leading '$'"
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"metadata field {key!r} is {item!r}; only finite numbers can be stored")
    return value


def _check_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", value, re.IGNORECASE):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class ImageRecord(BaseModel):
    """One image to index: an id, the image (or a URL the provider downloads) and its metadata."""

    model_config = _INPUT

    id: str
    """1 to 256 characters, no control characters; unique within the index."""
    image: ImageInput | None = Field(default=None, repr=False)
    """The image: a path, encoded bytes, a binary file object or a Pillow image (never in the repr)."""
    url: str | None = None
    """An http(s) URL the provider downloads, for providers with ``Capability.INDEX_FROM_URL``."""
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    """Field names of 1-128 characters (no leading ``$``) to JSON scalars: str, int, finite float, bool."""

    _v_id = field_validator("id")(_check_id)
    _v_meta = field_validator("metadata")(_check_metadata)
    _v_url = field_validator("url")(_check_url)

    @field_validator("image", mode="plain")
    @classmethod
    def _v_image(cls, value: object) -> object:
        if value is None or isinstance(value, (str, bytes, bytearray, memoryview, Image.Image, os.PathLike)):
            return value
        if hasattr(value, "read"):
            return value
        raise ValueError("image must be a path, bytes, a binary file object or a PIL.Image")

    @model_validator(mode="after")
    def _v_source(self) -> ImageRecord:
        if self.image is None and self.url is None:
            raise ValueError(f"record {self.id!r} has neither image nor url")
        return self


class SearchHit(BaseModel):
    """One result: a record id, a score in [0, 1] (higher is more similar) and what the provider returned."""

    model_config = _OUTPUT

    id: str
    """The record's id."""
    score: float = Field(ge=0.0, le=1.0)
    """Similarity in [0, 1], higher is more similar; comparable within one provider, not across providers."""
    vendor_score: float | None = None
    """The provider's own number (a distance, a rank, a raw score), unchanged."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """The record's metadata, limited to ``fields`` when the search named them."""


class SearchResult(BaseModel):
    """One page of hits. ``raw`` holds the provider's payload for debugging, never credentials."""

    model_config = _OUTPUT

    hits: tuple[SearchHit, ...]
    """Best first."""
    total: int | None = None
    """How many records match in all pages, when the provider says; None when it does not."""
    provider: str
    """The provider's name, e.g. ``"ximilar"``."""
    request_id: str | None = None
    """The provider's id for the request, to quote to its support."""
    query_box: Box | None = None
    """The box the search used, in original upright pixels (after clamping to the image, or the subject
    region the provider chose when no box was given)."""
    regions: tuple[Box, ...] = ()
    """Subject regions the provider detected in the query image, in original upright pixels (Alibaba's
    ``PicInfo.MultiRegion``); empty when it reports none."""
    offset: int = 0
    """The offset of this page."""
    limit: int = 10
    """The page size asked for."""
    upload_id: str | None = None
    """The provider's id for the uploaded query image: ``search(upload_id=...)`` searches it again without
    uploading it again (``Capability.SEARCH_BY_UPLOAD_ID``); None for providers without it."""
    raw: Any = Field(default=None, repr=False)
    """The provider's decoded payload, for debugging (not part of the stable interface)."""

    def __iter__(self) -> Iterator[SearchHit]:  # type: ignore[override]
        """Iterate over the hits (not the model fields)."""
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    @property
    def ids(self) -> list[str]:
        """The hit ids, best first."""
        return [hit.id for hit in self.hits]


class StoredRecord(BaseModel):
    """An indexed record as the provider returns it."""

    model_config = _OUTPUT

    id: str
    """The record's id."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Its stored metadata."""
    url: str | None = None
    """The image URL it was indexed from, when the provider keeps one."""


class RecordFailure(BaseModel):
    """Why one record of a batch failed: its id, a typed error and a short reason."""

    model_config = _OUTPUT

    id: str
    """The failed record's id."""
    error: VisualSearchError = Field(repr=False)
    """The typed error, as it would have been raised for that record alone."""
    reason: str
    """A short machine-readable reason: ``ImageError.reason`` (e.g. ``"truncated"``), else the error's class
    and the provider's code (``"ConflictError: 409"``); ``str(error)`` has the whole message."""

    @property
    def error_type(self) -> str:
        """The error's class name, e.g. ``"ImageError"``."""
        return type(self.error).__name__


class IndexReport(BaseModel):
    """The outcome of an indexing call: every input record appears exactly once, succeeded or failed."""

    model_config = _OUTPUT

    succeeded: tuple[str, ...] = ()
    """Ids the provider accepted, in input order."""
    failed: tuple[RecordFailure, ...] = ()
    """One entry per record that failed, with its typed error."""
    skipped: tuple[str, ...] = ()
    """Ids deliberately not sent (the CLI's ``index`` skips ids already indexed)."""
    transaction_ids: tuple[str, ...] = ()
    """Set by a provider that indexes asynchronously (``Capability.INDEX_ASYNC``): until
    ``wait_for_indexing`` settles the report, ``succeeded`` means accepted, and an image may still fail."""
    stopped_early: str | None = None
    """Set when the run stopped before the end (an authentication error); names the reason."""

    @property
    def ok(self) -> bool:
        """True when nothing failed and the run was not stopped."""
        return not self.failed and self.stopped_early is None

    @property
    def total(self) -> int:
        """How many records the report accounts for."""
        return len(self.succeeded) + len(self.failed) + len(self.skipped)

    def merge(self, other: IndexReport) -> IndexReport:
        """Combine two reports of disjoint batches."""
        return IndexReport(
            succeeded=self.succeeded + other.succeeded,
            failed=self.failed + other.failed,
            skipped=self.skipped + other.skipped,
            transaction_ids=self.transaction_ids + other.transaction_ids,
            stopped_early=self.stopped_early or other.stopped_early,
        )


class DeleteReport(BaseModel):
    """The outcome of a delete: which ids were deleted, which did not exist, and which failed."""

    model_config = _OUTPUT

    deleted: tuple[str, ...] = ()
    """Ids that existed and are gone."""
    not_found: tuple[str, ...] = ()
    """Ids the provider did not have (not an error: the end state is the same)."""
    failed: tuple[RecordFailure, ...] = ()
    """Ids the provider could not delete, with why."""

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed


class SearchQuery(BaseModel):
    """A normalised search: exactly one of image/url/id/color, plus paging, filter and fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    mode: SearchMode
    url: str | None = None
    id: str | None = None
    color: tuple[int, int, int] | None = None
    upload_id: str | None = None
    box: tuple[float, float, float, float] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 10
    offset: Annotated[int, Field(ge=0)] = 0
    filter: Filter | None = None
    fields: tuple[str, ...] | None = None
    min_score: Annotated[float, Field(ge=0.0, le=1.0)] | None = None


class ObjectQuery(BaseModel):
    """A normalised multi-object search: exactly one of image/url/upload_id, plus detection and paging."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    mode: Literal["image", "url", "upload_id"]
    url: str | None = None
    upload_id: str | None = None
    box: tuple[float, float, float, float] | None = None
    detection: str | None = None
    """Which object types to detect (provider-specific names); None means the provider's default (all)."""
    limit_per_object: Annotated[int, Field(ge=1, le=1000)] = 10
    filter: Filter | None = None
    fields: tuple[str, ...] | None = None
    min_score: Annotated[float, Field(ge=0.0, le=1.0)] | None = None


class DetectedObject(BaseModel):
    """One object found in the query image, with its own hits."""

    model_config = _OUTPUT

    type: str
    """The provider's name for the kind of object (e.g. ``"bag"``)."""
    score: float | None = None
    """Detection confidence in [0, 1], when the provider gives one."""
    box: Box | None = None
    """Where the object is, in the pixels of the original, upright query image."""
    hits: tuple[SearchHit, ...] = ()
    total: int | None = None


class ObjectSearchResult(BaseModel):
    """What ``search_objects`` found: one entry per detected object, best detection first."""

    model_config = _OUTPUT

    objects: tuple[DetectedObject, ...]
    provider: str
    request_id: str | None = None
    upload_id: str | None = None
    """As ``SearchResult.upload_id``: search the same upload again without sending it again."""
    raw: Any = Field(default=None, repr=False)

    def __iter__(self) -> Iterator[DetectedObject]:  # type: ignore[override]
        """Iterate over the objects (not the model fields)."""
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)
