"""The autograd bridge: gradcheck of the Function, and w -> phi_d against finite differences;
gradchecks of the edge cases: 2.5D wavenumber tiles (two rounds), air cells, and Dask.

``misfit_of(m, executor)`` is what a step does: the executor's (phi, g) at m, attached to m
by ``PhysicsMisfit``; a gradcheck perturbs m and calls it again, so the physics runs anew at
every perturbed model."""

import numpy as np
import pytest
import torch
from problems import random_model, small_3d_problem, tiny_2d_problem

import hpcinv
from hpcinv.config import NetworkConfig, PhysicsConfig
from hpcinv.inversion import build_generator, physics_misfit
from hpcinv.mesh.from_survey import mesh_from_survey
from hpcinv.problem import problem_from_survey, simulate
from hpcinv.survey import Survey, line_survey


def misfit_of(m: torch.Tensor, executor) -> torch.Tensor:
    """phi_d of ``m`` through the bridge, from the executor's (phi, g) at m."""
    m64 = m.detach().to(device="cpu", dtype=torch.float64).numpy()
    return physics_misfit(m, *executor.misfit_and_gradient([m64])[0])


def test_gradcheck_float64(tiny_problem):
    ex = hpcinv.SerialExecutor(tiny_problem)
    rng = np.random.default_rng(0)
    m = torch.tensor(
        np.log(0.01) + 0.3 * rng.standard_normal(tiny_problem.model_grid.n_cells),
        dtype=torch.float64,
        requires_grad=True,
    )
    # central differences on phi ~ 3e3: with eps 1e-6 round-off in the solves used 44% of the
    # tolerance here and exceeded it with another LAPACK (scipy-openblas, on a GPU machine);
    # eps 1e-4 uses 0.3% (truncation error ~ eps^2 is still far below the tolerance)
    assert torch.autograd.gradcheck(
        lambda x: misfit_of(x, ex), (m,), eps=1e-4, atol=1e-6, rtol=1e-4, fast_mode=False
    )


def test_backward_returns_network_dtype_and_scales_with_grad_output(tiny_problem):
    ex = hpcinv.SerialExecutor(tiny_problem)
    m = torch.full(
        (tiny_problem.model_grid.n_cells,), np.log(0.02), dtype=torch.float32, requires_grad=True
    )
    phi = misfit_of(m, ex)
    assert phi.dtype == torch.float32 and phi.ndim == 0
    (3.0 * phi).backward()
    _, g = ex.misfit_and_gradient([m.detach().double().numpy()])[0]
    assert m.grad.dtype == torch.float32
    assert np.allclose(m.grad.numpy(), 3.0 * g, rtol=1e-5, atol=1e-7 * np.abs(g).max())


def test_weights_to_misfit_against_finite_differences(tiny_problem):
    # end to end, w -> m = G_w(z) -> phi_d, in float64 with dropout off
    ex = hpcinv.SerialExecutor(tiny_problem)
    net = (
        build_generator(NetworkConfig(channels=(8, 4), dropout=0.0), tiny_problem.model_grid)
        .double()
        .eval()
    )
    params = list(net.parameters())
    phi = misfit_of(net(), ex)
    grads = torch.autograd.grad(phi, params)
    gen = torch.Generator().manual_seed(5)
    direction = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, direction))

    def phi_at(h):
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(h * d)
            value = float(misfit_of(net(), ex))
            for p, d in zip(params, direction):
                p.sub_(h * d)
        return value

    h = 1e-5
    numeric = (phi_at(h) - phi_at(-h)) / (2 * h)
    # central difference: O(h^2) truncation; agreement to 1e-5 relative shows the chain
    # network -> bridge -> adjoint gradient is exact
    assert abs(numeric - analytic) <= 1e-5 * abs(analytic), (numeric, analytic)


# --- gradcheck of the bridge on the edge cases of the executors --------------------------------
#
# A gradcheck perturbs every input entry twice, so each check below perturbs only a few chosen
# cells: ``_restricted`` turns phi_d(m) into a function of k cell values scattered into a fixed,
# seeded full model (the other entries stay put). The cells: the ones nearest to electrodes
# spread along the survey (the largest gradients), seeded random ones (small gradients, so
# atol matters), and in the air test the air cells nearest to the electrodes (whose fixed value
# matters most to the data).
#
# Tolerances (gradcheck passes when |analytic - numerical| <= atol + rtol |numerical|, per
# entry), measured on these problems (phi ~ 1e2..3e3; |g| 0.1..640 on the chosen cells, 0 on
# air): central differences err by O(eps^2) truncation plus O(phi delta / eps) round-off,
# delta ~ 2e-15 the relative round-off of one phi. eps = 1e-4 in ln(S/m), as in the test above:
# the checks below then use at most 1.3% of the tolerance (3D; 0.25% k-split, 0.4% air), where
# eps = 1e-6 used up to 49% (round-off) and could fail on a LAPACK rounding 2x worse, the
# reason the test above left 1e-6. rtol = 1e-5 is 1000x the truncation (~1e-8 of |g|);
# atol = 1e-6 covers the round-off (~1e-7) of the smallest entries. Both stay far below the
# errors that matter: a gradient 1% off exceeds the tolerance 74x..980x, and the gradient an
# executor would return at air cells if it did not mask it (up to 2e-4 above the electrodes)
# 210x.
EPS, ATOL, RTOL = 1e-4, 1e-6, 1e-5
AIR = np.log(1e-8)


