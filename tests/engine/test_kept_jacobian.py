"""J kept by the tiles (``TileExecutor.keep_jacobian``): its products equal the dense J's,
on Dask as serially, for tiles that own their rows (3D) and wavenumber tiles that hold a
share of every datum (2.5D); a tile that lost its rows makes them again."""

import numpy as np
import pytest
from problems import random_model, small_3d_problem, tiny_2d_problem

import hpcinv
from hpcinv.engine.dask_executor import DaskExecutor


@pytest.mark.parametrize(
    "make", [lambda: small_3d_problem(n_tiles=2), lambda: tiny_2d_problem(n_tiles=2)]
)
def test_kept_products_equal_the_dense_jacobian_dask_as_serial(make, two_workers):
    problem = make()
    m = random_model(problem, 0)
    rng = np.random.default_rng(1)
    v = rng.standard_normal(problem.model_grid.n_cells)
    u = rng.standard_normal(problem.n_data)
    w = 1.0 / problem.uncertainty
    serial = hpcinv.SerialExecutor(problem)
    d, J = serial.jacobian([m], dtype="float64")[0]
    exact_diag = serial.sensitivity([m])[0]["diag"]
    answers = []
    for executor in (serial, DaskExecutor(problem, two_workers)):
        kept = executor.keep_jacobian(m, dtype="float64")
        answers.append((kept.d, kept.jvec(v), kept.jtvec(u), kept.sensitivity(w)["diag"]))
        np.testing.assert_allclose(kept.d, d, rtol=1e-12)
        np.testing.assert_allclose(answers[-1][1], J @ v, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(answers[-1][2], J.T @ u, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(answers[-1][3], exact_diag, rtol=1e-10)
    # bitwise: the products run on the tile's BLAS threads wherever it is (the driver's
    # default threads once summed in another order, and IRLS amplified it to 6e-4 in chi)
    for on_dask, alone in zip(answers[1], answers[0]):
        assert np.array_equal(on_dask, alone)
    # the 2.5D case is the one whose tiles hold a share of every datum
    assert all(t.partial_data for t in problem.tiles) == (problem.dim == 2)


def test_a_tile_that_lost_its_rows_makes_them_again():
    problem = small_3d_problem(n_tiles=2)
    serial = hpcinv.SerialExecutor(problem)
    m = random_model(problem, 2)
    kept = serial.keep_jacobian(m, dtype="float64")
    v = np.random.default_rng(3).standard_normal(problem.model_grid.n_cells)
    before = kept.jvec(v)
    factorizations = serial.counters()["factorizations"]
    serial.backend.cache.clear()  # a replacement worker holds nothing
    np.testing.assert_allclose(kept.jvec(v), before, rtol=1e-12)
    assert serial.counters()["factorizations"] == factorizations + len(problem.tiles)
    other = serial.keep_jacobian(random_model(problem, 4), dtype="float64")
    assert not np.allclose(other.jvec(v), before)  # another model, other rows
