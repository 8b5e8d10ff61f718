"""Offline testing kit shipped with the SDK: fake vendor servers (``visualsearch_sdk.testing.fakes``).

Each fake speaks one vendor's wire protocol over the local engine, verifies auth the way the vendor does
and can be told to fail, so applications built on the SDK can test without network or credentials.
"""

from __future__ import annotations

__all__: list[str] = []
