"""Gauss-Newton steps on the network's weights (``optimizer = "gauss-newton"``) and the
"reference-tanh" output: the network's Jacobian products against finite differences and
each other (dot-product test), the Krylov steps against the dense weight-space
solutions, the stop at the target on the checked model, resume, the output's start."""

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev, jvp, vjp

import hpcinv
from hpcinv.config import config_from_dict
from hpcinv.inversion import Member, Stepper
from hpcinv.inversion.gauss_newton import _weights


def gn_config(**inversion):
    return config_from_dict(
        {
            "problem": {"case": "tiny-3d"},
            "network": {"channels": [4, 2], "dropout": 0.0, "output": "reference-tanh"},
            "inversion": {"optimizer": "gauss-newton", **inversion},
        }
    )


@pytest.fixture(scope="module")
def problem():
    return hpcinv.build_problem(gn_config())


def model_of(member):
    net = member.net
    buffers = dict(net.named_buffers())
    return lambda p: member.fixed(functional_call(net, (p, buffers), ()).double())


def test_the_reference_tanh_output_starts_at_m_ref_with_every_weight_learning(problem):
    member = Member(problem, gn_config(reference_model=-4.0))
    m = member.model()
    assert np.abs(m + 4.0).max() < 1e-6  # tiny-3d has no air
    out = member.net().sum()
    out.backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in member.net.parameters())


def test_network_products_against_finite_differences_and_each_other(problem):
    """In float64 (the products are the float32 network's in a step): J_theta v against
    central differences, and u . (J_theta v) = (J_theta^T u) . v."""
    member = Member(problem, gn_config())
    net = member.net.double()
    buffers = {k: b.double() if b.is_floating_point() else b for k, b in net.named_buffers()}

    def model(p):
        return member.fixed(functional_call(net, (p, buffers), ()))

    params = {k: p.detach().double() for k, p in net.named_parameters()}
    gen = torch.Generator().manual_seed(3)
    v = {k: torch.randn(p.shape, generator=gen, dtype=torch.float64) for k, p in params.items()}
    _, dm = jvp(model, (params,), (v,))
    h = 1e-6  # central differences: O(h^2) truncation, round-off ~1e-16 / h

    def shifted(sign):
        return model({k: p + sign * h * v[k] for k, p in params.items()})

    fd = (shifted(1) - shifted(-1)) / (2 * h)
    assert torch.linalg.norm(dm - fd) <= 1e-6 * torch.linalg.norm(fd)
    u = torch.randn(dm.shape, generator=gen, dtype=torch.float64)
    _, pullback = vjp(model, params)
    (g,) = pullback(u)
    lhs = float(u @ dm)
    rhs = sum(float((g[k] * v[k]).sum()) for k in params)
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


