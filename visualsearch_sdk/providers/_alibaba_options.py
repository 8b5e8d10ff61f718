"""Alibaba options: the typed ``AlibabaOptions``, the ``VISUALSEARCH_ALIBABA_*`` environment, and the URL
parameters of ``alibaba://AK_ID:AK_SECRET@REGION/INSTANCE?qps=5&signature=v2&attributes=price:IntAttr``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from visualsearch_sdk._config import EnvModel
from visualsearch_sdk._exceptions import ConfigurationError
from visualsearch_sdk.providers._alibaba_auth import ACS3, AlibabaCredentials, SignatureScheme
from visualsearch_sdk.providers._alibaba_filters import SLOTS, Slot

__all__ = [
    "AlibabaEnv",
    "AlibabaOptions",
    "attributes_param",
    "check_attributes",
    "check_scales",
    "int_param",
    "number_param",
    "scales_param",
    "scheme_param",
]


class AlibabaOptions(BaseModel):
    """Alibaba-only options (``options=AlibabaOptions(...)``); None means "URL, env, or the default"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    credentials: AlibabaCredentials | None = None
    region: str | None = None
    """Region id, e.g. ``cn-shanghai`` (the endpoint is ``imagesearch.<region>.aliyuncs.com``)."""
    instance: str | None = None
    """The instance *name* (not its id), at most 20 characters."""
    base_url: str | None = None
    """Instead of the regional endpoint (plain http only to loopback or with ``allow_http``)."""
    signature: SignatureScheme | None = None
    """``ACS3-HMAC-SHA256`` (default) or ``HMAC-SHA1`` (RPC signature V2)."""
    qps: float | None = Field(default=None, gt=0)
    """The instance's purchased QPS (1, 5 or 10): the client's default ``max_qps``."""
    attributes: dict[str, Slot] | None = None
    """Our metadata field -> Alibaba slot, e.g. ``{"price": "IntAttr", "brand": "StrAttr"}``."""
    int_scales: dict[str, int] | None = None
    """Multiply a field's numbers by this before its integer slot, e.g. ``{"price": 100}`` (cents)."""
    custom_content: bool | None = None
    """Keep the whole metadata as JSON in ``CustomContent`` (default True)."""
    pic_name: str | None = None
    """``PicName`` template; ``{id}`` is replaced by the record id (default ``"{id}"``)."""
    category_id: int | None = None
    """``CategoryId`` sent with AddImage and searches (default: the instance predicts it)."""
    crop: bool | None = None
    """``Crop``: detect the main subject (server default true); a search ``box`` overrides it."""
    filter_parentheses: bool | None = None
    """Group mixed AND/OR filters with parentheses (default True; VENDORS documents no grouping [?])."""

    @field_validator("int_scales")
    @classmethod
    def _positive_scales(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        if value is not None:
            check_scales(value)
        return value

    @field_validator("attributes")
    @classmethod
    def _one_field_per_slot(cls, value: dict[str, Slot] | None) -> dict[str, Slot] | None:
        if value is not None:
            check_attributes(value)
        return value


class AlibabaEnv(EnvModel):
    model_config = SettingsConfigDict(env_prefix="VISUALSEARCH_ALIBABA_", extra="ignore", frozen=True)

    access_key_id: str | None = None
    access_key_secret: SecretStr | None = None
    security_token: SecretStr | None = None
    region: str | None = None
    instance: str | None = None
    base_url: str | None = None
    qps: float | None = None


def check_attributes(attributes: dict[str, Slot]) -> dict[str, Slot]:
    seen: dict[str, str] = {}
    for field, slot in attributes.items():
        if slot not in SLOTS:
            raise ConfigurationError(f"attribute {field!r}: {slot!r} is not one of {', '.join(SLOTS)}")
        if slot in seen:
            raise ConfigurationError(f"fields {seen[slot]!r} and {field!r} both map to {slot}")
        seen[slot] = field
    return attributes


def check_scales(scales: dict[str, int]) -> dict[str, int]:
    for field, scale in scales.items():
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ConfigurationError(f"int_scales[{field!r}] must be a positive integer, not {scale!r}")
    return scales


def scales_param(value: str | None) -> dict[str, int]:
    """``price:100,weight:1000`` (the URL form of ``int_scales``)."""
    out: dict[str, int] = {}
    for item in filter(None, (value or "").split(",")):
        field, _, scale = item.partition(":")
        if not field or not scale.isdigit() or int(scale) < 1:
            raise ConfigurationError(f"URL parameter int_scales: {item!r} is not FIELD:POSITIVE_INTEGER")
        out[field] = int(scale)
    return out


def attributes_param(value: str | None) -> dict[str, Slot]:
    """``price:IntAttr,brand:StrAttr`` (the URL form of ``attributes``)."""
    out: dict[str, Slot] = {}
    for item in filter(None, (value or "").split(",")):
        field, _, slot = item.partition(":")
        if not field or slot not in SLOTS:
            raise ConfigurationError(
                f"URL parameter attributes: {item!r} is not FIELD:SLOT with a slot among {', '.join(SLOTS)}"
            )
        out[field] = slot
    return out


def scheme_param(value: str | None) -> SignatureScheme:
    if value is None or value.lower() in {"acs3", "v3", ACS3.lower()}:
        return "ACS3-HMAC-SHA256"
    if value.lower() in {"v2", "rpc", "hmac-sha1"}:
        return "HMAC-SHA1"
    raise ConfigurationError(f"URL parameter signature={value!r}: use acs3 (default) or v2")


def number_param(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ConfigurationError(f"URL parameter {name}={value!r} must be a number") from None
    if not number > 0:
        raise ConfigurationError(f"URL parameter {name} must be positive")
    return number


def int_param(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"URL parameter category_id={value!r} must be an integer") from None
