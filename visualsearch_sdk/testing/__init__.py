"""Offline testing kit shipped with the SDK, so apps built on it can test without network or credentials.

Three ways, from the lightest (see ``docs/testing.md``):

* the local backend: ``VisualSearch("memory://")`` (the ``vs_local`` fixture);
* a fake vendor: ``visualsearch_sdk.testing.fakes`` speaks each vendor's wire protocol over the local engine,
  verifies auth the way the vendor does and can be told to fail (the ``vs_fake`` fixture);
* a cassette: real traffic recorded once with vcrpy, scrubbed of every credential, replayed in CI
  (:func:`cassette`, :func:`vcr_config`, the ``vs_cassette`` fixture; needs the ``testing`` extra), and a
  guard (:func:`find_leaks`, :func:`assert_no_leaks`) that fails when a cassette holds a credential.

The pytest fixtures come from the ``visualsearch`` plugin (``visualsearch_sdk.testing.pytest_plugin``),
registered when the SDK is installed.
"""

from __future__ import annotations

from visualsearch_sdk.testing._guard import Leak, assert_no_leaks, find_leaks
from visualsearch_sdk.testing._rules import PROVIDER_RULES, ProviderRules, image_digest
from visualsearch_sdk.testing.cassettes import (
    RECORD_ENV,
    Tape,
    cassette,
    make_vcr,
    record_mode,
    register,
    vcr_config,
)

__all__ = [
    "PROVIDER_RULES",
    "RECORD_ENV",
    "Leak",
    "ProviderRules",
    "Tape",
    "assert_no_leaks",
    "cassette",
    "find_leaks",
    "image_digest",
    "make_vcr",
    "record_mode",
    "register",
    "vcr_config",
]
