"""Gauss-Newton steps on the network's weights (``optimizer = "gauss-newton"``) and the
"reference-tanh" output: the network's Jacobian products against finite differences and
each other (dot-product test), the data-space CG step against the dense weight-space
solution, the stop at the target on the checked model, resume, the output's start."""

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


def test_the_data_space_step_is_the_dense_levenberg_marquardt_step(problem):
    """With enough CG iterations the step equals -(A^T A + lambda I)^-1 A^T r, A = W J
    J_theta formed densely (a few hundred weights)."""
    member = Member(problem, gn_config(gn_cg_iterations=400, target_chi=0.0))
    ex = hpcinv.SerialExecutor(problem)
    need = member.begin()
    before = _weights(member.net)
    d, J = ex.jacobian([need.model], "float64")[0]
    J_copy = J.copy()
    member.finish((d, J))
    method = member.method
    step = {k: member.net.state_dict()[k] - before[k] for k in before}
    w = 1.0 / problem.uncertainty
    r = w * (d - problem.dobs)
    jac = jacrev(model_of(member))(before)  # dm/dtheta per parameter
    names = list(before)
    Jt = torch.cat([jac[k].reshape(jac[k].shape[0], -1) for k in names], dim=1).double()
    A = (w[:, None] * J_copy) @ Jt.numpy()
    lam = method.damping  # the first step's (the gain-ratio rule acts at the next step)
    dense = -np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ r)
    got = torch.cat([step[k].reshape(-1) for k in names]).double().numpy()
    assert np.linalg.norm(got - dense) <= 5e-3 * np.linalg.norm(dense)
    assert np.linalg.norm(dense) > 0


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
