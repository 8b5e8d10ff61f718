"""Configuration: client options, provider URLs, environment variables and TOML profiles.

Precedence, highest first: an explicit argument, the provider URL, ``VISUALSEARCH_<PROVIDER>_<FIELD>`` and
``VISUALSEARCH_<FIELD>`` environment variables, a ``visualsearch.toml`` profile, then the defaults named here.
Every function takes an ``environ`` mapping, so nothing reads ``os.environ`` behind a caller's back and tests
never touch the process environment. Credentials are ``SecretStr``: never in a repr, a log or an exception.
"""

from __future__ import annotations

import contextvars
import ipaddress
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from visualsearch_sdk._exceptions import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "DEFAULT_TIMEOUT",
    "ClientOptions",
    "EnvModel",
    "ProviderURL",
    "check_base_url",
    "load_profile",
    "parse_provider_url",
    "resolve_environment",
]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0, pool=10.0)
"""Bounded by default: 5 s to connect, 10 s to get a pooled connection, 30 s to read or write."""
DEFAULT_MAX_RETRIES = 2
CONFIG_FILE = "visualsearch.toml"

_ENVIRON: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar("environ", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._mapping = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._mapping.items()}


class EnvModel(BaseSettings):
    """Settings read from ``VISUALSEARCH_*`` variables of an explicit ``environ`` mapping."""

    model_config = SettingsConfigDict(env_prefix="VISUALSEARCH_", extra="ignore", frozen=True)

    @classmethod
    def from_environ(cls: type[_E], environ: Mapping[str, str] | None = None, **explicit: Any) -> _E:
        """Build from explicit values (winning) and ``environ`` (default: ``os.environ``)."""
        token = _ENVIRON.set(os.environ if environ is None else environ)
        try:
            return cls(**{key: value for key, value in explicit.items() if value is not None})
        except ValidationError as exc:
            raise ConfigurationError(_explain(cls, exc)) from None
        finally:
            _ENVIRON.reset(token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        return (init_settings, _MappingEnvSource(settings_cls, os.environ if environ is None else environ))


_E = TypeVar("_E", bound=EnvModel)


def _explain(cls: type[BaseModel], exc: ValidationError) -> str:
    # Never echo input values: they may be secrets.
    prefix = cls.model_config.get("env_prefix", "")

    def name(loc: tuple[int | str, ...]) -> str:
        field = ".".join(map(str, loc)) or "value"
        return f"{field} ({prefix}{str(loc[0]).upper()})" if prefix and loc else field

    problems = "; ".join(f"{name(e['loc'])}: {e['msg']}" for e in exc.errors())
    what = "settings" if cls.__name__.startswith("_") else cls.__name__
    where = "the argument or the environment variable" if prefix else "the argument"
    return f"invalid {what}: {problems}; fix {where} named"


class _GlobalSettings(EnvModel):
    url: str | None = None
    profile: str | None = None
    config: Path | None = None
    timeout: float | None = None
    max_retries: int | None = None
    allow_http: bool | None = None


class ClientOptions(BaseModel):
    """Options every client has, whatever the provider."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    timeout: httpx.Timeout = Field(default=DEFAULT_TIMEOUT)
    max_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=0, le=20)
    allow_http: bool = False
    """Allow plain ``http://`` to a non-loopback host (credentials would travel in the clear)."""
    user_agent: str = ""

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: httpx.Timeout) -> httpx.Timeout:
        for name in ("connect", "read", "write", "pool"):
            seconds = getattr(value, name)
            if seconds is not None and not (isinstance(seconds, (int, float)) and 0 < seconds < math.inf):
                raise ValueError(f"the {name} timeout must be a positive number of seconds (or None)")
        return value

    def merged(self, **changes: Any) -> ClientOptions:
        """A copy with the given (non-None) fields replaced."""
        given = {key: value for key, value in changes.items() if value is not None}
        if "timeout" in given and not isinstance(given["timeout"], httpx.Timeout):
            given["timeout"] = httpx.Timeout(given["timeout"])
        if not given:
            return self
        try:
            return type(self).model_validate({**dict(self), **given})
        except ValidationError as exc:
            raise ConfigurationError(_explain(type(self), exc)) from None


@dataclass(frozen=True)
class ProviderURL:
    """A provider URL taken apart: ``scheme://USER:SECRET@HOST/PATH?key=value``. Secrets stay secret."""

    provider: str
    host: str = ""
    port: int | None = None
    path: str = ""
    username: SecretStr | None = None
    password: SecretStr | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        auth = "***@" if self.username or self.password else ""
        return f"ProviderURL('{self.provider}://{auth}{self.host}{self.path}')"

    def param(self, name: str) -> str | None:
        return self.params.get(name)

    def flag(self, name: str) -> bool | None:
        value = self.params.get(name)
        if value is None:
            return None
        lowered = value.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigurationError(f"URL parameter {name}={value!r} must be true or false")


