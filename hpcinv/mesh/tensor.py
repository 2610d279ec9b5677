"""Tensor meshes: padding, core cells, padded meshes and the local meshes of tiles.

The model grid is where the inversion's model lives (one ln-conductivity value per cell);
simulation meshes are where the PDE is solved. For the paper cases both are the same
TensorMesh (``hpcinv.mesh.spec`` describes both).
"""

from __future__ import annotations

import numpy as np
from discretize import TensorMesh

from hpcinv.errors import DataError


def padding_cells(
    h0: float,
    factor: float,
    *,
    count: int | None = None,
    reach: float | None = None,
    fill: float | None = None,
) -> np.ndarray:
    """Padding cell widths growing from a core cell of width ``h0``: h0 f, h0 f^2, ...

    Exactly one of: ``count`` cells; as many as ``reach`` a distance (their sum is the first
    to be >= reach); or cells that ``fill`` a length exactly (the last one takes the
    remainder, merged into its neighbour when under half of it). Metres.
    """
    if sum(x is not None for x in (count, reach, fill)) != 1:
        raise ValueError("give exactly one of count, reach, fill")
    if count is not None:
        return h0 * factor ** np.arange(1, count + 1)
    if reach is not None:
        n = 0
        while (h0 * factor ** np.arange(1, n + 1)).sum() < reach:
            n += 1
        return h0 * factor ** np.arange(1, n + 1)
    assert fill is not None  # exactly one was given
    if fill <= 1e-9:
        return np.zeros(0)
    n = 0  # grow while the next cell still leaves room
    while (h0 * factor ** np.arange(1, n + 2)).sum() < fill - 1e-9:
        n += 1
    cells = list(h0 * factor ** np.arange(1, n + 1))
    rest = fill - sum(cells)
    if cells and rest < 0.5 * cells[-1]:
        cells[-1] += rest
    else:
        cells.append(rest)
    return np.array(cells)


def core_slices(mesh: TensorMesh) -> tuple[slice, ...]:
    """Per axis, the contiguous run of cells of the finest width: the mesh's core (a
    millionth of relative tolerance absorbs widths computed in floating point)."""
    out = []
    for h in mesh.h:
        fine = np.flatnonzero(np.isclose(h, np.min(h), rtol=1e-6))
        out.append(slice(int(fine[0]), int(fine[-1]) + 1))
    return tuple(out)


def core_mask(mesh: TensorMesh) -> np.ndarray:
    """(n_cells,) bool: the cells inside ``core_slices`` on every axis, discretize's order."""
    inside = []
    for s, h in zip(core_slices(mesh), mesh.h):
        axis = np.zeros(len(h), bool)
        axis[s] = True
        inside.append(axis)
    grids = np.meshgrid(*inside, indexing="ij")
    return np.logical_and.reduce([g.ravel(order="F") for g in grids])


def padded_tensor_mesh(
    core_cell: tuple[float, ...],
    core_min: tuple[float, ...],
    core_max: tuple[float, ...],
    n_pad: int,
    pad_factor: float,
) -> TensorMesh:
    """A TensorMesh with a uniform core and geometric padding, its top at ``core_max[-1]``.

    Horizontal axes are padded on both sides, the vertical axis (last) only below: the top of
    the core is the (flat) ground surface.
    """
    hs = []
    origin = []
    dim = len(core_cell)
    for axis in range(dim):
        n_core = int(round((core_max[axis] - core_min[axis]) / core_cell[axis]))
        pad = padding_cells(core_cell[axis], pad_factor, count=n_pad)
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
        raise DataError(
            f"{what}: electrodes are {electrodes.shape[1]}D but the mesh is {mesh.dim}D"
        )
    nodes_min = mesh.nodes.min(axis=0)
    nodes_max = mesh.nodes.max(axis=0)
    tol = 1e-6 * min(h.min() for h in mesh.h)
    top = nodes_max[-1]
    above = electrodes[:, -1] > top + tol
    if above.any():
        i = int(np.flatnonzero(above)[0])
        raise DataError(
            f"{what}: electrode {i} at {electrodes[i].tolist()} is above the "
            f"surface (z = {top:g} m); put electrodes at or below the ground"
        )
    outside = np.any((electrodes < nodes_min - tol) | (electrodes > nodes_max + tol), axis=1)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"{what}: electrode {i} at {electrodes[i].tolist()} is outside the mesh "
            f"(extent {nodes_min.tolist()} .. {nodes_max.tolist()}); enlarge the mesh"
        )


def local_tensor_mesh(
    mesh: TensorMesh, points: np.ndarray, margin: float, pad_factor: float = 1.4
) -> TensorMesh:
    """A TensorMesh for one tile: the global core's cells around ``points`` (electrodes),
    growing by ``pad_factor`` outside, over exactly the global mesh's extent.

    Horizontally the fine part spans the points' bounding box plus ``margin`` (clipped to
    the global core) on the global core's cell boundaries, so the model grid's cells there
    average onto the local cells exactly. Vertically the local mesh keeps the global one:
    depth resolution is what every source needs. Fewer, larger cells outside the tile cut
    the factorization cost superlinearly; tests check the data against the global mesh.
    """
    hs, origin = [], []
    core = core_slices(mesh)
    for axis in range(mesh.dim):
        h = np.asarray(mesh.h[axis], float)
        nodes = np.r_[0.0, np.cumsum(h)] + mesh.origin[axis]
        if axis == mesh.dim - 1:
            hs.append(h)
            origin.append(mesh.origin[axis])
            continue
        fine = core[axis]
        lo = max(nodes[fine.start], points[:, axis].min() - margin)
        hi = min(nodes[fine.stop], points[:, axis].max() + margin)
        i0 = int(np.searchsorted(nodes, lo, side="right") - 1)  # node at or below lo
        i1 = int(np.searchsorted(nodes, hi, side="left"))  # node at or above hi
        i0, i1 = max(i0, fine.start), min(i1, fine.stop)
        fine_cells = h[i0:i1]
        left = padding_cells(fine_cells[0], pad_factor, fill=nodes[i0] - nodes[0])
        right = padding_cells(fine_cells[-1], pad_factor, fill=nodes[-1] - nodes[i1])
        hs.append(np.r_[left[::-1], fine_cells, right])
        origin.append(nodes[0])
    return TensorMesh(hs, origin=np.array(origin))
