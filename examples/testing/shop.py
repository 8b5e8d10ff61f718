"""A small shop feature built on visualsearch_sdk: "more like this photo, within my budget".

The app code takes a client and knows nothing of tests; ``test_shop.py`` tests it offline two ways: against
the fake Ximilar (``vs_fake``) and by replaying a recorded cassette (``vs_cassette``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from visualsearch_sdk import F, VisualSearch

DEFAULT_URL = "ximilar://api.ximilar.com/shop-collection?service=products"
"""Where the catalogue lives; the token comes from ``VISUALSEARCH_XIMILAR_TOKEN``."""


def shop_url(environ: Mapping[str, str] = os.environ) -> str:
    """``VISUALSEARCH_URL`` when set (a fake served by ``visualsearch serve``, say), else the default."""
    return environ.get("VISUALSEARCH_URL") or DEFAULT_URL


def load_catalogue(vs: VisualSearch, products: Iterable[Mapping[str, Any]]) -> list[str]:
    """Index the products; returns the ids that failed (an empty list when all went in)."""
    report = vs.index(list(products))
    return [failure.id for failure in report.failed]


def similar_within_budget(vs: VisualSearch, photo: bytes, *, budget: float, limit: int = 3) -> list[str]:
    """Ids of the products that look most like ``photo`` and cost at most ``budget``, best first."""
    result = vs.search(image=photo, limit=limit, filter=F("price") <= budget)
    return [hit.id for hit in result.hits]
