"""Plain descriptions of meshes: ``MeshSpec`` (what tiles carry to workers) and
``ModelGrid`` (where the inversion's model lives)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from discretize import TensorMesh


@dataclass(frozen=True, eq=False)
class MeshSpec:
    """A simulation mesh as plain arrays: a TensorMesh (cell widths per axis, metres, and the
    origin) or a TreeMesh (its base grid's widths and origin plus its cells: discretize's
    ``cell_state``, indexes (n_cells, dim) and levels (n_cells,) of the finalized tree).

    Workers rebuild the discretize mesh from it: microseconds for a TensorMesh, ~0.1 s for a
    10^5-cell TreeMesh (measured); a tree travels as ~20 bytes a cell.
    """

    h: tuple[np.ndarray, ...]
    origin: np.ndarray
    tree_indexes: np.ndarray | None = None
    tree_levels: np.ndarray | None = None

    @classmethod
    def from_mesh(cls, mesh) -> MeshSpec:
        from discretize import TreeMesh

        h = tuple(np.array(w, dtype=float) for w in mesh.h)
        origin = np.array(mesh.origin, float)
        if isinstance(mesh, TreeMesh):
            if not mesh.finalized:
                raise ValueError("finalize the TreeMesh before describing it")
            state = mesh.cell_state
            return cls(
                h,
                origin,
                np.ascontiguousarray(state["indexes"], dtype=np.int64),
                np.ascontiguousarray(state["levels"], dtype=np.int64),
            )
        if not isinstance(mesh, TensorMesh):
            raise TypeError(f"a simulation mesh is a TensorMesh or a TreeMesh, got {type(mesh)}")
        return cls(h, origin)

    @property
    def kind(self) -> str:
        """ "tensor" or "octree"."""
        return "tensor" if self.tree_indexes is None else "octree"

    def to_mesh(self):
        """The discretize mesh (TensorMesh or finalized TreeMesh)."""
        if self.tree_indexes is None:
            return TensorMesh([np.asarray(h) for h in self.h], origin=np.asarray(self.origin))
        from discretize import TreeMesh

        return TreeMesh(
            [np.asarray(h) for h in self.h],
            origin=np.asarray(self.origin),
            diagonal_balance=True,
            cell_state={"indexes": self.tree_indexes, "levels": self.tree_levels},
        )

    @property
    def dim(self) -> int:
        return len(self.h)

    def digest_parts(self) -> list[np.ndarray]:
        tree: list[np.ndarray] = []
        if self.tree_indexes is not None and self.tree_levels is not None:
            tree = [self.tree_indexes, self.tree_levels]
        return [*self.h, self.origin, *tree]


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
