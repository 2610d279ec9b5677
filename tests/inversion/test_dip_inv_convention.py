"""The DIP-Inv authors' inputs in hpcinv: their stage-1 weights (``network.initial_weights``),
their z and dropout stream (``network.z_convention = "dip-inv"``), and their training loop.

The reference here is written from the facts of the authors' train.py and models/kernel_3.py
(examples/data/dipinv-paper/PROVENANCE.md): a module built in their layer order with torch's
default initialisation, z = torch.normal(0, 10, (1, 8)) after torch.manual_seed(0), their
start weights, and per epoch a new SimPEG Simulation2DNodal with SuperLU, Jtvec of
W^T W r at the dropout-on model, the surrogate loss (1 - b) g . m + b sum |m + 4.6| in
float32 and an Adam step. hpcinv must take the same steps: same models up to float32
rounding (hpcinv sums the loss in float64).
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import hpcinv
from hpcinv.config import EnsembleConfig, NetworkConfig, config_from_dict
from hpcinv.errors import ConfigError
from hpcinv.inversion import (
    Stepper,
    build_generator,
    load_initial_weights,
    member_config,
)
from hpcinv.inversion.initial_weights import read_state_dict
from hpcinv.mesh import ModelGrid
from hpcinv.physics.simpeg_reference import simpeg_simulation
from hpcinv.problem.cases import build_case

ROOT = Path(__file__).resolve().parents[2]
AUTHORS = ROOT / "examples" / "data" / "dipinv-paper"
START = AUTHORS / "start_weights.pt"


@pytest.fixture(scope="module")
def paper_grid():
    return ModelGrid(build_case("paper-1.1").mesh)


class AuthorsNetwork(nn.Module):
    """The authors' NNDC_dropout network: their layers in their order (so the default
    initialisation draws what theirs drew), their forward, their output layout."""

    def __init__(self, dropout):
        super().__init__()
        self.b1 = nn.Sequential(nn.Linear(8, 174), nn.LeakyReLU(0.2))
        self.b2 = self._block(1, 64)
        self.b3 = self._block(64, 32)
        self.b4 = self._block(32, 8)
        self.b5 = nn.Sequential(nn.Conv2d(8, 1, 3), nn.Sigmoid())
        self.dropout = nn.Dropout(dropout)

    @staticmethod
    def _block(c_in, c_out):
        return nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear"),
            nn.Conv2d(c_in, c_out, 3),
            nn.LeakyReLU(0.2),
        )

    def forward(self, z):
        x = self.b1(z).view(1, 1, 6, 29)
        x = self.dropout(self.b4(self.b3(self.b2(x))))
        return (self.b5(x)[:, :, :, 1:-1] * -8).flatten()


def functional_forward(state, z):
    """The authors' network as plain functions of their state dict (no module at all)."""
    x = F.leaky_relu(F.linear(z, state["b1.0.weight"], state["b1.0.bias"]), 0.2)
    x = x.view(1, 1, 6, 29)
    for block in ("b2.1", "b3.1", "b4.1"):
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.leaky_relu(F.conv2d(x, state[f"{block}.weight"], state[f"{block}.bias"]), 0.2)
    y = torch.sigmoid(F.conv2d(x, state["b5.0.weight"], state["b5.0.bias"]))
    return (y[:, :, :, 1:-1] * -8).flatten()


@pytest.mark.parametrize("convention", ["dip-inv", "hpcinv"])
def test_authors_weights_compute_the_authors_model(paper_grid, convention):
    state = read_state_dict(START)
    net = build_generator(NetworkConfig(z_convention=convention), paper_grid).eval()
    assert load_initial_weights(net, START) == "dip-inv"
    with torch.no_grad():
        m, expected = net(), functional_forward(state, net.z)
    if convention == "dip-inv":  # their layout: the very same operations
        assert torch.equal(m, expected)
    else:  # kernels flipped into hpcinv's surface-first rows: sums in another order
        assert torch.allclose(m, expected, rtol=0, atol=4e-6)  # ~8 float32 ulps at |m| ~ 4.6
    # their stage 1 fitted the network to ln 0.01 with this z
    assert float((m - math.log(0.01)).abs().max()) < 0.01


def test_dip_inv_z_and_dropout_stream_are_the_authors(paper_grid):
    torch.manual_seed(0)
    z = torch.normal(0, 10, size=(1, 8))
    reference = AuthorsNetwork(0.1)
    reference.load_state_dict(read_state_dict(START))
    expected = [reference(z) for _ in range(3)]  # training mode: three dropout masks
    net = build_generator(NetworkConfig(z_convention="dip-inv", dropout=0.1), paper_grid)
    load_initial_weights(net, START)
    assert torch.equal(net.z, z)
    got = [net() for _ in range(3)]
    for a, b in zip(got, expected):
        assert torch.equal(a, b)
    assert not torch.equal(got[0], got[1])  # dropout is on


