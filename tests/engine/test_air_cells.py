"""Air cells (field data over topography): fixed at the air value, zero gradient, the same
numbers serially and on Dask, and the DIP loop keeps them out of the reference term."""

import numpy as np
import pytest
import torch

import hpcinv
from hpcinv.config import PhysicsConfig, config_from_dict
from hpcinv.engine.cluster import local_cluster
from hpcinv.engine.dask_executor import DaskExecutor
from hpcinv.inversion import Stepper
from hpcinv.mesh.from_survey import mesh_from_survey
from hpcinv.problem import problem_from_survey, simulate
from hpcinv.survey import Survey, line_survey, merge_surveys

AIR = np.log(1e-8)


def sloping_problem(n_tiles=3, dim=3):
    """Lines on ground rising 20% to the north (3D) or along the line (2D), 25 m cells."""
    if dim == 3:
        lines = [
            line_survey("dipole-dipole", -100.0, 100.0, 50.0, 3, y=y) for y in (-50.0, 0.0, 50.0)
        ]
        survey = merge_surveys(lines)
    else:
        survey = line_survey("dipole-dipole", -150.0, 150.0, 25.0, 4)
    electrodes = survey.electrodes.copy()
    electrodes[:, -1] = 0.2 * electrodes[:, -2]
    made = mesh_from_survey(electrodes, survey.abmn, cell_size=25.0, padding_distance=300.0)
    assert (~made.active).sum() > 20  # the test is about air: there must be some
    mesh = made.mesh
    geometry = Survey(made.electrodes, survey.abmn)
    m_true = np.where(made.active, np.log(0.01), AIR)
    m_true[
        made.active & (mesh.cell_centers[:, -1] < -40) & (np.abs(mesh.cell_centers[:, 0]) < 50)
    ] = np.log(0.1)
    clean = simulate(mesh, geometry, m_true)
    rng = np.random.default_rng(11)
    dobs = clean * (1 + 0.05 * rng.standard_normal(clean.size))
    return problem_from_survey(
        "slope",
        mesh,
        geometry.with_data(dobs, 0.05 * np.abs(dobs)),
        PhysicsConfig(n_tiles=n_tiles),
        active=made.active,
        inactive_value=AIR,
        true_model=m_true,
    )


@pytest.fixture(scope="module")
def problem():
    return sloping_problem()


def _random(problem, seed):
    rng = np.random.default_rng(seed)
    return np.log(0.01) + 0.3 * rng.standard_normal(problem.model_grid.n_cells)


def test_air_cells_are_fixed_and_get_zero_gradient(problem):
    ex = hpcinv.SerialExecutor(problem)
    air = ~problem.active
    m = _random(problem, 1)
    phi, g = ex.misfit_and_gradient([m])[0]
    assert np.all(g[air] == 0.0) and np.abs(g[problem.active]).max() > 0
    # whatever the model says in the air, the data are those of the air value
    m2 = m.copy()
    m2[air] = np.log(0.5)
    assert np.array_equal(ex.predict([m2])[0], ex.predict([np.where(air, AIR, m)])[0])
    phi2, g2 = ex.misfit_and_gradient([m2])[0]
    assert phi2 == phi and np.array_equal(g2, g)


def test_gradient_with_air_matches_finite_differences(problem):
    ex = hpcinv.SerialExecutor(problem)
    m = _random(problem, 2)
    dm = np.random.default_rng(3).standard_normal(m.size)  # air cells included: no effect
    _, g = ex.misfit_and_gradient([m])[0]
    h = 1e-3
    fd = (
        ex.misfit_and_gradient([m + h * dm])[0][0] - ex.misfit_and_gradient([m - h * dm])[0][0]
    ) / (2 * h)
    # central differences: O(h^2) ~ 1e-6 relative; a gradient that counted air cells would
    # be off by their share of g . dm (order one)
    assert fd == pytest.approx(g @ dm, rel=1e-5)


@pytest.mark.parametrize("traffic", ["small", "scattered"])
def test_dask_equals_serial_with_air(problem, traffic):
    handle = local_cluster(2, threads_per_worker=1, dashboard=False)
    try:
        m = _random(problem, 4)
        dask_ex = DaskExecutor(
            problem, handle.client, small_traffic_bytes=0 if traffic == "scattered" else 2**30
        )
        pa, ga = hpcinv.SerialExecutor(problem).misfit_and_gradient([m])[0]
        pb, gb = dask_ex.misfit_and_gradient([m])[0]
    finally:
        handle.close()
    assert abs(pa - pb) <= 1e-12 * abs(pa)
    assert np.max(np.abs(ga - gb)) <= 1e-12 * np.max(np.abs(ga))
    assert np.all(gb[~problem.active] == 0.0)


def test_dip_loop_keeps_air_fixed_and_out_of_the_reference_term():
    problem = sloping_problem(n_tiles=1, dim=2)
    config = config_from_dict(
        {
            "problem": {"case": "tiny-2d"},  # only the inversion settings are used here
            "network": {"channels": [8, 4], "dropout": 0.0},  # deterministic output
            "inversion": {"learning_rate": 1e-2, "beta_schedule": "constant", "beta": 0.5},
        }
    )
    run = Stepper.build(config, problem, hpcinv.SerialExecutor(problem))
    inv = run.members[0]
    air = ~problem.active
    for _ in range(3):
        with torch.no_grad():
            raw = inv.net().double().numpy()
        rec = run.step().records[0]
        # the reference term sums the active cells only (air would add ~|ln 1e-8 - ln 0.01|
        # = 13.8 per cell)
        ref = np.abs(raw[~air] - config.inversion.reference_model).sum()
        assert rec.loss == pytest.approx(0.5 * rec.phi_d + 0.5 * ref, rel=1e-6)
    m = inv.model()
    assert np.all(m[air] == AIR)
    with torch.no_grad():
        assert np.array_equal(m[~air], inv.net().double().numpy()[~air])


def test_conventional_baseline_keeps_air_fixed():
    from hpcinv.inversion.conventional import run_conventional

    problem = sloping_problem(n_tiles=1, dim=2)
    config = config_from_dict(
        {"problem": {"case": "tiny-2d"}, "conventional": {"max_iterations": 2}}
    )
    out = run_conventional(problem, config, hpcinv.SerialExecutor(problem))
    air = ~problem.active
    assert out["model"].shape == (problem.model_grid.n_cells,)
    assert np.all(out["model"][air] == AIR)
    start = hpcinv.SerialExecutor(problem).misfit_and_gradient(
        [np.full(problem.model_grid.n_cells, config.inversion.reference_model)]
    )[0][0]
    r = (out["dpred"] - problem.dobs) / problem.uncertainty
    assert 0.5 * float(r @ r) < start