def parse_provider_url(url: str) -> ProviderURL:
    """Parse ``provider://[user[:secret]@]host[:port]/path?params``; credentials are percent-decoded.

    A bare provider name (``"local"``) stands for its URL with nothing else (``"local://"``).
    """
    if ":" not in url:
        url = f"{url}://"
    if "://" not in url:
        scheme, rest = url.split(":", 1)  # "local:relative/path?multi_view=true"
        path, _, query = rest.partition("?")
        return ProviderURL(
            provider=scheme.lower(), path=unquote(path), params=dict(parse_qsl(query, keep_blank_values=True))
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError("the provider URL is malformed (check the host and port)") from exc
    if not parts.scheme:
        raise ConfigurationError(
            "a provider URL starts with a provider name, e.g. 'local://' or 'ximilar://'"
        )
    return ProviderURL(
        provider=parts.scheme.lower(),
        host=parts.hostname or "",
        port=port,
        path=unquote(parts.path),
        username=SecretStr(unquote(parts.username)) if parts.username else None,
        password=SecretStr(unquote(parts.password)) if parts.password else None,
        params=dict(parse_qsl(parts.query, keep_blank_values=True)),
    )


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, allow_http: bool) -> httpx.URL:
    """Validate a base URL: HTTPS, or plain HTTP to loopback, or anywhere with ``allow_http``."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError(f"base_url {url!r} is not a valid URL") from exc
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise ConfigurationError(f"base_url must be an http(s) URL with a host, not {url!r}")
    if parsed.scheme == "http" and not allow_http and not is_loopback(parsed.host):
        raise ConfigurationError(
            f"refusing plain http:// to {parsed.host}: credentials would travel in the clear. "
            "Use https://, or opt in with allow_http=True (URL parameter allow_http=true)."
        )
    return parsed


def find_config_file(environ: Mapping[str, str], explicit: Path | None = None) -> Path | None:
    """``VISUALSEARCH_CONFIG``, else ``./visualsearch.toml``, else ``~/.config/visualsearch/`` has it."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigurationError(f"config file {explicit} does not exist")
        return explicit
    for candidate in (
        Path.cwd() / CONFIG_FILE,
        Path(environ.get("HOME", "~")).expanduser() / ".config" / "visualsearch" / CONFIG_FILE,
    ):
        if candidate.is_file():
            return candidate
    return None


def load_profile(name: str, path: Path | None) -> dict[str, Any]:
    """The ``[profiles.NAME]`` table of a ``visualsearch.toml``."""
    if path is None:
        raise ConfigurationError(
            f"profile {name!r} requested but no {CONFIG_FILE} was found "
            "(set VISUALSEARCH_CONFIG or create ./visualsearch.toml)"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    profiles = data.get("profiles", {})
    if name not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigurationError(f"no profile {name!r} in {path} (profiles: {known})")
    profile = profiles[name]
    if not isinstance(profile, dict):
        raise ConfigurationError(f"[profiles.{name}] in {path} must be a table")
    return dict(profile)


@dataclass(frozen=True)
class ResolvedEnvironment:
    """What ``from_env`` found: the provider URL and client option overrides."""

    url: str
    options: Mapping[str, Any]
    source: str

    _KEYS: ClassVar[tuple[str, ...]] = ("timeout", "max_retries", "allow_http")


def resolve_environment(
    environ: Mapping[str, str] | None = None, *, profile: str | None = None
) -> ResolvedEnvironment:
    """Find the provider URL: ``VISUALSEARCH_URL``, else a profile, else an in-memory local backend."""
    environ = os.environ if environ is None else environ
    settings = _GlobalSettings.from_environ(environ)
    options: dict[str, Any] = {}
    chosen = profile or settings.profile
    url, source = None, "default"
    if chosen:
        table = load_profile(chosen, find_config_file(environ, settings.config))
        unknown = set(table) - {"url", *ResolvedEnvironment._KEYS}
        if unknown:
            raise ConfigurationError(f"profile {chosen!r} has unknown keys: {', '.join(sorted(unknown))}")
        options.update({key: table[key] for key in ResolvedEnvironment._KEYS if key in table})
        url, source = table.get("url"), f"profile {chosen}"
    if settings.url and not profile:
        url, source = settings.url, "VISUALSEARCH_URL"
    options.update(
        {
            key: getattr(settings, key)
            for key in ResolvedEnvironment._KEYS
            if getattr(settings, key) is not None
        }
    )
    url = url or "memory://"
    if "allow_http" in options and parse_provider_url(url).flag("allow_http") is not None:
        del options["allow_http"]  # the URL's own ?allow_http= wins over the environment and the profile
    return ResolvedEnvironment(url=url, options=options, source=source)
