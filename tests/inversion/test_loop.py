import math

import numpy as np
import pytest
import torch

import hpcinv
from hpcinv.config import InversionConfig, config_from_dict
from hpcinv.errors import ConfigError, InversionError
from hpcinv.inversion import DipInversion
from hpcinv.inversion.objective import beta_at, reference_term, total_loss


def tiny_config(**inversion):
    return config_from_dict(
        {
            "problem": {"case": "paper-1.1"},
            "network": {"channels": [8, 4], "dropout": 0.1},
            "inversion": {"learning_rate": 1e-2, **inversion},
        }
    )


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


def test_loop_lowers_the_misfit_and_records_history(tiny_problem):
    # from the stage-1 network (m ~ m_ref, phi_d ~ 3.6e3) the data term alone brings phi_d
    # down by > 10x within 25 iterations (measured ~160)
    inv = DipInversion(
        tiny_problem,
        hpcinv.SerialExecutor(tiny_problem),
        tiny_config(
            beta_schedule="constant",
            beta=0.0,
            pretrain=True,
            pretrain_learning_rate=1e-2,
            pretrain_tolerance=0.05,
        ),
    )
    inv.pretrain()
    stopped = inv.run(25)
    assert stopped == "iterations done" and inv.iteration == 25
    h = inv.history
    assert len(h) == 25 and len(h.beta) == 25
    assert np.allclose(h.chi, np.array(h.phi_d) / (tiny_problem.n_data / 2))
    assert min(h.phi_d[-5:]) < 0.1 * h.phi_d[0]
    assert all(s > 0 for s in h.seconds)


def test_reported_model_has_dropout_off(tiny_problem):
    inv = DipInversion(tiny_problem, hpcinv.SerialExecutor(tiny_problem), tiny_config())
    a, b = inv.model(), inv.model()
    assert np.array_equal(a, b) and a.dtype == np.float64
    assert inv.net.training  # training mode restored for the next iteration


def test_target_chi_stops_after_patience(tiny_problem):
    inv = DipInversion(
        tiny_problem,
        hpcinv.SerialExecutor(tiny_problem),
        tiny_config(target_chi=1e9, target_chi_patience=3),
    )
    assert inv.run(50).startswith("target chi") and inv.iteration == 3


def test_non_finite_loss_stops_and_keeps_the_last_good_weights(tiny_problem):
    class Exploding:
        """Delegates to a real executor but returns NaN from the 3rd call on."""

        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def misfit_and_gradient(self, m):
            self.calls += 1
            phi, g = self.inner.misfit_and_gradient(m)
            return (float("nan"), g) if self.calls >= 3 else (phi, g)

    inv = DipInversion(tiny_problem, Exploding(hpcinv.SerialExecutor(tiny_problem)), tiny_config())
    inv.run(2)
    before = {k: v.clone() for k, v in inv.net.state_dict().items()}
    with pytest.raises(InversionError, match="non-finite loss at iteration 2"):
        inv.run(10)
    assert inv.iteration == 2
    for k, v in inv.net.state_dict().items():
        assert torch.equal(v, before[k])


def test_pretrain_fits_m_ref_and_is_cached(tiny_problem, tmp_path):
    cfg = tiny_config(pretrain=True, pretrain_tolerance=0.05, pretrain_learning_rate=1e-2)
    inv = DipInversion(tiny_problem, hpcinv.SerialExecutor(tiny_problem), cfg)
    cache = tmp_path / "stage1.npz"
    iterations = inv.pretrain(cache)
    assert iterations >= 1 and cache.exists()
    rms = np.sqrt(np.mean((inv.model() - cfg.inversion.reference_model) ** 2))
    assert rms < 0.1  # dropout on while fitting, off here: close to the tolerance
    again = DipInversion(tiny_problem, hpcinv.SerialExecutor(tiny_problem), cfg)
    assert again.pretrain(cache) == 0  # loaded, not refitted
    assert np.array_equal(again.model(), inv.model())


@pytest.mark.parametrize("case", ["tiny-2d", "tiny-3d"])
def test_exact_stage_1_gives_m_ref_and_the_first_step_moves_it(case):
    problem = hpcinv.build_problem(config_from_dict({"problem": {"case": case}}))
    cfg = config_from_dict(
        {
            "problem": {"case": case},
            "network": {"channels": [8, 4], "dropout": 0.0},
            "inversion": {"pretrain": True, "pretrain_method": "exact", "learning_rate": 1e-2},
        }
    )
    inv = DipInversion(problem, hpcinv.SerialExecutor(problem), cfg)
    assert inv.pretrain() == 0
    m = inv.model()
    assert np.abs(m - cfg.inversion.reference_model).max() < 1e-5  # float32 network
    inv.run(2)
    assert np.ptp(inv.model()) > 1e-3  # the zeroed output layer learns at once


