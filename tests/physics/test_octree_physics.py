"""Tile physics on octree (TreeMesh) meshes: SimPEG's operators, its data and Jtvec, the
adjoint of the model-grid map with air cells, and the Taylor test."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from discretize import TensorMesh, TreeMesh

from hpcinv.mesh import MeshSpec
from hpcinv.mesh.projection import grid_to_mesh
from hpcinv.physics import TilePhysics
from hpcinv.physics.operators import build_operators
from hpcinv.survey import REMOTE, Survey
from hpcinv.tiles import make_tiles, with_mesh

AIR = float(np.log(1e-8))


def _tree(surface_z=None):
    """A 32^3 m TreeMesh (1 m finest cells) refined around a 5 x 3 electrode patch."""
    mesh = TreeMesh([[(1.0, 32)]] * 3, origin=[-16.0, -16.0, -32.0], diagonal_balance=True)
    electrodes = np.array([[x, y, 0.0] for x in (-6, -3, 0, 3, 6) for y in (-3, 0, 3)], float)
    mesh.refine_points(electrodes, level=-1, padding_cells_by_level=[2, 2, 2, 2, 2])
    mesh.finalize()
    return mesh, electrodes


def _survey(electrodes):
    abmn = np.array(
        [
            [0, 1, 2, 3],
            [0, 1, 3, 4],
            [5, 6, 7, 8],
            [1, 2, 9, 10],
            [3, 4, 12, 14],
            [0, REMOTE, 4, 5],  # pole-dipole
            [2, REMOTE, 13, REMOTE],  # pole-pole
        ]
    )
    return Survey(electrodes, abmn, name="octree test")


def _simpeg(mesh, survey):
    from pymatsolver import Mumps
    from simpeg import maps
    from simpeg.electromagnetics.static import resistivity as dc

    e = survey.electrodes
    sources = []
    for a, b, m, n in survey.abmn:
        rx = dc.receivers.Pole(e[[m]]) if n == REMOTE else dc.receivers.Dipole(e[[m]], e[[n]])
        if b == REMOTE:
            sources.append(dc.sources.Pole([rx], e[a]))
        else:
            sources.append(dc.sources.Dipole([rx], e[a], e[b]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dc.Simulation3DNodal(
            mesh, survey=dc.Survey(sources), sigmaMap=maps.ExpMap(), bc_type="Robin", solver=Mumps
        )


def test_octree_operators_data_and_jtvec_equal_simpeg():
    mesh, electrodes = _tree()
    survey = _survey(electrodes)
    spec = make_tiles(survey, MeshSpec.from_mesh(mesh), 1, "mumps")[0]
    rng = np.random.default_rng(0)
    m = np.log(0.01) + 0.5 * rng.standard_normal(mesh.n_cells)
    sim = _simpeg(mesh, survey)
    sim.model = m
    A_ref = sim.getA()
    (A,) = build_operators(spec).system_matrices(np.exp(m))
    assert abs(A - A_ref).max() <= 1e-12 * abs(A_ref).max()
    physics = TilePhysics(spec)
    order = np.argsort(spec.data_rows)  # the tile's rows back into survey order
    d = physics.predict(m)[order]
    d_ref = sim.dpred(m)
    np.testing.assert_allclose(d, d_ref, rtol=1e-8, atol=1e-10 * np.abs(d_ref).max())
    v = rng.standard_normal(survey.n_data)
    g = physics.jtvec(m, v[spec.data_rows])
    g_ref = sim.Jtvec(m, v, f=sim.fields(m))
    assert np.abs(g - g_ref).max() <= 1e-8 * np.abs(g_ref).max()


def _grid_tile(source_basis=False):
    """A tile on the octree with a coarser model grid (2 m cells) and an air layer: the map
    from the grid restricted to ground cells."""
    mesh, electrodes = _tree()
    electrodes = electrodes - [0.0, 0.0, 2.0]  # ground 2 m below the top: air above
    survey = _survey(electrodes)
    grid = TensorMesh([[(2.0, 16)]] * 3, origin=[-16.0, -16.0, -32.0])
    mesh_active = mesh.cell_centers[:, 2] < -2.0
    grid_active = grid.cell_centers[:, 2] < -2.0
    P = grid_to_mesh(grid, mesh, grid_active=grid_active, mesh_active=mesh_active)
    spec = make_tiles(survey, MeshSpec.from_mesh(grid), 1, "mumps")[0]
    spec = with_mesh(spec, MeshSpec.from_mesh(mesh), P, mesh_active, AIR)
    physics = TilePhysics(spec, basis="source" if source_basis else "auto")
    return physics, grid, grid_active


@pytest.mark.parametrize("source_basis", [False, True])
def test_octree_adjoint_with_model_grid_and_air(source_basis):
    physics, grid, grid_active = _grid_tile(source_basis)
    rng = np.random.default_rng(1)
    m = np.where(grid_active, np.log(0.01) + 0.3 * rng.standard_normal(grid.n_cells), AIR)
    dm = rng.standard_normal(grid.n_cells)
    v = rng.standard_normal(physics.spec.n_data)
    lhs = v @ physics.jvec(m, dm)
    rhs = dm @ physics.jtvec(m, v)
    assert abs(lhs - rhs) <= 1e-10 * max(abs(lhs), abs(rhs))
    # air is fixed: a change of an air cell of the grid changes no datum, gets no gradient
    g = physics.jtvec(m, v)
    assert np.all(g[~grid_active] == 0.0)
    assert np.any(g[grid_active] != 0.0)


def test_octree_taylor():
    physics, grid, grid_active = _grid_tile()
    rng = np.random.default_rng(2)
    m = np.where(grid_active, np.log(0.01) + 0.3 * rng.standard_normal(grid.n_cells), AIR)
    d0 = physics.predict(m)
    dobs = d0 * (1 + 0.05 * rng.standard_normal(d0.size))
    w = 1.0 / (0.05 * np.abs(dobs))

    def phi(model):
        r = w * (physics.predict(model) - dobs)
        return 0.5 * r @ r

    grad = physics.jtvec(m, w * (w * (d0 - dobs)))
    dm = np.where(grid_active, rng.standard_normal(grid.n_cells), 0.0)
    f0 = phi(m)
    errors = []
    for h in (1e-1, 1e-2, 1e-3):
        errors.append(abs(phi(m + h * dm) - f0 - h * grad @ dm))
    # second order: each tenfold smaller step cuts the first-order remainder ~100-fold
    assert errors[1] < errors[0] / 50 and errors[2] < errors[1] / 50


def test_grid_map_rows_average_ground_only():
    _, grid, grid_active = _grid_tile()
    mesh, _ = _tree()
    mesh_active = mesh.cell_centers[:, 2] < -2.0
    P = grid_to_mesh(grid, mesh, grid_active=grid_active, mesh_active=mesh_active)
    sums = np.asarray(P.sum(axis=1)).ravel()
    np.testing.assert_allclose(sums[mesh_active], 1.0, rtol=1e-12)
    assert np.all(sums[~mesh_active] == 0)
    # no ground cell of the mesh takes anything from an air cell of the grid
    assert abs(P[mesh_active][:, ~grid_active]).sum() == 0
    # without air the map is discretize's volume averaging: constants and volumes kept
    P_all = grid_to_mesh(grid, mesh)
    np.testing.assert_allclose(P_all @ np.ones(grid.n_cells), 1.0, rtol=1e-12)
    x = np.random.default_rng(3).standard_normal(grid.n_cells)
    assert np.isclose(mesh.cell_volumes @ (P_all @ x), grid.cell_volumes @ x, rtol=1e-10)
    assert sp.issparse(P_all)


def test_streamed_fields_equal_kept_fields(monkeypatch):
    """A tile over its fields budget streams them in chunks: the same data, gradient and
    J dm to round-off, with at most one chunk of fields held."""
    import dataclasses

    import hpcinv.physics.tile as tile_module

    kept, grid, grid_active = _grid_tile()
    monkeypatch.setattr(tile_module, "CHUNK_BYTES", 8 * kept.ops.n_nodes * 4)  # 4 columns
    streamed = TilePhysics(dataclasses.replace(kept.spec, max_fields_bytes=1.0))
    assert streamed.streamed and not kept.streamed
    rng = np.random.default_rng(4)
    m = np.where(grid_active, np.log(0.01) + 0.3 * rng.standard_normal(grid.n_cells), AIR)
    v = rng.standard_normal(kept.spec.n_data)
    dm = rng.standard_normal(grid.n_cells)
    d = kept.predict(m)
    np.testing.assert_allclose(streamed.predict(m), d, rtol=1e-9, atol=1e-12 * np.abs(d).max())
    g = kept.jtvec(m, v)
    np.testing.assert_allclose(streamed.jtvec(m, v), g, rtol=0, atol=1e-9 * np.abs(g).max())
    jv = kept.jvec(m, dm)
    np.testing.assert_allclose(streamed.jvec(m, dm), jv, rtol=0, atol=1e-9 * np.abs(jv).max())
    assert streamed.state(m).fields == []  # nothing kept between forward and adjoint
