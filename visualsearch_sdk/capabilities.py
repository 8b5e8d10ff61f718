"""What a provider can do, declared per adapter and checked before any I/O."""

from __future__ import annotations

import enum

__all__ = ["Capability"]


class Capability(str, enum.Enum):
    """One thing a provider can do: adapters declare a frozenset of these, nothing is discovered."""

    SEARCH_BY_IMAGE = "search_by_image"
    """Search with uploaded image bytes."""
    SEARCH_BY_URL = "search_by_url"
    """Search with an image URL that the provider downloads."""
    SEARCH_BY_ID = "search_by_id"
    """Search with the id of an indexed record."""
    SEARCH_BY_COLOR = "search_by_color"
    """Search by a hex colour."""
    SERVER_CROP = "server_crop"
    """The provider crops the query image to a box itself; without it the client crops before upload."""
    FILTERS = "filters"
    """Metadata filters on search."""
    METADATA = "metadata"
    """Records carry metadata that is stored and returned."""
    INDEX_WRITE = "index_write"
    """Insert records."""
    INDEX_FROM_BYTES = "index_from_bytes"
    """Insert records whose image is uploaded by the client."""
    INDEX_FROM_URL = "index_from_url"
    """Insert records by image URL, which the provider downloads."""
    UPSERT = "upsert"
    """Insert replaces an existing id in one call; without it, ``upsert=True`` deletes and re-inserts."""
    INDEX_UPDATE = "index_update"
    """Change a record's metadata without re-uploading its image."""
    INDEX_DELETE = "index_delete"
    """Delete records."""
    GET = "get"
    """Fetch one record by id."""
    COUNT = "count"
    """Count the records in the index."""
    LIST = "list"
    """Iterate over every record."""
    MIN_SCORE = "min_score"
    """Drop hits below a score on the provider side."""
    INDEX_ASYNC = "index_async"
    """Indexing finishes after the call returns: reports carry transaction ids that can be waited for."""
    MULTI_OBJECT = "multi_object"
    """Detect the objects in a query image and search for each (``search_objects``)."""
    SEARCH_BY_UPLOAD_ID = "search_by_upload_id"
    """Search again by the id the provider gave an earlier upload (``SearchResult.upload_id``)."""
    REFUSE_EXISTING = "refuse_existing"
    """Insert without ``upsert=True`` refuses an existing id (``ConflictError``); else insert replaces."""

    def __str__(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        """What it lets you do, in a few words (e.g. ``"search by colour"``): the capability matrix's rows."""
        return _LABELS[self]


_LABELS: dict[Capability, str] = {
    Capability.SEARCH_BY_IMAGE: "search by uploaded image",
    Capability.SEARCH_BY_URL: "search by image URL",
    Capability.SEARCH_BY_ID: "search by indexed id",
    Capability.SEARCH_BY_COLOR: "search by colour",
    Capability.SEARCH_BY_UPLOAD_ID: "search again by a previous upload's id",
    Capability.MULTI_OBJECT: "multi-object search (`search_objects`)",
    Capability.SERVER_CROP: "box cropped by the provider (else by the client)",
    Capability.FILTERS: "metadata filters",
    Capability.MIN_SCORE: "`min_score` applied by the provider",
    Capability.METADATA: "metadata stored and returned",
    Capability.INDEX_WRITE: "index records",
    Capability.INDEX_FROM_BYTES: "index from image bytes",
    Capability.INDEX_FROM_URL: "index from image URL",
    Capability.INDEX_ASYNC: "asynchronous indexing (`wait_for_indexing`)",
    Capability.REFUSE_EXISTING: "insert refuses an existing id",
    Capability.UPSERT: "native upsert (else delete and re-insert)",
    Capability.INDEX_UPDATE: "update metadata only",
    Capability.INDEX_DELETE: "delete",
    Capability.GET: "get one record",
    Capability.COUNT: "count",
    Capability.LIST: "iterate over every record",
}
