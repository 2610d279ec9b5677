"""Meshes and the model grid.

The model grid is where the inversion's model lives (one ln-conductivity value per cell);
simulation meshes are where the PDE is solved. For the paper cases both are the same
TensorMesh. ``MeshSpec`` is the plain, picklable description of a TensorMesh that tiles carry
to workers (a discretize mesh rebuilds from it in microseconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from discretize import TensorMesh

from hpcinv.errors import DataError


@dataclass(frozen=True, eq=False)
class MeshSpec:
    """A TensorMesh as plain arrays: cell widths per axis (metres) and the origin."""

    h: tuple[np.ndarray, ...]
    origin: np.ndarray

    @classmethod
    def from_mesh(cls, mesh: TensorMesh) -> "MeshSpec":
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


def padded_tensor_mesh(core_cell: tuple[float, ...], core_min: tuple[float, ...],
                       core_max: tuple[float, ...], n_pad: int, pad_factor: float) -> TensorMesh:
    """A TensorMesh with a uniform core and geometric padding, its top at ``core_max[-1]``.

    Horizontal axes are padded on both sides, the vertical axis (last) only below: the top of
    the core is the (flat) ground surface.
    """
    hs = []
    origin = []
    dim = len(core_cell)
    for axis in range(dim):
        n_core = int(round((core_max[axis] - core_min[axis]) / core_cell[axis]))
        pad = core_cell[axis] * pad_factor ** np.arange(1, n_pad + 1)
        core = np.full(n_core, core_cell[axis])
        if axis < dim - 1:
            hs.append(np.r_[pad[::-1], core, pad])
            origin.append(core_min[axis] - pad.sum())
        else:
            hs.append(np.r_[pad[::-1], core])
            origin.append(core_max[axis] - n_core * core_cell[axis] - pad.sum())
    return TensorMesh(hs, origin=np.array(origin))


def check_electrodes_in_mesh(mesh: TensorMesh, electrodes: np.ndarray, what: str = "survey"):
    """Raise ``DataError`` for an electrode outside the mesh or above its (flat) surface.

    Electrodes must lie inside the padded mesh, at or below the top; the tolerance of a
    millionth of the smallest cell absorbs round-off of coordinates read from files.
    """
    electrodes = np.asarray(electrodes, float)
    if electrodes.shape[1] != mesh.dim:
        raise DataError(f"{what}: electrodes are {electrodes.shape[1]}D but the mesh is "
                        f"{mesh.dim}D")
    nodes_min = mesh.nodes.min(axis=0)
    nodes_max = mesh.nodes.max(axis=0)
    tol = 1e-6 * min(h.min() for h in mesh.h)
    top = nodes_max[-1]
    above = electrodes[:, -1] > top + tol
    if above.any():
        i = int(np.flatnonzero(above)[0])
        raise DataError(f"{what}: electrode {i} at {electrodes[i].tolist()} is above the "
                        f"surface (z = {top:g} m); put electrodes at or below the ground")
    outside = np.any((electrodes < nodes_min - tol) | (electrodes > nodes_max + tol), axis=1)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DataError(f"{what}: electrode {i} at {electrodes[i].tolist()} is outside the mesh "
                        f"(extent {nodes_min.tolist()} .. {nodes_max.tolist()}); enlarge the mesh")


def local_tensor_mesh(mesh: TensorMesh, points: np.ndarray, margin: float,
                      pad_factor: float = 1.4) -> TensorMesh:
    """A TensorMesh for one tile: the global core's cells around ``points`` (electrodes),
    growing by ``pad_factor`` outside, over exactly the global mesh's extent.

    Horizontally the fine part spans the points' bounding box plus ``margin`` (clipped to
    the global core) on the global core's cell boundaries, so the model grid's cells there
    average onto the local cells exactly. Vertically the local mesh keeps the global one:
    depth resolution is what every source needs. Fewer, larger cells outside the tile cut
    the factorization cost superlinearly; tests check the data against the global mesh.
    """
    hs, origin = [], []
    for axis in range(mesh.dim):
        h = np.asarray(mesh.h[axis], float)
        nodes = np.r_[0.0, np.cumsum(h)] + mesh.origin[axis]
        if axis == mesh.dim - 1:
            hs.append(h)
            origin.append(mesh.origin[axis])
            continue
        fine = np.flatnonzero(np.isclose(h, h.min(), rtol=1e-6))
        core_lo, core_hi = nodes[fine[0]], nodes[fine[-1] + 1]
        lo = max(core_lo, points[:, axis].min() - margin)
        hi = min(core_hi, points[:, axis].max() + margin)
        i0 = int(np.searchsorted(nodes, lo, side="right") - 1)  # node at or below lo
        i1 = int(np.searchsorted(nodes, hi, side="left"))       # node at or above hi
        i0, i1 = max(i0, fine[0]), min(i1, fine[-1] + 1)
        core = h[i0:i1]
        left = _padding(core[0], nodes[i0] - nodes[0], pad_factor)
        right = _padding(core[-1], nodes[-1] - nodes[i1], pad_factor)
        hs.append(np.r_[left[::-1], core, right])
        origin.append(nodes[0])
    return TensorMesh(hs, origin=np.array(origin))


def _padding(h0: float, length: float, factor: float) -> np.ndarray:
    """Cells growing from ``h0`` by ``factor`` that fill ``length`` exactly (the last cell
    takes the remainder, merged into its neighbour when small)."""
    if length <= 1e-9:
        return np.zeros(0)
    cells, total, h = [], 0.0, h0
    while total + h * factor < length - 1e-9:
        h *= factor
        cells.append(h)
        total += h
    rest = length - total
    if cells and rest < 0.5 * cells[-1]:
        cells[-1] += rest
    else:
        cells.append(rest)
    return np.array(cells)
