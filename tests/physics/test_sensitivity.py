"""Sensitivities (J's rows, coverage, diag(J^T W^2 J)) against rows built from J^T e_j."""

import dataclasses

import numpy as np
import pytest
from physics.test_octree_physics import AIR, _grid_tile
from problems import paper_config, random_model, small_3d_problem

import hpcinv
import hpcinv.physics.tile as tile_module
from hpcinv.physics import TilePhysics


def rows_from_jtvec(physics, m):
    """J of a tile, row by row, from the adjoint (tested against SimPEG and Taylor)."""
    eye = np.eye(physics.spec.n_data)
    return np.array([physics.jtvec(m, e) for e in eye])


def rows_from_blocks(physics, m):
    J = np.empty((physics.spec.n_data, np.size(m)))
    for rows, Jt in physics.sensitivity_blocks(m):
        J[rows] = Jt.T
    return J


def assert_rows_equal(physics, m):
    ref = rows_from_jtvec(physics, m)
    J = rows_from_blocks(physics, m)
    assert np.abs(J - ref).max() <= 1e-9 * np.abs(ref).max()


@pytest.mark.parametrize(
    "basis, chunk_bytes",
    [("electrode", 8 * 5000 * 7), ("electrode", 8 * 5000), ("source", 8 * 5000 * 7)],
)
def test_rows_equal_the_adjoints_rows_3d(basis, chunk_bytes, monkeypatch):
    # small chunks: several blocks of data, so the row bookkeeping is exercised; the
    # smallest makes the electrode fields too large for their transposed copy
    monkeypatch.setattr(tile_module, "CHUNK_BYTES", chunk_bytes)
    p = small_3d_problem(n_tiles=2)
    m = random_model(p, 3)
    for spec in p.tiles:
        assert_rows_equal(TilePhysics(spec, basis=basis), m)


def test_rows_equal_on_octree_with_model_grid_air_and_streamed(monkeypatch):
    kept, grid, grid_active = _grid_tile()
    rng = np.random.default_rng(5)
    m = np.where(grid_active, np.log(0.01) + 0.3 * rng.standard_normal(grid.n_cells), AIR)
    assert_rows_equal(kept, m)
    monkeypatch.setattr(tile_module, "CHUNK_BYTES", 8 * kept.ops.n_nodes * 4)
    streamed = TilePhysics(dataclasses.replace(kept.spec, max_fields_bytes=1.0))
    assert streamed.streamed
    assert_rows_equal(streamed, m)
    J = rows_from_blocks(streamed, m)
    assert np.all(J[:, ~grid_active] == 0.0)


def test_rows_2d_source_and_wavenumber_tiles():
    whole = hpcinv.build_problem(paper_config(n_tiles=1))
    m = random_model(whole, 4)
    physics = TilePhysics(whole.tiles[0])
    J = rows_from_blocks(physics, m)
    ref = rows_from_jtvec(physics, m)
    assert np.abs(J - ref).max() <= 1e-9 * np.abs(ref).max()
    # executor: coverage and diag from the rows, and the same from wavenumber shares
    w = 1.0 / whole.uncertainty
    expected = {"coverage": np.abs(w[:, None] * J).sum(0), "diag": ((w[:, None] * J) ** 2).sum(0)}
    for problem in (whole, hpcinv.build_problem(paper_config(n_tiles=3, split="wavenumbers"))):
        got = hpcinv.SerialExecutor(problem).sensitivity([m])[0]
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-9, atol=1e-12 * value.max())


def test_executor_sums_tiles_3d():
    p = small_3d_problem(n_tiles=2)
    m = random_model(p, 6)
    w = 1.0 / p.uncertainty
    J = np.zeros((p.n_data, p.model_grid.n_cells))
    for spec in p.tiles:
        J[spec.data_rows] = rows_from_jtvec(TilePhysics(spec), m)
    got = hpcinv.SerialExecutor(p).sensitivity([m])[0]
    np.testing.assert_allclose(got["coverage"], np.abs(w[:, None] * J).sum(0), rtol=1e-9)
    np.testing.assert_allclose(got["diag"], ((w[:, None] * J) ** 2).sum(0), rtol=1e-9)
    # deep cells see less than shallow ones
    z = p.mesh.cell_centers[:, -1]
    assert got["coverage"][z > z.max() - 30].mean() > 10 * got["coverage"][z < z.min() + 60].mean()