def test_same_seed_same_run(tiny_problem):
    runs = []
    for _ in range(2):
        inv = DipInversion(tiny_problem, hpcinv.SerialExecutor(tiny_problem), tiny_config())
        inv.run(4)
        runs.append((inv.history.phi_d, inv.model()))
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


def test_linearization_is_exact_at_its_model(tiny_problem):
    from hpcinv.inversion.loop import Linearization

    ex = hpcinv.SerialExecutor(tiny_problem)
    m0 = np.full(tiny_problem.model_grid.n_cells, np.log(0.01))
    m0 += 0.3 * np.random.default_rng(2).standard_normal(m0.size)
    phi, g = ex.misfit_and_gradient(m0)
    d, J = ex.jacobian(m0, "float64")
    np.testing.assert_allclose(d, ex.predict(m0), rtol=1e-12)
    lin = Linearization.at(m0, ex, torch.device("cpu"))
    m = torch.as_tensor(m0, dtype=torch.float64).requires_grad_()
    value = lin.misfit(m)
    value.backward()
    assert abs(value.item() - phi) <= 1e-6 * phi
    assert np.abs(m.grad.numpy() - g).max() <= 1e-5 * np.abs(g).max()  # J in float32
    # away from m0 it is the first-order model: the remainder falls as h^2 (Taylor)
    dm = 1e-2 * np.random.default_rng(3).standard_normal(m0.size)
    rest = [np.linalg.norm(ex.predict(m0 + h * dm) - d - h * (J @ dm)) for h in (1.0, 0.5)]
    assert 3.5 < rest[0] / rest[1] < 4.5, rest


def test_relinearized_steps_record_exactness_and_resume_exactly(tiny_problem):
    cfg = tiny_config(
        relinearize_every=4,
        target_chi=1e-9,
        precondition="sensitivity",
        beta_schedule="constant",
        beta=0.0,
    )

    def fresh():
        return DipInversion(tiny_problem, hpcinv.SerialExecutor(tiny_problem), cfg)

    straight = fresh()
    straight.run(10)
    assert straight.history.exact == [1, 0, 0, 0, 1, 0, 0, 0, 1, 0]
    part = fresh()
    part.run(6)
    state = part.state_dict()
    resumed = fresh()
    resumed.load_state_dict(state)  # between renewals: the linearisation is rebuilt at m0
    resumed.run(10)
    assert resumed.history.phi_d == straight.history.phi_d
    np.testing.assert_array_equal(resumed.model(), straight.model())


def test_adaptive_interval_doubles_where_the_linearisation_held_and_halves_where_not():
    inv = DipInversion.__new__(DipInversion)  # the rule needs the settings and n_data only
    inv.cfg = tiny_config(relinearize_every=8, relinearize_adaptive=True).inversion
    inv.problem = type("P", (), {"n_data": 10})()
    inv._interval = 8
    inv._adapt_interval(105.0, 100.0)  # 5% off, tolerance 10%
    assert inv._interval == 16
    inv._adapt_interval(120.0, 100.0)  # between 1 and 3 tolerances: kept
    assert inv._interval == 16
    inv._adapt_interval(60.0, 100.0)  # 40% off
    assert inv._interval == 8
    for _ in range(5):
        inv._adapt_interval(100.0, 100.0)
    assert inv._interval == 128  # 16 x relinearize_every at most
    for _ in range(10):
        inv._adapt_interval(1.0, 100.0)
    assert inv._interval == 2  # relinearize_every / 4 at least


@pytest.mark.parametrize("tolerance, exact_at", [(1e9, [0, 2, 6]), (1e-12, [0, 2, 3, 4, 5, 6])])
def test_adaptive_renewals_follow_the_rule_and_resume_exactly(tiny_problem, tolerance, exact_at):
    cfg = tiny_config(
        relinearize_every=2, relinearize_adaptive=True, relinearize_tolerance=tolerance
    )

    def fresh():
        return DipInversion(tiny_problem, hpcinv.SerialExecutor(tiny_problem), cfg)

    straight = fresh()
    straight.run(7)
    assert [t for t, e in enumerate(straight.history.exact) if e] == exact_at
    for stop in (3, exact_at[-1]):  # between renewals, and just before one
        part = fresh()
        part.run(stop)
        state = part.state_dict()  # before fresh() reseeds torch's global generator
        resumed = fresh()
        resumed.load_state_dict(state)
        resumed.run(7)
        assert resumed.history.phi_d == straight.history.phi_d
        assert resumed.history.exact == straight.history.exact


