"""A run of K members (an ensemble): members stepped together are each exactly the member
run alone; varying seed, z or both; one batched executor call per kind of need per step;
resume; stopping at the target."""

import dataclasses

import numpy as np
import pytest
import torch

import hpcinv
from hpcinv.config import config_from_dict
from hpcinv.inversion import Member, Stepper, member_config


def config(inversion=None, **ensemble):
    return config_from_dict(
        {
            "problem": {"case": "paper-1.1"},
            "network": {"channels": [8, 4], "dropout": 0.1},
            "inversion": {"learning_rate": 1e-2, **(inversion or {})},
            "ensemble": {"members": 3, **ensemble},
        }
    )


def build(problem, cfg, members=None):
    """A stepper of ``cfg``'s members (``members``: that many instead) on a serial executor."""
    if members is not None:
        cfg = dataclasses.replace(cfg, ensemble=dataclasses.replace(cfg.ensemble, members=members))
    return Stepper.build(cfg, problem, hpcinv.SerialExecutor(problem))


@pytest.mark.parametrize("vary", ["seed", "z", "both"])
def test_members_differ_as_asked_and_member_0_is_the_run_file(tiny_problem, vary):
    cfg = config(vary=vary)
    nets = [Member(tiny_problem, member_config(cfg, k)).net for k in range(3)]
    alone = Member(tiny_problem, cfg).net
    assert torch.equal(nets[0].z, alone.z)
    assert torch.equal(nets[0].head.weight, alone.head.weight)
    same_z = torch.equal(nets[1].z, nets[0].z)
    same_w = torch.equal(nets[1].head.weight, nets[0].head.weight)
    assert (same_z, same_w) == {"seed": (True, False), "z": (False, True), "both": (False, False)}[
        vary
    ]
    assert not torch.equal(
        nets[2].z if vary != "seed" else nets[2].head.weight,
        nets[1].z if vary != "seed" else nets[1].head.weight,
    )


def test_each_member_is_the_member_run_alone(tiny_problem):
    cfg = config()
    ensemble = build(tiny_problem, cfg)
    ensemble.run(4)
    for k, member in enumerate(ensemble.members):
        alone = build(tiny_problem, member_config(cfg, k), members=1)
        alone.run(4)
        assert member.history.phi_d == alone.members[0].history.phi_d
        np.testing.assert_array_equal(member.model(), alone.members[0].model())
    models = ensemble.models()
    assert models.shape == (3, tiny_problem.model_grid.n_cells)
    assert np.abs(models[1] - models[0]).max() > 0  # the members differ


class Spy:
    """A serial executor that records the size of every batched call, by kind."""

    def __init__(self, problem):
        self.inner, self.problem, self.calls = hpcinv.SerialExecutor(problem), problem, []

    def misfit_and_gradient(self, models):
        self.calls.append(("misfit", len(models)))
        return self.inner.misfit_and_gradient(models)

    def jacobian(self, models, dtype="float32"):
        self.calls.append(("jacobian", len(models)))
        return self.inner.jacobian(models, dtype)

    def predict(self, models):
        self.calls.append(("predict", len(models)))
        return self.inner.predict(models)

    def keep_jacobian(self, m, dtype="float32", counts=None):
        self.calls.append(("keep", 1))
        return self.inner.keep_jacobian(m, dtype, counts)


def test_one_batched_call_per_kind_per_step(tiny_problem):
    spy = Spy(tiny_problem)
    ensemble = Stepper.build(config(), tiny_problem, spy)
    ensemble.run(3)
    assert spy.calls == [("misfit", 3)] * 3


def test_linearised_members_renew_together_and_each_is_the_member_alone(tiny_problem):
    cfg = config({"relinearize_every": 2})
    spy = Spy(tiny_problem)
    ensemble = Stepper.build(cfg, tiny_problem, spy)
    ensemble.run(5)
    # renewals at steps 0, 2 and 4, all members in one call; the steps between ask nothing
    assert spy.calls == [("jacobian", 3)] * 3
    for k, member in enumerate(ensemble.members):
        alone = build(tiny_problem, member_config(cfg, k), members=1)
        alone.run(5)
        assert member.history.phi_d == alone.members[0].history.phi_d
        assert member.history.exact == alone.members[0].history.exact == [1.0, 0.0, 1.0, 0.0, 1.0]
        np.testing.assert_array_equal(member.model(), alone.members[0].model())


def test_gauss_newton_members_try_their_steps_in_one_prediction(tiny_problem):
    """Each Gauss-Newton step of K members: J kept by the tiles for each anchor in turn (a
    tile keeps one model's rows), then one predict call for every member's two trials;
    each member as it runs alone."""
    cfg = config({"optimizer": "gauss-newton"}, members=2)
    cfg = dataclasses.replace(cfg, network=dataclasses.replace(cfg.network, dropout=0.0))
    spy = Spy(tiny_problem)
    ensemble = Stepper.build(cfg, tiny_problem, spy)
    ensemble.run(4)
    assert spy.calls == [("keep", 1), ("keep", 1), ("predict", 4)] * 2
    for k, member in enumerate(ensemble.members):
        alone = build(tiny_problem, member_config(cfg, k), members=1)
        alone.run(4)
        assert member.history.phi_d == alone.members[0].history.phi_d
        np.testing.assert_array_equal(member.model(), alone.members[0].model())
    assert ensemble.members[0].history.phi_d[2] < ensemble.members[0].history.phi_d[0]


def test_a_resumed_ensemble_equals_an_uninterrupted_one(tiny_problem):
    cfg = config()

    def fresh():
        return build(tiny_problem, cfg)

    straight = fresh()
    straight.run(5)
    part = fresh()
    part.run(2)
    state = part.state_dict()
    resumed = fresh()
    resumed.load_state_dict(state)
    resumed.run(5)
    for a, b in zip(resumed.members, straight.members):
        assert a.history.phi_d == b.history.phi_d
        np.testing.assert_array_equal(a.model(), b.model())


def test_members_stop_at_their_target_one_by_one(tiny_problem):
    cfg = config()
    free = build(tiny_problem, cfg)
    free.run(3)
    # a target that the best member's first step meets and the others' do not
    chis = [m.history.chi[0] for m in free.members]
    best = int(np.argmin(chis))
    assert sorted(chis)[1] > chis[best]
    raw = dict(cfg.raw)
    raw["inversion"] = {**raw["inversion"], "target_chi": chis[best]}
    ensemble = build(tiny_problem, config_from_dict(raw))
    ensemble.run(3)
    assert ensemble.done[best] and len(ensemble.members[best].history) == 1
    assert ensemble.stopped[best].startswith("target")
    for k, member in enumerate(ensemble.members):
        if k != best:  # stepped on (unless their own later steps met the target)
            assert len(member.history) > 1