def test_hpcinv_convention_is_unchanged(paper_grid):
    """The default convention draws what 0.6.0 drew (checkpoints and results stand)."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn((1, 8), generator=gen) * 10.0
    assert torch.equal(build_generator(NetworkConfig(), paper_grid).z, z)


def authors_steps(problem, iterations, tau, dropout):
    """Models of the authors' loop (dropout-on model of each epoch, then the final
    dropout-off model), from their inputs."""
    torch.manual_seed(0)
    np.random.seed(0)
    z = torch.normal(0, 10, size=(1, 8))
    net = AuthorsNetwork(dropout)
    net.load_state_dict(read_state_dict(START))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    w = 1.0 / (0.05 * np.abs(problem.dobs))
    models = []
    for epoch in range(iterations):
        beta = np.exp(-epoch / tau)
        output = net(z)
        m = output.detach().numpy().astype(np.float64)
        sim, order = simpeg_simulation(problem.mesh, problem.survey, solver="superlu")
        r = sim.dpred(m) - problem.dobs[order]
        g = sim.Jtvec(m, (w[order] ** 2) * r)
        loss = (1 - beta) * torch.matmul(torch.from_numpy(g).float(), output) + beta * torch.sum(
            torch.abs(output + 4.6)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        models.append(m)
    net.eval()
    with torch.no_grad():
        models.append(net(z).numpy().astype(np.float64))
    return models


@pytest.mark.slow
def test_hpcinv_takes_the_authors_steps_from_their_inputs():
    config = config_from_dict(
        {
            "problem": {"case": "paper-2.2", "observed": str(AUTHORS / "case-2.2" / "dc_data.obs")},
            "network": {
                "dropout": 0.05,
                "z_convention": "dip-inv",
                "initial_weights": str(START),
            },
            "inversion": {"reference_model": -4.6, "beta_tau": 800.0, "pretrain": True},
        }
    )
    problem = hpcinv.build_problem(config)
    expected = authors_steps(problem, 3, tau=800.0, dropout=0.05)
    run = Stepper.build(config, problem, hpcinv.SerialExecutor(problem))
    run.start()
    inv = run.members[0]
    start = inv.model()
    got = []
    for _ in range(3):
        need = inv.begin()  # the step's model (dropout on), as the stepper sends it
        got.append(need.model.copy())
        inv.finish(run.executor.misfit_and_gradient([need.model])[0])
    got.append(inv.model())
    # the first model is the very same; later ones differ by float32 rounding of the
    # loss's gradient (float64 sums here, float32 there): measured 1 ulp (4.8e-7) at |m| ~
    # 4.6 after 3 steps (6e-5 after 10: rounding grows like any chaotic trajectory's)
    assert np.array_equal(got[0], expected[0])
    for a, b in zip(got[1:], expected[1:]):
        assert np.max(np.abs(a - b)) < 2e-6
    # the three steps moved the dropout-off model far more than that tolerance
    assert np.max(np.abs(got[-1] - start)) > 50 * 2e-6


def test_initial_weights_that_do_not_fit_are_refused(tmp_path, paper_grid):
    net = build_generator(NetworkConfig(channels=(32, 16, 8)), paper_grid)
    with pytest.raises(ConfigError, match=r"b2.1.weight|blocks.1.weight has shape \(64, 1, 3, 3\)"):
        load_initial_weights(net, START)
    pickled = tmp_path / "model.pt"
    torch.save(nn.Linear(2, 2), pickled)  # a whole module: needs code to load
    with pytest.raises(ConfigError, match="weights_only=True"):
        load_initial_weights(net, pickled)
    with pytest.raises(ConfigError, match="no such file"):
        load_initial_weights(net, tmp_path / "none.pt")
    grid_3d = ModelGrid(build_case("tiny-3d").mesh)
    with pytest.raises(ConfigError, match="paper's 2D network only"):
        load_initial_weights(build_generator(NetworkConfig(), grid_3d), START)


def test_own_weights_round_trip_and_skip_stage_one(tmp_path, tiny_problem):
    config = config_from_dict(
        {
            "problem": {"case": "tiny-2d"},
            "network": {"channels": [8, 4], "seed": 3},
            "inversion": {"pretrain": True},
        }
    )
    donor = build_generator(config.network, tiny_problem.model_grid)
    path = tmp_path / "weights.pt"
    torch.save(donor.state_dict(), path)
    other = dict(config.raw, network={"channels": [8, 4], "seed": 5, "initial_weights": str(path)})
    run = Stepper.build(config_from_dict(other), tiny_problem, hpcinv.SerialExecutor(tiny_problem))
    run.start()  # no stage 1: the loaded weights stay as they are
    for name, value in donor.state_dict().items():
        loaded = run.members[0].net.state_dict()[name]
        assert torch.equal(loaded, value) != (name == "z")  # z is the run file's (seed 5)


def test_dropout_streams_of_the_authors_start_are_ensemble_members():
    """An ensemble varying the seed from the authors' inputs keeps their z and weights and
    gives each member its own dropout stream; member 0 is their run, each member the
    member run alone (what the reproduction's spread over dropout streams rests on)."""
    raw = {
        "problem": {"case": "paper-2.2", "observed": str(AUTHORS / "case-2.2" / "dc_data.obs")},
        "network": {"dropout": 0.05, "z_convention": "dip-inv", "initial_weights": str(START)},
        "inversion": {"reference_model": -4.6, "beta_tau": 800.0},
        "ensemble": {"members": 3, "vary": "seed"},
    }
    config = config_from_dict(raw)
    problem = hpcinv.build_problem(config)
    ensemble = Stepper.build(config, problem, hpcinv.SerialExecutor(problem))
    ensemble.start()
    ensemble.run(2)
    torch.manual_seed(0)
    authors_z = torch.normal(0, 10, size=(1, 8))
    for k, member in enumerate(ensemble.members):
        assert torch.equal(member.net.z, authors_z)
        one = dataclasses.replace(member_config(config, k), ensemble=EnsembleConfig())
        alone = Stepper.build(one, problem, hpcinv.SerialExecutor(problem))
        alone.start()
        alone.run(2)
        assert member.history.phi_d == alone.members[0].history.phi_d
        np.testing.assert_array_equal(member.model(), alone.members[0].model())
    models = ensemble.models()
    assert np.abs(models[1] - models[0]).max() > 0  # other dropout masks, other steps
