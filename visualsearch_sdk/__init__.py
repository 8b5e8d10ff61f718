"""visualsearch_sdk: one typed interface to visual search, with an offline local backend.

>>> from visualsearch_sdk import VisualSearch, ImageRecord, F
>>> with VisualSearch.from_url("memory://") as vs:  # doctest: +SKIP
...     vs.index([ImageRecord(id="sku-1", image="dress.jpg", metadata={"brand": "A"})])
...     vs.search(image="query.jpg", filter=F("brand") == "A")
"""

__version__ = "0.1.0"

from visualsearch_sdk._client import AsyncVisualSearch, VisualSearch
from visualsearch_sdk._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    ImageError,
    InvalidFilterError,
    InvalidQueryError,
    InvalidRequestError,
    NearDuplicateError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnsupportedCapabilityError,
    UnsupportedFilterError,
    VisualSearchError,
)
from visualsearch_sdk._registry import Provider, available_providers, register_adapter
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.filters import F, Filter
from visualsearch_sdk.models import (
    DeleteReport,
    ImageRecord,
    IndexReport,
    RecordFailure,
    SearchHit,
    SearchResult,
    StoredRecord,
)
from visualsearch_sdk.preprocess import ImageLimits, PreparedImage, prepare_image

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncVisualSearch",
    "AuthenticationError",
    "Capability",
    "ConfigurationError",
    "ConflictError",
    "DeleteReport",
    "F",
    "Filter",
    "ImageError",
    "ImageLimits",
    "ImageRecord",
    "IndexReport",
    "InvalidFilterError",
    "InvalidQueryError",
    "InvalidRequestError",
    "NearDuplicateError",
    "NotFoundError",
    "PreparedImage",
    "Provider",
    "RateLimitError",
    "RecordFailure",
    "RetryPolicy",
    "SearchHit",
    "SearchResult",
    "ServerError",
    "StoredRecord",
    "UnsupportedCapabilityError",
    "UnsupportedFilterError",
    "VisualSearch",
    "VisualSearchError",
    "__version__",
    "available_providers",
    "prepare_image",
    "register_adapter",
]