def test_the_krylov_steps_are_the_dense_levenberg_marquardt_steps(problem):
    """With a full Krylov space the step of every damping lambda equals the dense solution
    of min ||r + A d||^2 + mu ||e + J_theta d||^2 + lambda ||d||^2 (A = W J J_theta formed
    densely, a few hundred weights; e = m - m_ref, mu the reference weight), its linearised
    data misfit the dense one; the trials are the anchor's weights plus their aims' steps."""
    member = Member(problem, gn_config(gn_krylov_iterations=400, target_chi=0.0))
    ex = hpcinv.SerialExecutor(problem)
    need = member.begin()
    before = _weights(member.net)
    d, J = ex.jacobian([need.model], "float64")[0]
    J_copy = J.copy()
    member.finish((d, J))
    method = member.method
    w = 1.0 / problem.uncertainty
    r = w * (d - problem.dobs)
    jac = jacrev(model_of(member))(before)  # dm/dtheta per parameter
    names = list(before)
    Jt = torch.cat([jac[k].reshape(jac[k].shape[0], -1) for k in names], dim=1).double()
    A = (w[:, None] * J_copy) @ Jt.numpy().astype(np.float64)
    projected = method._krylov(member, 0.0)  # the whole space, not only what the aims need
    mu = method.reference_weight
    assert mu > 0
    Jt = Jt.numpy()
    e = member.model() - member.cfg.reference_value  # tiny-3d has no air cells
    H = A.T @ A + mu * Jt.T @ Jt
    top = np.linalg.norm(H, 2)

    def dense_step(damping):
        return -np.linalg.solve(H + damping * np.eye(A.shape[1]), A.T @ r + mu * Jt.T @ e)

    for damping in (1e-3 * top, 1e-1 * top, 10.0 * top):
        dense = dense_step(damping)
        got = projected.step(damping).numpy()
        assert np.linalg.norm(got - dense) <= 1e-4 * np.linalg.norm(dense)  # float32 network
        lin = r + A @ dense
        assert projected.phi(damping) == pytest.approx(0.5 * lin @ lin, rel=1e-5)
    assert len(method.trials) == 2
    for trial, q in zip(method.trials, method.trial_q):
        aim = q * method.anchor.phi  # target 0
        damping = method.projected.damping_for(aim)
        assert method.projected.phi(damping) == pytest.approx(aim, rel=1e-6)
        step = torch.cat([(trial[k] - before[k]).reshape(-1) for k in names]).double().numpy()
        # the trials' Krylov space stops once it can meet the aims: the dense step of the
        # same damping differs by what the deeper space adds
        assert np.linalg.norm(
            step - method.projected.step(damping).numpy()
        ) <= 1e-4 * np.linalg.norm(step)  # float32 weights
        lin = r + A @ step
        assert 0.5 * lin @ lin == pytest.approx(aim, rel=0.02)


def test_steps_reach_the_target_and_stop_on_the_checked_model(problem):
    run = Stepper.build(gn_config(target_chi=1.0), problem, hpcinv.SerialExecutor(problem))
    assert run.run(15).startswith("target chi")
    member = run.members[0]
    assert run.iteration <= 12  # a Gauss-Newton count of physics renewals
    assert member.history.chi[-1] <= 1.0 and all(e == 1.0 for e in member.history.exact)
    # the model reported is the one the physics checked: no step after the target
    [d] = hpcinv.SerialExecutor(problem).predict([member.model()])
    r = (d - problem.dobs) / problem.uncertainty
    assert float(r @ r) / problem.n_data == pytest.approx(member.history.chi[-1], rel=1e-6)


def test_resumed_gauss_newton_equals_uninterrupted(problem):
    cfg = gn_config(target_chi=0.5)
    straight = Stepper.build(cfg, problem, hpcinv.SerialExecutor(problem))
    straight.run(6)
    part = Stepper.build(cfg, problem, hpcinv.SerialExecutor(problem))
    part.run(3)
    state = part.state_dict()
    resumed = Stepper.build(cfg, problem, hpcinv.SerialExecutor(problem))
    resumed.load_state_dict(state)
    resumed.run(6)
    assert resumed.members[0].history.phi_d == straight.members[0].history.phi_d
    np.testing.assert_array_equal(resumed.members[0].model(), straight.members[0].model())


def test_trials_rejected_at_the_most_cautious_aims_are_shortened_not_repeated(problem):
    """Both trials worse than the anchor at q = Q_MAX: the same aims again would be the same
    trials (a run stalled retrying them); the next trials are the same steps x SHRINK, and
    an accepted trial restores full steps."""
    from hpcinv.inversion.gauss_newton import Q_MAX, SHRINK

    member = Member(problem, gn_config(target_chi=0.0))
    ex = hpcinv.SerialExecutor(problem)
    member.finish(ex.jacobian([member.begin().model])[0])
    method = member.method
    before = method.anchor.weights
    names = list(before)

    def steps():
        return [
            torch.cat([(t[k] - before[k]).reshape(-1) for k in names]).double()
            for t in method.trials
        ]

    method.q = Q_MAX
    method._make_trials(member)
    full = steps()
    worse = [10.0 * method.anchor.phi] * 2
    method._judge(member, worse)  # rejected at Q_MAX: shortened
    assert method.shrink == SHRINK
    for got, step in zip(steps(), full):
        # float32 weights: a step of 1e-4 is resolved to ~1e-3 of itself
        assert torch.linalg.norm(got - SHRINK * step) <= 1e-2 * torch.linalg.norm(SHRINK * step)
    method._judge(member, worse)
    assert method.shrink == SHRINK**2
    method._judge(member, [0.5 * method.anchor.phi, method.anchor.phi])  # accepted
    assert method.shrink == 1.0


