"""Meshes made from a survey: a TensorMesh around the electrodes, with topography and air.

``mesh_from_survey`` sizes everything from the electrodes unless told otherwise:

* core cells: half the median distance from an electrode to its nearest neighbour (two cells
  per electrode spacing), the same vertically;
* core: the electrodes' horizontal bounding box plus a margin (two cells), from the highest
  point of the surface down to ``core_depth`` below the lowest electrode (0.4 x the largest
  distance between two electrodes of one datum, about the depth a dipole-dipole or
  pole-dipole array still sees);
* padding: cells growing by ``pad_factor`` until they reach ``padding_distance`` beyond the
  core sideways and below (two survey extents: the potentials of the longest arrays have
  decayed to a few percent there);
* the surface: the topography points given, else the electrode elevations, interpolated
  (linearly along a line, by triangulation over an area, nearest outside); cells whose
  centre lies above it are air (inactive, fixed at the air conductivity);
* electrodes are draped: moved to the top of the highest active cell of their column, so
  every electrode sits on a node at the ground of the discrete model.

The top of the mesh is the highest surface point, on a cell face, so a flat survey has a
mesh without air cells whose top face is the ground. Coordinates are local (the reader's
origin removed); the mesh's vertical axis is the last one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from discretize import TensorMesh

from hpcinv.errors import DataError
from hpcinv.mesh.tensor import padding_cells
from hpcinv.survey import REMOTE

log = logging.getLogger(__name__)

#: relative tolerance for "all electrodes at the same elevation" and "on a straight line"
FLAT_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class SurveyMesh:
    """A mesh made for a survey.

    mesh: the TensorMesh (also the model grid); active: (n_cells,) bool, cells below the
    surface; electrodes: (n_electrodes, dim) draped positions, metres; moved: (n_electrodes,)
    how far each electrode moved, metres; flat: True when the surface is flat (no air).
    """

    mesh: TensorMesh
    active: np.ndarray
    electrodes: np.ndarray
    moved: np.ndarray
    flat: bool

    @property
    def max_move(self) -> float:
        return float(self.moved.max()) if self.moved.size else 0.0


def nearest_spacing(electrodes: np.ndarray) -> float:
    """Median horizontal distance from an electrode to its nearest neighbour, metres."""
    from scipy.spatial import cKDTree

    xy = np.unique(np.asarray(electrodes, float)[:, :-1], axis=0)
    if len(xy) < 2:
        raise DataError(
            "the survey has fewer than two distinct electrode positions; a mesh "
            "cannot be sized from it (set mesh.cell_size)"
        )
    dist, _ = cKDTree(xy).query(xy, k=2)
    return float(np.median(dist[:, 1]))


def largest_separation(electrodes: np.ndarray, abmn: np.ndarray) -> float:
    """Largest distance between two electrodes of one datum (remote poles left out), metres."""
    electrodes = np.asarray(electrodes, float)
    best = 0.0
    for i in range(4):
        for j in range(i + 1, 4):
            a, b = abmn[:, i], abmn[:, j]
            ok = (a != REMOTE) & (b != REMOTE)
            if ok.any():
                d = np.linalg.norm(electrodes[a[ok]] - electrodes[b[ok]], axis=1)
                best = max(best, float(d.max()))
    return best


def surface_function(points: np.ndarray):
    """z(horizontal) from surface points (n, dim): linear along a line (constant beyond its
    ends), triangulated over an area (nearest point outside the hull)."""
    points = np.asarray(points, float)
    horizontal, z = points[:, :-1], points[:, -1]
    if np.ptp(z) <= FLAT_TOL * max(1.0, np.abs(z).max()):
        level = float(z.max())
        return lambda q: np.full(len(q), level)
    if horizontal.shape[1] == 1:
        order = np.argsort(horizontal[:, 0])
        x, zs = horizontal[order, 0], z[order]
        return lambda q: np.interp(np.asarray(q, float)[:, 0], x, zs)
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator
    from scipy.spatial import QhullError

    unique, idx = np.unique(horizontal, axis=0, return_index=True)
    nearest = NearestNDInterpolator(unique, z[idx])
    try:
        linear = LinearNDInterpolator(unique, z[idx])
    except QhullError:  # collinear points (a single line in 3D): nearest only
        return lambda q: nearest(np.asarray(q, float))

    def evaluate(q):
        q = np.asarray(q, float)
        out = linear(q)
        bad = np.isnan(out)
        out[bad] = nearest(q[bad])
        return out

    return evaluate


def mesh_from_survey(
    electrodes: np.ndarray,
    abmn: np.ndarray,
    *,
    cell_size: float = 0.0,
    cell_size_z: float = 0.0,
    core_depth: float = 0.0,
    core_margin: float = 0.0,
    padding_distance: float = 0.0,
    pad_factor: float = 1.5,
    topography: np.ndarray | None = None,
) -> SurveyMesh:
    """A TensorMesh for a survey (electrodes (n, dim) in local metres, abmn its data rows).

    Zeros choose automatically (see the module docstring). ``topography``: (n, dim) surface
    points in the same local coordinates; None takes the electrodes.
    """
    electrodes = np.asarray(electrodes, float)
    dx = cell_size if cell_size > 0 else 0.5 * nearest_spacing(electrodes)
    dz = cell_size_z if cell_size_z > 0 else (cell_size if cell_size > 0 else dx)
    if core_depth <= 0:
        core_depth = 0.4 * largest_separation(electrodes, abmn)
    margin = core_margin if core_margin > 0 else 2.0 * dx
    surface_points = _surface_points(electrodes, topography)
    surface = surface_function(surface_points)
    lo, hi = electrodes[:, :-1].min(axis=0), electrodes[:, :-1].max(axis=0)
    extent = float(np.max(hi - lo)) if np.max(hi - lo) > 0 else 10.0 * dx
    if padding_distance <= 0:
        padding_distance = 2.0 * extent
    top = float(np.max(surface_points[:, -1]))
    bottom = float(electrodes[:, -1].min()) - core_depth
    mesh = _padded_tensor_mesh(lo, hi, top, bottom, dx, dz, margin, padding_distance, pad_factor)

    flat = bool(np.ptp(surface_points[:, -1]) <= FLAT_TOL * max(1.0, abs(top)))
    cc = mesh.cell_centers
    active = np.ones(mesh.n_cells, bool) if flat else cc[:, -1] < surface(cc[:, :-1])
    draped = drape(mesh, active, electrodes)
    moved = np.abs(draped[:, -1] - electrodes[:, -1])
    log.info(
        "mesh from the survey: %s cells (core cells %.3g m x %.3g m, core depth %.0f m, "
        "padding %.0f m), %d air cells, electrodes moved up to %.3g m",
        " x ".join(str(n) for n in mesh.shape_cells),
        dx,
        dz,
        core_depth,
        padding_distance,
        int((~active).sum()),
        float(moved.max()),
    )
    return SurveyMesh(mesh, active, draped, moved, flat)


def _surface_points(electrodes: np.ndarray, topography: np.ndarray | None) -> np.ndarray:
    """The points the surface is interpolated from: ``topography`` when given, else the
    electrodes; (n, dim) like the electrodes, or a DataError."""
    dim = electrodes.shape[1]
    surface_points = electrodes if topography is None else np.asarray(topography, float)
    if surface_points.ndim != 2 or surface_points.shape[1] != dim:
        raise DataError(
            f"topography points must have {dim} columns (x, {'y, ' if dim == 3 else ''}"
            f"z) like the electrodes, got shape {surface_points.shape}"
        )
    return surface_points


def _padded_tensor_mesh(
    lo: np.ndarray,
    hi: np.ndarray,
    top: float,
    bottom: float,
    dx: float,
    dz: float,
    margin: float,
    padding_distance: float,
    pad_factor: float,
) -> TensorMesh:
    """The TensorMesh of uniform core cells over the electrodes' horizontal box [lo, hi]
    widened by ``margin``, from ``top`` down to ``bottom``, padded sideways and below (not
    above: the top face is the highest surface point)."""
    hs, origin = [], []
    for axis in range(len(lo)):
        n_core = int(np.ceil((hi[axis] - lo[axis] + 2 * margin) / dx))
        start = 0.5 * (lo[axis] + hi[axis]) - 0.5 * n_core * dx  # core centred on the survey
        pad = padding_cells(dx, pad_factor, reach=padding_distance)
        hs.append(np.r_[pad[::-1], np.full(n_core, dx), pad])
        origin.append(start - pad.sum())
    n_core_z = max(1, int(np.ceil((top - bottom) / dz)))
    pad_z = padding_cells(dz, pad_factor, reach=padding_distance)
    hs.append(np.r_[pad_z[::-1], np.full(n_core_z, dz)])
    origin.append(top - n_core_z * dz - pad_z.sum())
    return TensorMesh(hs, origin=np.array(origin))


def drape(mesh: TensorMesh, active: np.ndarray, electrodes: np.ndarray) -> np.ndarray:
    """Electrodes moved vertically to the top face of the highest active cell of their
    column (the discrete ground surface); (n, dim)."""
    electrodes = np.asarray(electrodes, float)
    shape = tuple(int(n) for n in mesh.shape_cells)
    act = active.reshape(shape, order="F")
    out = electrodes.copy()
    z_nodes = mesh.nodes_z if mesh.dim == 3 else mesh.nodes_y
    horizontal_nodes = [mesh.nodes_x] + ([mesh.nodes_y] if mesh.dim == 3 else [])
    for e, point in enumerate(electrodes):
        idx = []
        for axis, nodes in enumerate(horizontal_nodes):
            i = int(np.searchsorted(nodes, point[axis], side="right") - 1)
            if i < 0 or i >= len(nodes) - 1:
                raise DataError(
                    f"electrode {e} at {point.tolist()} is outside the mesh "
                    f"horizontally; enlarge mesh.padding_distance"
                )
            idx.append(i)
        column = act[tuple(idx)] if mesh.dim == 3 else act[idx[0]]
        k = np.flatnonzero(column)
        if k.size == 0:
            raise DataError(
                f"electrode {e} at {point.tolist()} has no ground cell below it; "
                f"check the topography"
            )
        out[e, -1] = z_nodes[k.max() + 1]
    return out


def straight_line(points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(origin (dim-1,), unit direction (dim-1,)) of the horizontal line through 3D points
    when they all lie on one straight line (within a millionth of its length), else None."""
    xy = np.asarray(points, float)[:, :-1]
    centred = xy - xy.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    length = s[0] if s.size else 0.0
    if length == 0 or (s.size > 1 and s[1] > FLAT_TOL * length):
        return None
    direction = vt[0] if vt[0][np.argmax(np.abs(vt[0]))] > 0 else -vt[0]
    t = centred @ direction
    return xy.mean(axis=0) + t.min() * direction, direction
