"""Record once, replay forever, leak nothing: vcrpy cassettes for apps built on this SDK.

Quick use::

    from visualsearch_sdk.testing import cassette

    with cassette("ximilar/search_shoes", provider="ximilar") as tape:
        with tape.client("ximilar://api.ximilar.com/my-collection") as vs:
            result = vs.search(image="shoe.jpg")

``VISUALSEARCH_RECORD`` picks the record mode: ``none`` (the default: replay only, a request missing from the
cassette fails and nothing touches the network), ``once`` (record a cassette that does not exist yet),
``new_episodes`` (replay what matches, record the rest) or ``all`` (record everything again). To record, put
real credentials in the environment (``VISUALSEARCH_XIMILAR_TOKEN``...) and run the same tests with
``VISUALSEARCH_RECORD=once``; in replay, ``tape.environ`` / ``tape.client()`` use placeholder credentials
instead, so CI needs none.

What a cassette holds (see ``_scrub.py``): every credential of every provider is replaced by ``REDACTED``,
image bytes by ``sha256:<hex>``, a loopback origin by the vendor's canonical one; each file opens with a
comment saying how it was made. How requests match (``_matchers.py``): method, path, query and body by
meaning, ignoring host, signatures, nonces, timestamps and dates, multipart bodies part by part.

vcrpy and PyYAML come with the ``testing`` extra: ``pip install "visualsearch_sdk[testing]"``.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from visualsearch_sdk._exceptions import ConfigurationError
from visualsearch_sdk.testing._guard import env_secrets
from visualsearch_sdk.testing._matchers import MATCH_ON, MATCHERS, ImageMatch
from visualsearch_sdk.testing._scrub import Scrubber

if TYPE_CHECKING:
    from visualsearch_sdk import AsyncVisualSearch, VisualSearch

__all__ = [
    "RECORD_ENV",
    "REPLAY_CREDENTIALS",
    "RecordMode",
    "Tape",
    "cassette",
    "make_vcr",
    "record_mode",
    "register",
    "vcr_config",
]

RecordMode = Literal["none", "once", "new_episodes", "all"]
RECORD_ENV = "VISUALSEARCH_RECORD"
SERIALIZER = "visualsearch-yaml"
DEFAULT_DIRECTORY = "cassettes"

REPLAY_CREDENTIALS: dict[str, dict[str, str]] = {
    "local": {"VISUALSEARCH_LOCAL_TOKEN": "replay-local-token"},
    "ximilar": {"VISUALSEARCH_XIMILAR_TOKEN": "replay-ximilar-token"},
    "visearch": {
        "VISUALSEARCH_VISEARCH_ACCESS_KEY": "replay-access-key",
        "VISUALSEARCH_VISEARCH_SECRET_KEY": "replay-secret-key",
    },
    "visualsnoop": {
        "VISUALSEARCH_VISUALSNOOP_PUBLIC_KEY": "replay-public-key",
        "VISUALSEARCH_VISUALSNOOP_SECRET_KEY": "replay-secret-key",
    },
    "alibaba": {
        "VISUALSEARCH_ALIBABA_ACCESS_KEY_ID": "replay-access-key-id",
        "VISUALSEARCH_ALIBABA_ACCESS_KEY_SECRET": "replay-access-key-secret",
    },
}
"""Placeholder credentials a replay uses instead of real ones (nothing is sent in replay)."""


def record_mode(environ: Mapping[str, str] | None = None, *, given: str | None = None) -> RecordMode:
    """The record mode: ``given`` if set, else ``VISUALSEARCH_RECORD``, else ``"none"``.

    Raises:
        ConfigurationError: an unknown mode (the message lists the valid ones).
    """
    return _resolve_mode(os.environ if environ is None else environ, given)


def _resolve_mode(environ: Mapping[str, str], given: str | None = None) -> RecordMode:
    value = (given if given is not None else environ.get(RECORD_ENV, "")).strip().lower() or "none"
    modes = get_args(RecordMode)
    if value not in modes:
        raise ConfigurationError(
            f"{RECORD_ENV}={value!r} is not a record mode; use one of {', '.join(modes)}"
        )
    return value  # type: ignore[return-value]  # checked against the Literal's values


def _vcr() -> Any:
    """The ``vcr`` module (untyped: reached through importlib so the package needs no stubs)."""
    try:
        return importlib.import_module("vcr")
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigurationError(
            'cassettes need vcrpy and PyYAML: pip install "visualsearch_sdk[testing]"'
        ) from exc


def vcr_config(
    provider: str | None = None,
    *,
    record_mode: RecordMode | None = None,
    secrets: Iterable[str] = (),
    origin: str | None = None,
    match_images: ImageMatch = "exact",
    scrub: bool = True,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``vcr.VCR(...)`` (or pytest-recording's ``vcr_config`` fixture).

    The matcher and serializer names in it exist only on a VCR passed through :func:`register`
    (with pytest-recording: ``def pytest_recording_configure(config, vcr): register(vcr)``).

    Args:
        provider: the provider recorded, for the canonical origin a loopback recording is rewritten to.
            Every provider's credentials are scrubbed whatever this says.
        record_mode: default ``VISUALSEARCH_RECORD``, else ``"none"``.
        secrets: more values to scrub everywhere (the ``VISUALSEARCH_*`` credential variables are added).
        origin: the origin to rewrite loopback recordings to (default: the provider's).
        match_images: ``"exact"`` compares uploaded images by SHA-256; ``"any"`` lets any image match any
            other (when the images are generated at test time by an encoder whose output may change).
        scrub: False keeps credentials in the cassette: only for proving a leak guard can fail.
        environ: where ``VISUALSEARCH_*`` is read (default ``os.environ``).
    """
    return _config(provider, record_mode, secrets, origin, match_images, scrub, environ)[0]


