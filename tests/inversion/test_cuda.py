"""The network on CUDA (``inversion.device = "cuda"``) against the same run on CPU.

Skipped where there is no GPU (CI); run on a GPU machine with
``pytest tests/inversion/test_cuda.py``.
Physics stays float64 on the CPU; only the network moves, so the two runs must agree to float32
round-off, not bitwise (cuDNN and CPU convolutions sum in different orders).
"""

import numpy as np
import pytest
import torch

import hpcinv
from hpcinv.config import config_from_dict
from hpcinv.inversion import Stepper, resolve_device

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def config(device, dropout=0.0):
    return config_from_dict(
        {
            "problem": {"case": "paper-1.1"},
            "network": {"channels": [8, 4], "dropout": dropout},
            "inversion": {
                "learning_rate": 1e-2,
                "device": device,
                "beta_schedule": "constant",
                "beta": 0.0,
            },
        }
    )


@cuda
def test_auto_device_is_cuda_when_available():
    assert resolve_device("auto").type == "cuda"


@cuda
def test_cuda_run_matches_cpu_run(tiny_problem):
    # dropout off: its masks come from each device's own generator, so they differ by design
    runs = {}
    for device in ("cpu", "cuda"):
        run = Stepper.build(config(device), tiny_problem, hpcinv.SerialExecutor(tiny_problem))
        inv = run.members[0]
        assert next(inv.net.parameters()).device.type == device
        run.run(10)
        runs[device] = (np.array(inv.history.phi_d), inv.model())
    phi_cpu, m_cpu = runs["cpu"]
    phi_gpu, m_gpu = runs["cuda"]
    assert m_gpu.dtype == np.float64 and np.all(np.isfinite(m_gpu))
    np.testing.assert_allclose(phi_gpu, phi_cpu, rtol=1e-3)
    np.testing.assert_allclose(m_gpu, m_cpu, rtol=0, atol=1e-3)


@cuda
def test_cuda_run_with_dropout_lowers_the_misfit(tiny_problem):
    run = Stepper.build(config("cuda", 0.1), tiny_problem, hpcinv.SerialExecutor(tiny_problem))
    run.run(25)
    phi = np.array(run.members[0].history.phi_d)
    assert np.all(np.isfinite(phi)) and phi[-5:].min() < phi[0]


@cuda
def test_cnn3d_gradients_on_cuda_match_cpu():
    from discretize import TensorMesh

    from hpcinv.config import NetworkConfig
    from hpcinv.inversion import build_generator
    from hpcinv.mesh import ModelGrid

    grid = ModelGrid(TensorMesh([np.ones(24), np.ones(20), np.ones(12)]))
    cfg = NetworkConfig(kind="cnn-3d", dropout=0.0)
    resolve_device("cuda")  # as the loop does: float32 convolutions, no TF32
    net = build_generator(cfg, grid)
    net_gpu = build_generator(cfg, grid).cuda()
    net_gpu.load_state_dict(net.state_dict())
    out_cpu, out_gpu = net(), net_gpu()
    assert out_gpu.shape == out_cpu.shape and out_cpu.numel() == grid.n_cells
    np.testing.assert_allclose(
        out_gpu.detach().cpu().numpy(), out_cpu.detach().numpy(), rtol=1e-4, atol=1e-4
    )
    out_cpu.square().sum().backward()
    out_gpu.square().sum().backward()
    for (name, p), q in zip(net.named_parameters(), net_gpu.parameters()):
        scale = float(p.grad.abs().max())
        np.testing.assert_allclose(
            q.grad.cpu().numpy(), p.grad.numpy(), rtol=0, atol=1e-3 * scale + 1e-7, err_msg=name
        )
