"""One entry per recorded setup: how to serve its fake, the URLs to record and replay with, its secrets.

Adding a provider to the recorded cassettes is one entry in ``SETUPS``: a fake factory (given the
``Images`` its fake resolves image URLs from), the provider URL for a fake served at ``base_url``, the
credential-free URL a replay uses (the tape's placeholder credentials fill in), client options, and the
credentials the fake accepts (the guard test looks for each of them in every committed cassette). Then
``python -m tests.recorded.record <name>`` writes ``cassettes/<provider>/<cassette>.yaml`` and its
``.expected.json``, and ``tests/recorded`` replays it.

Setups without a fake (``fake=None``) describe hand-built cassettes: only their replay URL and options.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visualsearch_sdk.local.app import LocalApp

REPO_ROOT = Path(__file__).resolve().parents[2]
CASSETTES = REPO_ROOT / "cassettes"
IMAGES = Path(__file__).resolve().parent / "images"

Handler = Callable[..., Any]


@dataclass(frozen=True)
class Image:
    """A committed JPEG (within every preset, so the SDK sends its bytes as they are: stable digests)."""

    id: str
    data: bytes
    metadata: dict[str, str | float]


class Images:
    """The committed test images, and made-up URLs for them that a fake resolves (never the network)."""

    BASE = "https://images.recorded.test/"

    def __init__(self) -> None:
        meta = json.loads((IMAGES / "metadata.json").read_text(encoding="utf-8"))
        self.items = tuple(Image(i, (IMAGES / f"{i}.jpg").read_bytes(), meta[i]) for i in sorted(meta))
        self._by_url = {self.url_for(image.id): image.data for image in self.items}

    def url_for(self, image_id: str) -> str:
        return f"{self.BASE}{image_id}.jpg"

    def resolve(self, url: str) -> bytes:
        return self._by_url[url]  # KeyError: the fake reports a failed download

    def digest(self, image_id: str) -> str:
        return "sha256:" + hashlib.sha256(next(i.data for i in self.items if i.id == image_id)).hexdigest()


@dataclass(frozen=True)
class Setup:
    """How one provider is recorded (against its fake on loopback) and replayed."""

    provider: str
    replay_url: str
    """Credential-free provider URL for replay; ``Tape.environ`` supplies placeholder credentials."""
    options: Callable[[], Any] = lambda: None
    fake: Callable[[Images], Any] | None = None
    """Builds the fake (or the local app) the recording talks to; None for a hand-built cassette."""
    record_url: Callable[[Any, str], str] | None = None
    """The provider URL for the fake served at a base URL."""
    secrets: tuple[str, ...] = ()
    """The credentials that travel on the wire (headers, query, URL): none may stay in a cassette."""
    signing_secrets: tuple[str, ...] = ()
    """Keys that only sign (never sent, only their signatures are): none may appear either."""
    cassette: str = "flow"
    origin: str | None = None
    """Canonical origin the loopback recording is rewritten to (default: the provider's)."""
    scenario: str = "flow"
    record_environ: dict[str, str] = field(default_factory=dict)
    """Environment of the recording client (credentials the URL cannot carry, e.g. an STS token)."""

    def client_kwargs(self) -> dict[str, Any]:
        options = self.options()
        return {} if options is None else {"options": options}

    @property
    def path(self) -> Path:
        return CASSETTES / self.provider / f"{self.cassette}.yaml"


def _local(images: Images) -> LocalApp:
    return LocalApp(None, token="rec-local-B3arer-5e1d77")


def _ximilar(images: Images) -> Any:
    from visualsearch_sdk.testing.fakes.ximilar import FakeXimilar

    return FakeXimilar(token="rec-ximilar-T0ken-7f3a9c", collection_id="rec-collection", service="products")


def _visearch(images: Images) -> Any:
    from visualsearch_sdk.testing.fakes.visearch import FakeViSearch

    schema = {"category": "string", "colour": "string", "brand": "string", "price": "float"}
    return FakeViSearch(
        access_key="rec-visearch-AKey-41c0",
        secret_key="rec-visearch-S3cret-9b2e",
        schema=schema,  # type: ignore[arg-type]  # FieldType literals
        url_resolver=images.resolve,
        settle_after_polls=1,  # the first status poll settles: wait=True needs no sleep
    )


def _visearch_options() -> Any:
    from visualsearch_sdk.providers.visearch import ViSearchOptions

    return ViSearchOptions(schema_={"price": float})


def _visualsnoop(images: Images) -> Any:
    from visualsearch_sdk.testing.fakes.visualsnoop import FakeVisualSnoop

    return FakeVisualSnoop(public_key="rec-snoop-Pub-6d0a", secret_key="rec-snoop-S3cret-c4f8")


def _alibaba(images: Images) -> Any:
    from visualsearch_sdk.testing.fakes.alibaba import FakeAlibaba

    return FakeAlibaba(
        access_key_id="LTAIrecAlibabaKey5a8c",
        access_key_secret="rec-alibaba-S3cret-0e7d",
        security_token="STS.recAlibabaSecurityT0ken",
        instance="recinstance",
    )


_ALIBABA_SLOTS = (
    "attributes=price:IntAttr,brand:StrAttr,category:StrAttr2,colour:StrAttr3&int_scales=price:100"
)


def _with(extra: str) -> Callable[[Any, str], str]:
    def url(fake: Any, base_url: str) -> str:
        return (
            f"{fake.client_url(base_url=base_url)}&{extra}" if extra else fake.client_url(base_url=base_url)
        )

    return url


SETUPS: dict[str, Setup] = {
    "local": Setup(
        provider="local",
        replay_url="local://127.0.0.1:8765",
        fake=_local,
        record_url=lambda app, base: f"local://:rec-local-B3arer-5e1d77@{base.removeprefix('http://')}",
        secrets=("rec-local-B3arer-5e1d77",),
    ),
    "ximilar": Setup(
        provider="ximilar",
        replay_url="ximilar://api.ximilar.com/rec-collection?service=products",
        fake=_ximilar,
        record_url=_with(""),
        secrets=("rec-ximilar-T0ken-7f3a9c",),
    ),
    "ximilar-documented": Setup(
        provider="ximilar",
        replay_url="ximilar://api.ximilar.com/mycoll_id?service=photos",
        cassette="documented",
        scenario="ximilar_documented",
        secrets=("1af538baa90-----XXX-----baf83ff24",),
    ),
    "visearch-documented": Setup(
        provider="visearch",
        replay_url="visearch://visearch.visenze.com",
        options=_visearch_options,
        cassette="documented",
        scenario="visearch_documented",
    ),
    "visualsnoop-documented": Setup(
        provider="visualsnoop",
        replay_url="visualsnoop://visualsnoop.com/api/v1",
        cassette="documented",
        scenario="visualsnoop_documented",
        secrets=("24d337fe0ed9427cb512",),
        signing_secrets=("sUGSL96ZvNxqHixSPUopX5L1M",),
    ),
    "alibaba-documented": Setup(
        provider="alibaba",
        replay_url="alibaba://cn-shanghai/demoinstance",
        cassette="documented",
        scenario="alibaba_documented",
    ),
    "visearch": Setup(
        provider="visearch",
        replay_url="visearch://visearch.visenze.com",
        options=_visearch_options,
        fake=_visearch,
        record_url=_with(""),
        secrets=("rec-visearch-AKey-41c0", "rec-visearch-S3cret-9b2e"),
    ),
    "visualsnoop": Setup(
        provider="visualsnoop",
        replay_url="visualsnoop://visualsnoop.com/api/v1",
        fake=_visualsnoop,
        record_url=_with(""),
        secrets=("rec-snoop-Pub-6d0a",),
        signing_secrets=("rec-snoop-S3cret-c4f8",),
        origin="https://visualsnoop.com",
    ),
    "alibaba": Setup(
        provider="alibaba",
        replay_url=f"alibaba://cn-shanghai/recinstance?{_ALIBABA_SLOTS}",
        fake=_alibaba,
        record_url=_with(_ALIBABA_SLOTS),
        secrets=("LTAIrecAlibabaKey5a8c", "STS.recAlibabaSecurityT0ken"),
        signing_secrets=("rec-alibaba-S3cret-0e7d",),
        record_environ={"VISUALSEARCH_ALIBABA_SECURITY_TOKEN": "STS.recAlibabaSecurityT0ken"},
    ),
    "alibaba-rpc-v2": Setup(
        provider="alibaba",
        replay_url=f"alibaba://cn-shanghai/recinstance?signature=v2&{_ALIBABA_SLOTS}",
        fake=_alibaba,
        record_url=_with(f"signature=v2&{_ALIBABA_SLOTS}"),
        secrets=("LTAIrecAlibabaKey5a8c", "STS.recAlibabaSecurityT0ken"),
        signing_secrets=("rec-alibaba-S3cret-0e7d",),
        record_environ={"VISUALSEARCH_ALIBABA_SECURITY_TOKEN": "STS.recAlibabaSecurityT0ken"},
        cassette="flow-rpc-v2",
    ),
}
"""Every recorded or hand-built setup, by name."""

ALL_SECRETS = tuple(sorted({s for x in SETUPS.values() for s in (*x.secrets, *x.signing_secrets)}))
"""Every credential any setup records with: the guard looks for all of them in every cassette."""