def _config(
    provider: str | None,
    record_mode: RecordMode | None,
    secrets: Iterable[str],
    origin: str | None,
    match_images: ImageMatch,
    scrub: bool,
    environ: Mapping[str, str] | None,
) -> tuple[dict[str, Any], Scrubber]:
    environ = os.environ if environ is None else environ
    mode = record_mode or _resolve_mode(environ)
    scrubber = Scrubber(provider, secrets=[*secrets, *env_secrets(environ)], origin=origin, scrub=scrub)
    config = {
        "record_mode": mode,
        "match_on": MATCH_ON[match_images],
        "before_record_request": scrubber.before_record_request,
        "before_record_response": scrubber.before_record_response,
        "decode_compressed_response": True,
        "serializer": SERIALIZER,
    }
    return config, scrubber


def _yaml_serializer() -> Any:
    return importlib.import_module("vcr.serializers.yamlserializer")


class _Serializer:
    """vcrpy's safe YAML, with a header comment saying how the cassette was made."""

    def __init__(self, header: str | Callable[[], str]) -> None:
        self.header = header

    def serialize(self, cassette_dict: dict[str, Any]) -> str:
        header = self.header() if callable(self.header) else self.header
        lines = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
        return lines + str(_yaml_serializer().serialize(cassette_dict))

    def deserialize(self, cassette_string: str) -> Any:
        return _yaml_serializer().deserialize(cassette_string)


def register(instance: Any, *, header: str | Callable[[], str] | None = None) -> Any:
    """Add our matchers and the header-writing YAML serializer to a ``vcr.VCR``; returns it."""
    for name, matcher in MATCHERS.items():
        instance.register_matcher(name, matcher)
    instance.register_serializer(SERIALIZER, _Serializer(header or default_header(None, "once")))
    return instance


def make_vcr(provider: str | None = None, *, header: str | None = None, **options: Any) -> Any:
    """A ``vcr.VCR`` configured by :func:`vcr_config` (same options) and :func:`register`."""
    return register(_vcr().VCR(**vcr_config(provider, **options)), header=header)


def default_header(provider: str | None, mode: str, against: str | None = None) -> str:
    """The header comment of a cassette recorded by this module: what, against what, when, how."""
    what = f"{provider} traffic" if provider else "HTTP traffic"
    where = f" against {against}" if against else ""
    return (
        f"visualsearch_sdk cassette: {what} recorded{where}\n"
        f"with {RECORD_ENV}={mode} on {_dt.date.today().isoformat()}. Credentials are scrubbed (REDACTED),\n"
        "image bytes replaced by their SHA-256 (visualsearch_sdk.testing.cassettes). Replay matches\n"
        "method, path, query and body; host, signatures, nonces, timestamps and dates are ignored."
    )


