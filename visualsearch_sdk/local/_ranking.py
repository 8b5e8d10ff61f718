"""Ranking in the local engine: exact flip-aware cosine (or colour) top-k, filtered by a boolean mask.

:class:`_Ranking` is the search half of :class:`visualsearch_sdk.local.engine.Engine`, which holds the
matrix it reads (the derivation of the flip-aware score is in ``local/engine.py``).
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from visualsearch_sdk.filters import MISSING, Column, Filter, evaluate_mask
from visualsearch_sdk.local import features
from visualsearch_sdk.local._mirror import Vector, _MirrorBasis

__all__ = ["Hit"]


@dataclass(frozen=True)
class Hit:
    """One ranked record."""

    id: str
    score: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


class _Ranking(abc.ABC):
    """Search over the matrix :class:`~visualsearch_sdk.local.engine.Engine` keeps current."""

    _lock: threading.RLock
    _basis: _MirrorBasis
    _sym: Vector
    _anti: Vector
    _ids: list[str]
    _row: dict[str, int]
    _meta: list[dict[str, Any]]
    _columns: dict[str, Column]
    _dim: int
    views: int

    @abc.abstractmethod
    def refresh(self) -> None:
        """Bring the matrix up to date with other processes' commits (the engine's, from its change log)."""

    def search(
        self,
        query: Vector | str,
        *,
        limit: int,
        offset: int = 0,
        filter: Filter | None = None,
        min_score: float | None = None,
    ) -> tuple[list[Hit], int]:
        """Rank by flip-aware exact cosine to a feature vector ``(DIM,)`` or to a stored record (by id).

        A stored record used as the query is left out of its own results. Raises ``KeyError`` for an
        unknown id.
        """
        with self._lock:
            self.refresh()
            exclude = None
            if isinstance(query, str):
                row = self._row[query]
                qs, qa, exclude = self._sym[row, 0], self._anti[row, 0], query
            else:
                q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self._dim)  # float32: no upcast
                split = self._basis.split(q)
                qs, qa = split[0][0], split[1][0]
            n = len(self._ids)
            scores = self._sym[:n].reshape(n * self.views, self._basis.ds) @ qs
            scores += np.abs(self._anti[:n].reshape(n * self.views, self._basis.da) @ qa)
            if self.views > 1:
                scores = scores.reshape(n, self.views).max(axis=1)
            return self._top(scores, limit, offset, filter, min_score, exclude)

    def search_color(
        self,
        rgb: tuple[int, int, int],
        *,
        limit: int,
        offset: int = 0,
        filter: Filter | None = None,
        min_score: float | None = None,
    ) -> tuple[list[Hit], int]:
        """Rank by colour-histogram similarity to one colour; records without any of it are left out."""
        with self._lock:
            self.refresh()
            n = len(self._ids)
            scores = features.color_scores(self._sym[:n, 0, self._basis.color], rgb)
            # A record with none of the colour scores 0: it is no match at all, so it is not returned.
            floor = max(min_score or 0.0, 1e-6)
            return self._top(np.asarray(scores, dtype=np.float32), limit, offset, filter, floor, None)

    def _top(
        self,
        scores: npt.NDArray[np.float32],
        limit: int,
        offset: int,
        filter: Filter | None,
        min_score: float | None,
        exclude: str | None,
    ) -> tuple[list[Hit], int]:
        scores = np.clip(scores, 0.0, 1.0)
        keep = np.ones(scores.shape[0], dtype=bool)
        if filter is not None:
            keep &= evaluate_mask(filter, self._column, scores.shape[0])
        if exclude is not None and exclude in self._row:
            keep[self._row[exclude]] = False
        if min_score is not None:
            keep &= scores >= np.float32(min_score)
        total = int(keep.sum())
        want = min(offset + limit, total)
        if want <= 0:
            return [], total
        ranked = np.where(keep, scores, -np.inf)
        top = (
            np.argpartition(-ranked, want - 1)[:want]
            if want < ranked.shape[0]
            else np.arange(ranked.shape[0])
        )
        order = sorted((int(i) for i in top if keep[i]), key=lambda i: (-float(ranked[i]), self._ids[i]))
        return [
            Hit(self._ids[i], float(ranked[i]), self._meta[i]) for i in order[offset : offset + limit]
        ], total

    def _column(self, name: str) -> Column:
        column = self._columns.get(name)
        if column is None:
            column = Column.build([meta.get(name, MISSING) for meta in self._meta])
            self._columns[name] = column
        return column