def _tiny_sloping_line(n_tiles=1, active=True):
    """The same 7-electrode line on ground rising 20% (18 x 8 cells of 20 m, 144 cells; 10 of
    them air, stepped down above the left four electrodes). ``active`` False: the same mesh,
    survey and data with every cell active (the physics without the air mask)."""
    survey = line_survey("dipole-dipole", -60.0, 60.0, 20.0, 3)
    electrodes = survey.electrodes.copy()
    electrodes[:, -1] = 0.2 * electrodes[:, -2]
    made = mesh_from_survey(electrodes, survey.abmn, cell_size=20.0, padding_distance=150.0)
    geometry = Survey(made.electrodes, survey.abmn)
    m_true = np.where(made.active, np.log(0.01), AIR)
    clean = simulate(made.mesh, geometry, m_true)
    dobs = clean * (1 + 0.05 * np.random.default_rng(11).standard_normal(clean.size))
    return problem_from_survey(
        "tiny-slope",
        made.mesh,
        geometry.with_data(dobs, 0.05 * np.abs(dobs)),
        PhysicsConfig(n_tiles=n_tiles),
        active=made.active if active else None,
        inactive_value=AIR,
        true_model=m_true,
    )


def _cells(problem, seed, n_near=4, n_random=4, among=None):
    """Unique cells of ``among`` (bool, default all): the nearest to each of ``n_near``
    electrodes spread along the survey, then ``n_random`` seeded others."""
    centers = problem.mesh.cell_centers
    candidates = np.flatnonzero(np.ones(len(centers), bool) if among is None else among)
    electrodes = problem.survey.electrodes
    near = [
        candidates[np.argmin(np.linalg.norm(centers[candidates] - e, axis=1))]
        for e in electrodes[np.linspace(0, len(electrodes) - 1, n_near).round().astype(int)]
    ]
    near = list(dict.fromkeys(near))
    others = np.setdiff1d(candidates, near)
    chosen = np.random.default_rng(seed).choice(others, n_random, replace=False)
    return np.array(near + list(chosen))


def _restricted(executor, m0, cells, grad_hook=None):
    """(f, x0): f(x) = phi_d of m0 with ``cells`` set to x, through the bridge; x0 = m0 there.
    ``grad_hook`` alters dphi/dm on its way back (a deliberately wrong gradient)."""
    base = torch.tensor(m0, dtype=torch.float64)
    index = torch.as_tensor(cells, dtype=torch.long)

    def f(x):
        m = base.index_put((index,), x)
        if grad_hook is not None:
            m.register_hook(grad_hook)
        return misfit_of(m, executor)

    return f, base[index].clone().requires_grad_(True)


def _gradcheck(executor, m0, cells, grad_hook=None):
    # gradcheck backpropagates through its first call, made before any perturbation; were
    # that the executor's first model, state kept from an earlier model (factors, fields,
    # residual weights, on a worker or here) could never show. So it sees another one first.
    rng = np.random.default_rng(99)
    executor.misfit_and_gradient([m0 + 0.2 * rng.standard_normal(m0.size)])[0]
    f, x0 = _restricted(executor, m0, cells, grad_hook)
    # a right gradient raises with both Jacobians shown; a wrong one returns False
    return torch.autograd.gradcheck(
        f, (x0,), eps=EPS, atol=ATOL, rtol=RTOL, fast_mode=False, raise_exception=grad_hook is None
    )


@pytest.fixture(scope="module")
def k_split_problem():
    problem = tiny_2d_problem(n_tiles=3, split="wavenumbers")
    # the two-round path: no tile can form residuals from its own (partial) data
    assert len(problem.tiles) == 3 and all(t.partial_data for t in problem.tiles)
    return problem


@pytest.fixture(scope="module")
def sloping_problem():
    return _tiny_sloping_line()


@pytest.fixture(scope="module")
def sloping_k_split_problem():
    return _tiny_sloping_line(n_tiles=2)


@pytest.mark.parametrize("n_tiles", [2, 3])
def test_gradcheck_wavenumber_split_tiles(n_tiles, k_split_problem):
    problem = k_split_problem if n_tiles == 3 else tiny_2d_problem(n_tiles, split="wavenumbers")
    assert len(problem.tiles) == n_tiles and all(t.partial_data for t in problem.tiles)
    ex = hpcinv.SerialExecutor(problem)
    m0 = random_model(problem, 31, scale=0.3)
    assert _gradcheck(ex, m0, _cells(problem, 32))


