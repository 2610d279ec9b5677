"""SimPEG's view of the tiles (``TileSimulation``): its data are the executor's, its J the
derivative of its data (finite differences) on the active cells only, its diag(JᵀWᵀWJ)
SimPEG's preconditioner's, and it asks the tiles for each model's J once."""

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from problems import small_3d_problem

import hpcinv
from hpcinv.inversion import tile_simulation
from hpcinv.inversion.tile_simulation import TileSimulation


@pytest.fixture(scope="module")
def problem():
    """tiny-3d on two tiles with its top layer of cells made air (inactive)."""
    base = small_3d_problem(n_tiles=2)
    z = base.model_grid.cell_centers[:, -1]
    return dataclasses.replace(base, active=z < z.max(), inactive_value=np.log(1e-8))


def _model(sim, seed):
    rng = np.random.default_rng(seed)
    return np.log(0.01) + 0.3 * rng.standard_normal(sim.n_active)


def test_data_are_the_executors_with_air_fixed(problem):
    executor = hpcinv.SerialExecutor(problem)
    sim = TileSimulation(executor)
    assert sim.n_active == int(problem.active.sum()) < problem.model_grid.n_cells
    m = _model(sim, 0)
    grid = sim.on_grid(m)
    assert np.all(grid[~problem.active] == problem.inactive_value)
    assert np.array_equal(grid[problem.active], m)
    np.testing.assert_array_equal(sim.dpred(m), executor.predict([grid])[0])


def test_jvec_is_the_derivative_of_the_data_and_jtvec_its_adjoint(problem):
    sim = TileSimulation(hpcinv.SerialExecutor(problem))
    assert sim.j_dtype == np.float64
    m = _model(sim, 1)
    rng = np.random.default_rng(2)
    v = rng.standard_normal(sim.n_active)
    u = rng.standard_normal(problem.n_data)
    h = 1e-3  # the central difference's best step here: 6e-7 of the largest datum
    fd = (sim.dpred(m + h * v) - sim.dpred(m - h * v)) / (2 * h)
    Jv = sim.Jvec(m, v)
    np.testing.assert_allclose(Jv, fd, rtol=1e-3, atol=1e-5 * np.abs(fd).max())
    assert u @ Jv == pytest.approx(sim.Jtvec(m, u) @ v, rel=1e-12)
    # diag(Jᵀ Wᵀ W J) for SimPEG's Jacobi preconditioner
    w = 1.0 / problem.uncertainty
    J = np.column_stack([sim.Jvec(m, e) for e in np.eye(sim.n_active)])
    np.testing.assert_allclose(
        sim.getJtJdiag(m, W=sp.diags(w)), ((w[:, None] * J) ** 2).sum(axis=0), rtol=1e-10
    )


def test_one_jacobian_per_model_and_no_predict_where_j_was_made(problem):
    sim = TileSimulation(hpcinv.SerialExecutor(problem))
    m = _model(sim, 3)
    sim.Jvec(m, np.ones(sim.n_active))
    sim.Jtvec(m.copy(), np.ones(problem.n_data))  # equal values: the same J
    assert sim.calls == {"predict": 0, "jacobian": 1}
    sim.dpred(m)  # the data came with J
    assert sim.calls == {"predict": 0, "jacobian": 1}
    f = sim.fields(m + 1e-12)  # SimPEG's allclose would call this the same model: it is not
    sim.dpred(f=f)
    sim.dpred(f=f)  # fields keep their data
    assert sim.calls == {"predict": 1, "jacobian": 1}


def test_j_over_its_budget_is_kept_in_float32(problem, monkeypatch):
    monkeypatch.setattr(tile_simulation, "J_BUDGET_BYTES", 1024)
    sim = TileSimulation(hpcinv.SerialExecutor(problem))
    assert sim.j_dtype == np.float32
    m = _model(sim, 4)
    v = np.random.default_rng(5).standard_normal(sim.n_active)
    exact = TileSimulation(hpcinv.SerialExecutor(problem)).Jvec(m, v)
    Jv = sim.Jvec(m, v)
    assert Jv.dtype == np.float64
    np.testing.assert_allclose(Jv, exact, rtol=1e-4, atol=1e-5 * np.abs(exact).max())


def test_rows_of_j_larger_than_the_memory_left_stop_with_their_size(problem, monkeypatch):
    from hpcinv.errors import SizeError
    from hpcinv.physics import memory

    sim = TileSimulation(hpcinv.SerialExecutor(problem))
    monkeypatch.setattr(memory, "available_bytes", lambda: 1e5)
    with pytest.raises(SizeError, match=r"tile 0's rows of J needs .* GiB \(\d+ data x 2240"):
        sim.Jvec(_model(sim, 6), np.ones(sim.n_active))
