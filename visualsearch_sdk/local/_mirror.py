"""The mirror basis of the local engine: feature vectors rotated into mirror-symmetric and antisymmetric
coordinates, so flip-aware search reads the matrix once (the derivation is in ``local/engine.py``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from visualsearch_sdk.local import features

__all__: list[str] = []

Vector = npt.NDArray[np.float32]


class _MirrorBasis:
    """The orthonormal basis of the mirror's eigenvectors (see ``local/engine.py``'s docstring)."""

    _instance: _MirrorBasis | None = None

    def __init__(self) -> None:
        perm, sign = features.mirror_map()
        dim = features.DIM
        sym: list[npt.NDArray[np.float32]] = []
        anti: list[npt.NDArray[np.float32]] = []
        half = np.float32(np.sqrt(0.5))
        for i in range(dim):
            j, s = int(perm[i]), float(sign[i])
            unit = np.zeros(dim, dtype=np.float32)
            if j == i:
                unit[i] = 1.0
                (sym if s > 0 else anti).append(unit)
            elif j > i:
                other = unit.copy()
                unit[i], unit[j] = half, half * s
                other[i], other[j] = half, -half * s
                sym.append(unit)
                anti.append(other)
        self.to_sym = np.stack(sym).T.copy()  # (DIM, ds)
        self.to_anti = np.stack(anti).T.copy()  # (DIM, da)
        self.ds, self.da = self.to_sym.shape[1], self.to_anti.shape[1]
        # The colour part is mirror-invariant and kept in order at the start of the symmetric block.
        colour = features.COLOR_SLICE
        if not np.array_equal(self.to_sym[colour, : colour.stop], np.eye(colour.stop, dtype=np.float32)):
            raise AssertionError("the colour part must map to the leading symmetric coordinates")
        self.color = slice(0, colour.stop)

    @classmethod
    def get(cls) -> _MirrorBasis:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def split(self, vectors: Vector) -> tuple[Vector, Vector]:
        """Rows ``(k, DIM)`` -> their symmetric ``(k, ds)`` and antisymmetric ``(k, da)`` coordinates."""
        return vectors @ self.to_sym, vectors @ self.to_anti
