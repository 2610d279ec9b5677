"""Plain descriptions of meshes: ``MeshSpec`` (what tiles carry to workers) and
``ModelGrid`` (where the inversion's model lives)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from discretize import TensorMesh


@dataclass(frozen=True, eq=False)
class MeshSpec:
    """A TensorMesh as plain arrays: cell widths per axis (metres) and the origin."""

    h: tuple[np.ndarray, ...]
    origin: np.ndarray

    @classmethod
    def from_mesh(cls, mesh: TensorMesh) -> MeshSpec:
        if not isinstance(mesh, TensorMesh):
            raise TypeError(f"only TensorMesh is supported as a simulation mesh, got {type(mesh)}")
        return cls(tuple(np.array(h, dtype=float) for h in mesh.h), np.array(mesh.origin, float))

    def to_mesh(self) -> TensorMesh:
        return TensorMesh([np.asarray(h) for h in self.h], origin=np.asarray(self.origin))

    @property
    def dim(self) -> int:
        return len(self.h)

    def digest_parts(self) -> list[np.ndarray]:
        return [*self.h, self.origin]


@dataclass(frozen=True, eq=False)
class ModelGrid:
    """Where the model lives: one value per cell of ``mesh`` in discretize's cell order.

    m: (n_cells,) float64, ln(S/m).
    """

    mesh: TensorMesh

    @property
    def n_cells(self) -> int:
        return self.mesh.n_cells

    @property
    def shape(self) -> tuple[int, ...]:
        """Cells per axis (x, [y,] z); a model reshapes with ``order="F"``."""
        return tuple(int(n) for n in self.mesh.shape_cells)

    @property
    def cell_centers(self) -> np.ndarray:
        return self.mesh.cell_centers

    @property
    def dim(self) -> int:
        return self.mesh.dim
