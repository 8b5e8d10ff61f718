"""Testing ``shop.py`` offline with the fixtures visualsearch_sdk installs (pytest plugin ``visualsearch``).

Run: ``pytest examples/testing``. No network and no credentials, three ways: ``..._on_the_local_backend``
uses the bundled engine, ``..._on_the_fake`` the fake Ximilar in-process (and makes it fail), ``..._replayed``
replays ``cassettes/test_shop/*.yaml`` through the real Ximilar adapter.

Re-recording the cassette against the real Ximilar (nothing else changes)::

    VISUALSEARCH_XIMILAR_TOKEN=<your token> VISUALSEARCH_RECORD=all pytest examples/testing -k replayed

The committed one was recorded against the fake Ximilar served on loopback, the same way::

    visualsearch serve --face ximilar --port 8765 &      # prints the provider URL to use
    VISUALSEARCH_URL="<that URL>" VISUALSEARCH_RECORD=all pytest examples/testing -k replayed
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shop import load_catalogue, shop_url, similar_within_budget

HERE = Path(__file__).parent
PRICES = {"bag-green": 79.0, "dress-navy": 34.0, "dress-red": 19.0, "shoe-navy": 49.5}
CATALOGUE = [
    {"id": name, "image": (HERE / "images" / f"{name}.jpg").read_bytes(), "metadata": {"price": price}}
    for name, price in PRICES.items()
]
PHOTO = (HERE / "images" / "dress-red.jpg").read_bytes()


def test_similar_within_budget_on_the_local_backend(vs_local: Any) -> None:
    assert load_catalogue(vs_local, CATALOGUE) == []  # the bundled engine, in memory: no vendor at all
    assert similar_within_budget(vs_local, PHOTO, budget=40)[0] == "dress-red"


def test_similar_within_budget_on_the_fake(vs_fake: Any) -> None:
    vs, _fake, _url = vs_fake("ximilar")  # the client, the fake behind it, its provider URL
    assert load_catalogue(vs, CATALOGUE) == []
    found = similar_within_budget(vs, PHOTO, budget=40)
    assert found[0] == "dress-red"  # the photo itself is the best match
    assert set(found) == {"dress-red", "dress-navy"}  # nothing above the budget


def test_a_rate_limited_vendor_is_retried(vs_fake: Any) -> None:
    vs, fake, _ = vs_fake("ximilar")
    load_catalogue(vs, CATALOGUE)
    fake.fail_next(429, retry_after=0.01)  # the vendor throttles once: the SDK waits and retries
    assert similar_within_budget(vs, PHOTO, budget=40)[0] == "dress-red"
    assert [r.url.path.rsplit("/", 1)[-1] for r in fake.requests[-2:]] == ["visualKNN", "visualKNN"]


def test_similar_within_budget_replayed(vs_cassette: Any) -> None:
    with vs_cassette(provider="ximilar") as tape, tape.client(shop_url()) as vs:
        assert load_catalogue(vs, CATALOGUE) == []
        found = similar_within_budget(vs, PHOTO, budget=40)
    assert found[0] == "dress-red"
    assert set(found) <= {"dress-red", "dress-navy"}
    if not tape.recording:
        assert tape.all_played  # the app made exactly the recorded calls
