"""Data on the octrees hpcinv builds: against geoana's half-space solution (flat ground) and
against a fine tensor mesh under topography."""

import numpy as np
from discretize import TensorMesh
from geoana.em.static import PointCurrentHalfSpace

from hpcinv.mesh import MeshSpec
from hpcinv.mesh.from_survey import surface_function
from hpcinv.mesh.octree import octree_from_survey, tree_active
from hpcinv.mesh.tensor import padding_cells
from hpcinv.physics import TilePhysics
from hpcinv.survey import REMOTE, Survey, line_configurations
from hpcinv.tiles import make_tiles

SIGMA = 0.01
AIR = np.log(1e-8)


def _data(survey, mesh, active):
    spec = make_tiles(survey, MeshSpec.from_mesh(mesh), 1, "mumps")[0]
    m = np.where(active, np.log(SIGMA), AIR)
    d = np.empty(survey.n_data)
    d[spec.data_rows] = TilePhysics(spec).predict(m)
    return d


def _halfspace(electrodes, abmn):
    """geoana's potential differences and each datum's shortest source-receiver distance."""

    def potential(src, point):
        model = PointCurrentHalfSpace(rho=1.0 / SIGMA, current=1.0, location=src)
        return model.potential(point[None, :])[0]

    out, dist = np.empty(len(abmn)), np.empty(len(abmn))
    for i, (a, b, m, n) in enumerate(abmn):
        sources = [(electrodes[a], 1.0)] + ([(electrodes[b], -1.0)] if b != REMOTE else [])
        receivers = [(electrodes[m], 1.0)] + ([(electrodes[n], -1.0)] if n != REMOTE else [])
        out[i] = sum(s * r * potential(p, q) for p, s in sources for q, r in receivers)
        dist[i] = min(np.linalg.norm(p - q) for p, _ in sources for q, _ in receivers)
    return out, dist


def test_flat_octree_matches_geoana_halfspace():
    # 5 lines x 12 electrodes, 2 m along lines, 4 m between: finest cells of 1 m
    electrodes = np.array([[2.0 * i, 4.0 * j, 0.0] for j in range(5) for i in range(12)])
    rows = [(a, REMOTE, m, REMOTE) for a in (0, 17, 30, 59) for m in range(60) if m != a]
    for a in (5, 25):  # two dipoles, every neighbouring receiver dipole of the same line
        rows += [
            (a, a + 1, m, m + 1) for m in range(59) if (m + 1) % 12 and not {m, m + 1} & {a, a + 1}
        ]
    abmn = np.array(rows)
    made = octree_from_survey(electrodes, abmn)
    assert made.flat and made.max_move == 0
    h = min(np.min(w) for w in made.mesh.h)
    assert h == 1.0
    d = _data(Survey(electrodes, abmn), made.mesh, made.active)
    expected, dist = _halfspace(electrodes, abmn)
    err = np.abs(d - expected) / np.abs(expected)
    far = dist > 2 * h
    pole = abmn[:, 1] == REMOTE
    assert np.median(err[far & pole]) <= 0.02, np.median(err[far & pole])
    assert np.median(err[far & ~pole]) <= 0.02, np.median(err[far & ~pole])


def _aligned_tensor(tree, lo, hi, factor=1.3):
    """A TensorMesh of 1 m cells over [lo, hi] on the tree's base grid (so both meshes have
    the same discrete surface there), padded out to the tree's domain."""
    origin = np.asarray(tree.origin, float)
    extent = np.array([w.sum() for w in tree.h])
    hs = []
    for axis in range(3):
        i0 = int(np.floor(lo[axis] - origin[axis]))
        i1 = int(np.ceil(hi[axis] - origin[axis]))
        core = np.ones(i1 - i0)
        below = padding_cells(1.0, factor, fill=float(i0))
        above = padding_cells(1.0, factor, fill=float(extent[axis] - i1))
        hs.append(np.r_[below[::-1], core, above])
    return TensorMesh(hs, origin=origin)


def test_octree_under_topography_matches_fine_tensor_mesh():
    def surface(xy):
        return 2.5 * np.sin(xy[:, 0] / 5.0) + 0.3 * xy[:, 1]

    electrodes = np.array([[2.0 * i, 3.0 * j, 0.0] for j in range(4) for i in range(10)])
    electrodes[:, 2] = surface(electrodes[:, :2])
    lines = [line_configurations("dipole-dipole", 10, 5) + 10 * j for j in range(4)]
    poles = np.array([[0, REMOTE, k, REMOTE] for k in range(1, 40)])
    abmn = np.vstack(lines + [poles])
    gx, gy = np.meshgrid(np.arange(-60.0, 80.0), np.arange(-60.0, 70.0), indexing="ij")
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    topography = np.column_stack([xy, surface(xy)])
    made = octree_from_survey(electrodes, abmn, cell_size=1.0, topography=topography)
    assert not made.flat and (~made.active).any()
    survey = Survey(made.electrodes, abmn)
    d_tree = _data(survey, made.mesh, made.active)

    tree = made.mesh
    top = tree.nodes[:, 2].max()
    lo = np.r_[electrodes[:, :2].min(axis=0) - 8.0, electrodes[:, 2].min() - 15.0]
    hi = np.r_[electrodes[:, :2].max(axis=0) + 8.0, top]
    tensor = _aligned_tensor(tree, lo, hi)
    active = tensor.cell_centers[:, 2] < surface_function(topography)(tensor.cell_centers[:, :2])
    # the same activity rule as the tree's, so the electrodes sit on the same ground
    assert np.array_equal(tree_active(tensor, topography), active)
    d_tensor = _data(survey, tensor, active)
    err = np.abs(d_tree - d_tensor) / np.abs(d_tensor)
    assert np.median(err) <= 0.01, np.median(err)
    assert np.percentile(err, 95) <= 0.03, np.percentile(err, 95)
