"""A member's steps: the objective and its schedules, stage 1, the methods (Adam on the
physics, Adam on linearisations), stopping, state, MC dropout. Members are stepped through
a ``Stepper`` of one (a single run), as the driver steps them."""

import math

import numpy as np
import pytest
import torch

import hpcinv
from hpcinv.config import InversionConfig, config_from_dict
from hpcinv.engine.executor import Batch, Counts
from hpcinv.errors import ConfigError, InversionError
from hpcinv.inversion import Member, Stepper
from hpcinv.inversion.linearization import Linearization
from hpcinv.inversion.objective import beta_at, reference_term, total_loss
from hpcinv.inversion.stage_one import fit_reference


def tiny_config(**inversion):
    return config_from_dict(
        {
            "problem": {"case": "paper-1.1"},
            "network": {"channels": [8, 4], "dropout": 0.1},
            "inversion": {"learning_rate": 1e-2, **inversion},
        }
    )


def single(problem, config, executor=None) -> Stepper:
    """A single run: a stepper of one member."""
    return Stepper.build(config, problem, executor or hpcinv.SerialExecutor(problem))


def test_beta_schedules():
    exp = InversionConfig(beta_tau=800.0)
    assert beta_at(exp, 0) == 1.0
    assert math.isclose(beta_at(exp, 800), math.exp(-1.0))
    assert beta_at(InversionConfig(beta_schedule="constant", beta=0.25), 1234) == 0.25


def test_reference_terms():
    m = torch.tensor([0.0, -2.0, 1.0], dtype=torch.float64)
    ref = dict(reference_model=-1.0)
    assert float(reference_term(m, InversionConfig(reference_norm="l1", **ref))) == 1 + 1 + 2
    assert float(reference_term(m, InversionConfig(reference_norm="l2", **ref))) == 0.5 * (
        1 + 1 + 4
    )
    assert float(reference_term(m, InversionConfig(reference_norm="none", **ref))) == 0.0
    loss, b = total_loss(
        torch.tensor(10.0), m, InversionConfig(beta_schedule="constant", beta=0.5, **ref), 7
    )
    assert b == 0.5 and float(loss) == 0.5 * 10 + 0.5 * 4


def test_steps_lower_the_misfit_and_record_history(tiny_problem):
    # from the stage-1 network (m ~ m_ref, phi_d ~ 3.6e3) the data term alone brings phi_d
    # down by > 10x within 25 iterations (measured ~160)
    run = single(
        tiny_problem,
        tiny_config(
            beta_schedule="constant",
            beta=0.0,
            pretrain=True,
            pretrain_learning_rate=1e-2,
            pretrain_tolerance=0.05,
        ),
    )
    run.start()
    assert run.run(25) == "iterations done" and run.iteration == 25
    h = run.members[0].history
    assert len(h) == 25 and len(h.beta) == 25
    assert np.allclose(h.chi, np.array(h.phi_d) / (tiny_problem.n_data / 2))
    assert min(h.phi_d[-5:]) < 0.1 * h.phi_d[0]
    assert all(s > 0 for s in h.seconds)


def test_reported_model_has_dropout_off(tiny_problem):
    member = Member(tiny_problem, tiny_config())
    a, b = member.model(), member.model()
    assert np.array_equal(a, b) and a.dtype == np.float64
    assert member.net.training  # training mode restored for the next iteration


def test_target_chi_stops_after_patience(tiny_problem):
    run = single(tiny_problem, tiny_config(target_chi=1e9, target_chi_patience=3))
    assert run.run(50).startswith("target chi") and run.iteration == 3