def test_products_of_the_rows_the_tiles_kept_give_the_dense_steps():
    """The anchor's W J products from the rows kept by the tiles (2 tiles: each its own
    rows) give the trials the dense J gives, to float64 round-off."""
    cfg = config_from_dict(
        {
            "problem": {"case": "tiny-3d"},
            "physics": {"n_tiles": 2},
            "network": {"channels": [4, 2], "dropout": 0.0, "output": "reference-tanh"},
            "inversion": {"optimizer": "gauss-newton", "target_chi": 0.0},
        }
    )
    problem = hpcinv.build_problem(cfg)
    assert len(problem.tiles) == 2
    ex = hpcinv.SerialExecutor(problem)
    trials = []
    for keep in (False, True):
        member = Member(problem, cfg)
        need = member.begin()
        assert need.keep  # what the method asks for in a run
        if keep:
            kept = ex.keep_jacobian(need.model, "float64")
            member.finish((kept.d, kept))
        else:
            member.finish(ex.jacobian([need.model], "float64")[0])
        trials.append(member.method.trials)
    for dense, kept in zip(*trials):
        for name in dense:
            torch.testing.assert_close(kept[name], dense[name], rtol=1e-5, atol=1e-7)


def test_a_gauss_newton_run_on_dask_workers_equals_the_serial_run(two_workers):
    """J's rows on two workers, the Krylov products as tasks there: the run's misfits and
    model bitwise those of the serial run (the products run on the tiles' BLAS threads)."""
    from hpcinv.engine.dask_executor import DaskExecutor

    cfg = config_from_dict(
        {
            "problem": {"case": "tiny-3d"},
            "physics": {"n_tiles": 2},
            "network": {"channels": [4, 2], "dropout": 0.0, "output": "reference-tanh"},
            "inversion": {"optimizer": "gauss-newton", "target_chi": 0.5},
        }
    )
    problem = hpcinv.build_problem(cfg)
    runs = []
    for executor in (hpcinv.SerialExecutor(problem), DaskExecutor(problem, two_workers)):
        run = Stepper.build(cfg, problem, executor)
        run.run(5)
        runs.append(run.members[0])
    serial, on_dask = runs
    assert on_dask.history.phi_d == serial.history.phi_d
    assert serial.history.phi_d[-1] < 0.5 * serial.history.phi_d[0]
    np.testing.assert_array_equal(on_dask.model(), serial.model())


def test_a_checkpoint_holds_the_krylov_space_not_j(problem):
    """J is needed only in the step that linearised the anchor: the state has the anchor's
    weights, misfit and residual and the Krylov space, not J (0.26-1 GB in 3D); a state
    written before 0.12.0 (with W J) still loads."""
    run = Stepper.build(gn_config(target_chi=0.0), problem, hpcinv.SerialExecutor(problem))
    run.run(1)
    state = run.state_dict()["members"]["0"]
    assert set(state["gn_anchor"]) == {"weights", "phi", "r"}
    assert state["gn_projected"] is not None
    old = dict(state, gn_anchor={**state["gn_anchor"], "WJ": np.zeros((problem.n_data, 3))})
    member = Member(problem, gn_config(target_chi=0.0))
    member.load_state_dict(old)
    assert member.method.anchor.WJ is None and member.method.trials