def read_header(path: Path) -> str | None:
    """The leading comment of a cassette file, without the ``# `` marks (None when it has none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    return "\n".join(lines) or None


@dataclass
class Tape:
    """An open cassette: where it lives, whether this run records, and the environment a client should use."""

    path: Path
    provider: str | None
    record_mode: RecordMode
    existed: bool
    """The file was there before this run."""
    base_environ: Mapping[str, str] = field(repr=False)
    cassette: Any = field(repr=False)
    """The ``vcr.cassette.Cassette`` (its ``requests``, ``responses``, ``play_count``...)."""

    @property
    def recording(self) -> bool:
        """True when a request missing from the cassette would go out to the network and be recorded."""
        return self.record_mode in ("all", "new_episodes") or (
            self.record_mode == "once" and not self.existed
        )

    @property
    def placeholders(self) -> dict[str, str]:
        """Placeholder credentials for the provider (every provider when None); empty when recording.

        In replay they replace any real credential of the environment: nothing is sent, so none is needed,
        and none can end up in an error message about an unmatched request.
        """
        if self.recording:
            return {}
        if self.provider is not None:
            return dict(REPLAY_CREDENTIALS.get(self.provider, {}))
        return {k: v for creds in REPLAY_CREDENTIALS.values() for k, v in creds.items()}

    @property
    def environ(self) -> dict[str, str]:
        """The environment for a client: the real one, with placeholder credentials when replaying."""
        return {**self.base_environ, **self.placeholders}

    @property
    def play_count(self) -> int:
        """How many recorded responses were played so far."""
        return int(self.cassette.play_count)

    @property
    def all_played(self) -> bool:
        """True when every recorded interaction was played (a replay that skipped none)."""
        return bool(self.cassette.all_played)

    def client(self, provider: str | None = None, **kwargs: Any) -> VisualSearch:
        """A ``VisualSearch`` for ``provider`` (default: ``VISUALSEARCH_URL``) using :attr:`environ`."""
        from visualsearch_sdk import VisualSearch

        if provider is None:
            return VisualSearch.from_env(self.environ, **kwargs)
        return VisualSearch(provider, environ=self.environ, **kwargs)

    def async_client(self, provider: str | None = None, **kwargs: Any) -> AsyncVisualSearch:
        """An ``AsyncVisualSearch`` for ``provider`` (default: ``VISUALSEARCH_URL``) using :attr:`environ`."""
        from visualsearch_sdk import AsyncVisualSearch

        if provider is None:
            return AsyncVisualSearch.from_env(self.environ, **kwargs)
        return AsyncVisualSearch(provider, environ=self.environ, **kwargs)


def cassette_path(name: str | os.PathLike[str], directory: str | os.PathLike[str] | None = None) -> Path:
    """``directory/name.yaml`` (``.yaml`` added when missing; an absolute ``name`` ignores ``directory``)."""
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = path.with_name(path.name + ".yaml")
    if path.is_absolute():
        return path
    return Path(directory if directory is not None else DEFAULT_DIRECTORY) / path


def safe_name(text: str) -> str:
    """A file-name-safe version of a test id (``test_x[sync-ximilar]`` -> ``test_x-sync-ximilar``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "cassette"


@contextmanager
def cassette(
    name: str | os.PathLike[str],
    *,
    provider: str | None = None,
    directory: str | os.PathLike[str] | None = None,
    record_mode: RecordMode | None = None,
    secrets: Iterable[str] = (),
    origin: str | None = None,
    match_images: ImageMatch = "exact",
    scrub: bool = True,
    header: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Iterator[Tape]:
    """Open a cassette: inside the block, httpx traffic is replayed from it (or recorded into it).

    Args:
        name: the file, relative to ``directory`` (default ``./cassettes``); ``.yaml`` is added.
        provider: see :func:`vcr_config`; also picks the placeholder credentials of :attr:`Tape.environ`.
        header: the comment the file opens with; default: the existing file's, else a note of when and how
            it was recorded.
        record_mode: see :func:`vcr_config`.
        secrets: see :func:`vcr_config`.
        origin: see :func:`vcr_config`.
        match_images: see :func:`vcr_config`.
        scrub: see :func:`vcr_config`.
        environ: see :func:`vcr_config`.

    Raises:
        ConfigurationError: vcrpy is not installed, or ``VISUALSEARCH_RECORD`` names no record mode.
    """
    environ = os.environ if environ is None else environ
    mode = record_mode or _resolve_mode(environ)
    path = cassette_path(name, directory)
    existed = path.is_file() and path.stat().st_size > 0
    config, scrubber = _config(provider, mode, secrets, origin, match_images, scrub, environ)
    kept = header or (read_header(path) if existed else None)

    def comment() -> str:  # written when the cassette is saved: by then we know where requests went
        return kept or default_header(provider, mode, scrubber.origins())

    recorder = register(_vcr().VCR(**config), header=comment)
    with recorder.use_cassette(str(path), record_on_exception=False) as tape:
        yield Tape(path, provider, mode, existed, dict(environ), tape)