def test_adaptive_renewal_asks_the_physics_once_the_linearisation_meets_the_target(tiny_problem):
    def run(target):
        cfg = tiny_config(
            relinearize_every=8,
            relinearize_adaptive=True,
            target_chi=target,
            learning_rate=1e-3,
            beta_schedule="constant",
            beta=0.0,
        )
        inv = DipInversion(tiny_problem, hpcinv.SerialExecutor(tiny_problem), cfg)
        inv.run(8)
        return inv.history

    free = run(0.0)
    assert free.exact == [1] + [0] * 7
    guess = int(np.argmin(free.chi[1:7])) + 1  # a linearised step's chi below step 0's
    assert free.chi[guess] < free.chi[0]
    guided = run(free.chi[guess])
    assert guided.chi[: guess + 1] == free.chi[: guess + 1]
    assert guided.exact[: guess + 2] == [1] + [0] * guess + [1]  # the physics asked at once


def test_target_chi_counts_only_exact_steps(tiny_problem):
    inv = DipInversion(
        tiny_problem,
        hpcinv.SerialExecutor(tiny_problem),
        tiny_config(relinearize_every=3, target_chi=1e9),
    )
    assert "target chi" in inv.run(10)
    assert inv.iteration == 1  # the first (exact) step already meets it
    later = DipInversion(
        tiny_problem,
        hpcinv.SerialExecutor(tiny_problem),
        tiny_config(relinearize_every=3, target_chi=1e9, target_chi_patience=2),
    )
    later.run(10)
    assert later.iteration == 4  # exact steps 0 and 3; the steps between do not count


def test_sensitivity_scale_raises_weak_cells_only():
    from hpcinv.inversion.bridge import sensitivity_scale

    diag = np.r_[np.full(98, 1.0), 100.0, 100.0, 1e-9]
    s = sensitivity_scale(diag, None, 0.5, 1e-3)
    assert s.max() <= 1.0 / np.sqrt(1e-3) + 1e-9 and s[-1] == pytest.approx(1 / np.sqrt(1e-3))
    # D_ref = the 99th percentile = 100: the top cells keep 1, D = 1 is raised 10x
    assert s[98] == 1.0 and s[0] == pytest.approx(10.0)


def test_mc_dropout_spreads_the_model_and_leaves_the_run_alone(tiny_problem):
    def fresh():
        return DipInversion(tiny_problem, hpcinv.SerialExecutor(tiny_problem), tiny_config())

    plain = fresh()
    plain.run(4)
    sampled = fresh()
    sampled.run(2)
    mean, std = sampled.mc_dropout(16, seed=5)
    sampled.run(4)
    assert sampled.history.phi_d == plain.history.phi_d  # torch's generator put back
    np.testing.assert_array_equal(sampled.model(), plain.model())
    assert std.shape == mean.shape == (tiny_problem.model_grid.n_cells,)
    assert (std > 0).mean() > 0.5  # dropout 0.1 moves most cells
    again = fresh()
    again.run(2)
    mean2, std2 = again.mc_dropout(16, seed=5)
    np.testing.assert_array_equal(mean2, mean)  # seeded
    np.testing.assert_array_equal(std2, std)
    # the mean of many samples is nearer the dropout-off model than one sample is (masks
    # scaled by 1 / (1 - p) average out; not exactly: the network is nonlinear)
    m = again.model()
    one, spread = again.mc_dropout(1, seed=6)
    assert not spread.any()  # one sample has no spread
    assert np.abs(mean2 - m).mean() < 0.7 * np.abs(one - m).mean()


def test_a_step_with_physics_computed_outside_equals_a_plain_step(tiny_problem):
    """What an ensemble does: begin the step, solve the physics at its model elsewhere
    (with the other members'), finish the step with (phi, g): the same iterate."""

    def fresh():
        return DipInversion(tiny_problem, hpcinv.SerialExecutor(tiny_problem), tiny_config())

    plain = fresh()
    plain.run(3)
    split = fresh()  # after: dropout draws from torch's global generator, seeded here
    for _ in range(3):
        m, t0 = split.begin_step()
        m64 = m.detach().double().numpy()
        split.finish_step(m, t0, split.executor.misfit_and_gradient(m64), physics_seconds=0.5)
    assert split.history.phi_d == plain.history.phi_d
    np.testing.assert_array_equal(split.model(), plain.model())
    assert min(split.history.physics_seconds) >= 0.5