def test_gradcheck_fails_for_a_gradient_one_percent_off(k_split_problem):
    # the tolerances above must not hide a wrong gradient: 1% off is far outside them
    ex = hpcinv.SerialExecutor(k_split_problem)
    m0 = random_model(k_split_problem, 31, scale=0.3)
    cells = _cells(k_split_problem, 32)
    assert _gradcheck(ex, m0, cells)
    assert not _gradcheck(ex, m0, cells, grad_hook=lambda g: 1.01 * g)


@pytest.mark.parametrize("n_tiles", [1, 2])  # 2: wavenumber tiles (the two-round path) + air
def test_gradcheck_with_air_cells(n_tiles, sloping_problem, sloping_k_split_problem):
    problem = sloping_problem if n_tiles == 1 else sloping_k_split_problem
    assert problem.active is not None
    assert all(t.partial_data for t in problem.tiles) == (n_tiles > 1)
    air = ~problem.active
    ex = hpcinv.SerialExecutor(problem)
    m0 = random_model(problem, 41, scale=0.3)
    assert np.all(np.abs(m0[air] - AIR) > 5)  # the model says ground; the executor fixes it
    # perturbing air entries must not change phi (numerical derivative 0), and the bridge
    # must say so (analytic derivative 0): the derivative of phi with respect to m as given
    cells = np.concatenate(
        [
            _cells(problem, 42, among=problem.active),
            _cells(problem, 43, n_near=4, n_random=0, among=air),
        ]
    )
    assert air[cells].sum() >= 3 and (~air[cells]).sum() >= 8
    assert _gradcheck(ex, m0, cells)

    # the gradient the bridge hands back is exactly zero on every air cell
    m = torch.tensor(m0, dtype=torch.float64, requires_grad=True)
    misfit_of(m, ex).backward()
    assert np.all(m.grad.numpy()[air] == 0.0)
    assert np.abs(m.grad.numpy()[~air]).min() > 0


def test_gradcheck_catches_a_gradient_unmasked_at_air_cells(sloping_problem):
    # what an executor that forgot ``mask_gradient`` would return at air cells: the derivative
    # of the physics at the fixed air value (the same mesh with every cell active)
    problem = sloping_problem
    air = ~problem.active
    m0 = random_model(problem, 41, scale=0.3)
    no_mask = hpcinv.SerialExecutor(_tiny_sloping_line(active=False))
    phi_fixed, g_fixed = no_mask.misfit_and_gradient([problem.fix_inactive(m0)])[0]
    ex = hpcinv.SerialExecutor(problem)
    phi, g = ex.misfit_and_gradient([m0])[0]
    assert phi == phi_fixed and np.array_equal(g[~air], g_fixed[~air])
    leak = torch.tensor(np.where(air, g_fixed, 0.0))
    cells = np.concatenate(
        [
            _cells(problem, 42, among=problem.active),
            _cells(problem, 43, n_near=4, n_random=0, among=air),
        ]
    )
    assert np.abs(g_fixed[cells][air[cells]]).max() > 100 * ATOL  # the leak is detectable
    assert not _gradcheck(ex, m0, cells, grad_hook=lambda grad: grad + leak)


# --- the Dask executor on a real local cluster (one cluster for the module) ---------------------


@pytest.fixture(scope="module")
def small_3d():
    return small_3d_problem(n_tiles=3)


@pytest.mark.parametrize("case", ["2.5D k-split", "3D, 3 tiles", "2.5D k-split + air"])
@pytest.mark.parametrize("traffic", ["small", "scattered"])
def test_gradcheck_dask_executor(
    case, traffic, two_workers, k_split_problem, small_3d, sloping_k_split_problem
):
    from hpcinv.engine.dask_executor import DaskExecutor

    problem = {
        "2.5D k-split": k_split_problem,
        "3D, 3 tiles": small_3d,
        "2.5D k-split + air": sloping_k_split_problem,
    }[case]
    among = problem.active
    ex = DaskExecutor(
        problem, two_workers, small_traffic_bytes=0 if traffic == "scattered" else 2**30
    )
    try:
        # "scattered": the model (and the 2.5D residual weights) scattered, sums on workers
        assert ex.scatter_models == (traffic == "scattered") and ex.n_workers == 2
        m0 = random_model(problem, 51, scale=0.3)
        cells = _cells(problem, 52, among=among)
        if among is not None:
            cells = np.concatenate([cells, _cells(problem, 53, n_random=0, among=~among)])
        assert _gradcheck(ex, m0, cells)
        if case == "2.5D k-split":
            assert not _gradcheck(ex, m0, cells, grad_hook=lambda g: 1.01 * g)
        # the tiles ran on both workers
        assert {s["worker"] for s in ex.tile_stats.values()} == set(
            two_workers.scheduler_info()["workers"]
        )
    finally:
        ex.close()