class Exploding:
    """A real executor's misfits, but NaN from the 3rd call on."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.problem = inner.problem

    def misfit_and_gradient(self, models):
        self.calls += 1
        results = [
            r if self.calls < 3 else (float("nan"), r[1])
            for r in self.inner.misfit_and_gradient(models)
        ]
        return Batch(iter(results), len(results), Counts())


def test_non_finite_loss_stops_and_keeps_the_last_good_weights(tiny_problem):
    run = single(tiny_problem, tiny_config(), Exploding(hpcinv.SerialExecutor(tiny_problem)))
    run.run(2)
    before = {k: v.clone() for k, v in run.members[0].net.state_dict().items()}
    with pytest.raises(InversionError, match="non-finite loss at iteration 2"):
        run.run(10)
    assert run.iteration == 2 and run.members[0].iteration == 2
    for k, v in run.members[0].net.state_dict().items():
        assert torch.equal(v, before[k])


def test_an_interrupted_step_leaves_every_member_as_before_it(tiny_problem):
    """What a stop signal inside a step does (the driver then checkpoints): the step's
    partial work is undone, so going on equals a run that never saw it."""
    cfg = config_from_dict({**tiny_config().raw, "ensemble": {"members": 2}})

    class Interrupting:
        def __init__(self, inner):
            self.inner, self.problem, self.armed = inner, inner.problem, False

        def misfit_and_gradient(self, models):
            batch = self.inner.misfit_and_gradient(models)

            def results():
                yield batch[0]  # member 0 finishes its step ...
                if self.armed:
                    raise KeyboardInterrupt  # ... then the signal comes
                yield batch[1]

            return Batch(results(), len(models), batch.counts)

    straight = Stepper.build(cfg, tiny_problem, hpcinv.SerialExecutor(tiny_problem))
    straight.run(4)
    executor = Interrupting(hpcinv.SerialExecutor(tiny_problem))
    cut = Stepper.build(cfg, tiny_problem, executor)
    cut.run(2)
    executor.armed = True
    with pytest.raises(KeyboardInterrupt):
        cut.step()
    assert cut.iteration == 2 and [m.iteration for m in cut.members] == [2, 2]
    executor.armed = False
    cut.run(4)
    for a, b in zip(cut.members, straight.members):
        assert a.history.phi_d == b.history.phi_d
        np.testing.assert_array_equal(a.model(), b.model())


def test_stage_1_fits_m_ref_and_is_cached(tiny_problem, tmp_path):
    cfg = tiny_config(pretrain=True, pretrain_tolerance=0.05, pretrain_learning_rate=1e-2)
    member = Member(tiny_problem, cfg)
    cache = tmp_path / "stage1.npz"
    iterations = fit_reference(member.net, cfg, cache)
    assert iterations >= 1 and cache.exists()
    rms = np.sqrt(np.mean((member.model() - cfg.inversion.reference_model) ** 2))
    assert rms < 0.1  # dropout on while fitting, off here: close to the tolerance
    again = Member(tiny_problem, cfg)
    assert fit_reference(again.net, cfg, cache) == 0  # loaded, not refitted
    assert np.array_equal(again.model(), member.model())


def test_same_seed_same_run(tiny_problem):
    runs = []
    for _ in range(2):
        run = single(tiny_problem, tiny_config())
        run.run(4)
        runs.append((run.members[0].history.phi_d, run.members[0].model()))
    assert runs[0][0] == runs[1][0] and np.array_equal(runs[0][1], runs[1][1])


@pytest.mark.parametrize(
    "bad",
    [
        {"learning_rate": 0.0},
        {"learning_rate": -1e-3},
        {"optimizer": "lbfgs-x"},
        {"beta_tau": 0.0},
        {"beta": 1.5},
    ],
)
def test_bad_inversion_settings(bad):
    with pytest.raises(ConfigError, match="inversion."):
        tiny_config(**bad)


@pytest.mark.parametrize(
    "removed, words",
    [
        ({"relinearize_adaptive": True}, "inversion.relinearize_adaptive was removed in"),
        ({"precondition": "sensitivity"}, "inversion.precondition was removed in"),
        ({"coverage_taper": 0.01}, "inversion.coverage_taper was removed in"),
        ({"pretrain_method": "exact"}, "inversion.pretrain_method was removed in"),
        ({"lr_schedule": "backoff"}, "inversion.lr_schedule = 'backoff' was removed in"),
        ({"optimizer": "sgd"}, "inversion.optimizer = 'sgd' was removed in"),
    ],
)
def test_removed_options_are_refused_naming_the_release(removed, words):
    with pytest.raises(ConfigError, match=words + r" hpcinv 0\.7\.0") as err:
        tiny_config(**removed)
    assert "\n" not in str(err.value)


def test_linearization_is_exact_at_its_model(tiny_problem):
    ex = hpcinv.SerialExecutor(tiny_problem)
    m0 = np.full(tiny_problem.model_grid.n_cells, np.log(0.01))
    m0 += 0.3 * np.random.default_rng(2).standard_normal(m0.size)
    phi, g = ex.misfit_and_gradient([m0])[0]
    d, J = ex.jacobian([m0], "float64")[0]
    np.testing.assert_allclose(d, ex.predict([m0])[0], rtol=1e-12)
    d32, J32 = ex.jacobian([m0])[0]
    lin = Linearization.from_jacobian(
        m0, d32, J32, tiny_problem.dobs, tiny_problem.uncertainty, torch.device("cpu")
    )
    m = torch.as_tensor(m0, dtype=torch.float64).requires_grad_()
    value = lin.misfit(m)
    value.backward()
    assert abs(value.item() - phi) <= 1e-6 * phi
    assert np.abs(m.grad.numpy() - g).max() <= 1e-5 * np.abs(g).max()  # J in float32
    # away from m0 it is the first-order model: the remainder falls as h^2 (Taylor)
    dm = 1e-2 * np.random.default_rng(3).standard_normal(m0.size)
    rest = [np.linalg.norm(ex.predict([m0 + h * dm])[0] - d - h * (J @ dm)) for h in (1.0, 0.5)]
    assert 3.5 < rest[0] / rest[1] < 4.5, rest


def test_relinearized_steps_record_exactness_and_resume_exactly(tiny_problem):
    cfg = tiny_config(relinearize_every=4, target_chi=1e-9, beta_schedule="constant", beta=0.0)
    straight = single(tiny_problem, cfg)
    straight.run(10)
    assert straight.members[0].history.exact == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0]
    part = single(tiny_problem, cfg)
    part.run(6)
    state = part.state_dict()
    resumed = single(tiny_problem, cfg)
    resumed.load_state_dict(state)  # between renewals: the linearisation is rebuilt at m0
    resumed.run(10)
    assert resumed.members[0].history.phi_d == straight.members[0].history.phi_d
    np.testing.assert_array_equal(resumed.members[0].model(), straight.members[0].model())


def test_target_chi_counts_only_exact_steps(tiny_problem):
    run = single(tiny_problem, tiny_config(relinearize_every=3, target_chi=1e9))
    assert "target chi" in run.run(10)
    assert run.iteration == 1  # the first (exact) step already meets it
    later = single(
        tiny_problem, tiny_config(relinearize_every=3, target_chi=1e9, target_chi_patience=2)
    )
    later.run(10)
    assert later.iteration == 4  # exact steps 0 and 3; the steps between do not count


def test_mc_dropout_spreads_the_model_and_leaves_the_run_alone(tiny_problem):
    plain = single(tiny_problem, tiny_config())
    plain.run(4)
    sampled = single(tiny_problem, tiny_config())
    sampled.run(2)
    mean, std = sampled.members[0].mc_dropout(16, seed=5)
    sampled.run(4)
    assert sampled.members[0].history.phi_d == plain.members[0].history.phi_d
    np.testing.assert_array_equal(sampled.members[0].model(), plain.members[0].model())
    assert std.shape == mean.shape == (tiny_problem.model_grid.n_cells,)
    assert (std > 0).mean() > 0.5  # dropout 0.1 moves most cells
    again = single(tiny_problem, tiny_config())
    again.run(2)
    member = again.members[0]
    mean2, std2 = member.mc_dropout(16, seed=5)
    np.testing.assert_array_equal(mean2, mean)  # seeded
    np.testing.assert_array_equal(std2, std)
    # the mean of many samples is nearer the dropout-off model than one sample is (masks
    # scaled by 1 / (1 - p) average out; not exactly: the network is nonlinear)
    m = member.model()
    one, spread = member.mc_dropout(1, seed=6)
    assert not spread.any()  # one sample has no spread
    assert np.abs(mean2 - m).mean() < 0.7 * np.abs(one - m).mean()


def test_a_member_stepped_by_hand_equals_the_stepper(tiny_problem):
    """The member's side of the contract: it says what it needs (the misfit at its step's
    model), takes the answer, and is where the stepper would have put it."""
    stepped = single(tiny_problem, tiny_config())
    stepped.run(3)
    ex = hpcinv.SerialExecutor(tiny_problem)
    member = Member(tiny_problem, tiny_config())  # after: its seed reseeded torch's generator
    for _ in range(3):
        need = member.begin()
        member.finish(ex.misfit_and_gradient([need.model])[0], physics_seconds=0.5)
    assert member.history.phi_d == stepped.members[0].history.phi_d
    np.testing.assert_array_equal(member.model(), stepped.members[0].model())
    assert min(member.history.physics_seconds) >= 0.5
