import math

import numpy as np
import pytest
import torch

from hpcinv.config import NetworkConfig
from hpcinv.errors import ConfigError
from hpcinv.inversion.networks import CNN3D, PaperCNN2D, _doublings, build_generator
from hpcinv.mesh import ModelGrid, core_slices
from hpcinv.problem.cases import build_case


@pytest.fixture(scope="module")
def paper_grid():
    return ModelGrid(build_case("paper-1.1").mesh)


def test_paper_network_is_the_papers(paper_grid):
    net = build_generator(NetworkConfig(), paper_grid)
    assert isinstance(net, PaperCNN2D)
    assert net.n_weights() == 23_055  # the paper's count
    assert (net.h0, net.w0) == (6, 29)  # Linear(8, 174) -> 1 x 1 x 6 x 29
    assert tuple(net.z.shape) == (1, 8)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 32, 8, 1]
    assert all(c.padding == (0, 0) and c.kernel_size == (3, 3) for c in convs)
    assert net.image().shape == (32, 214)


def test_output_in_range_and_in_cell_order(paper_grid):
    cfg = NetworkConfig(log_conductivity_min=-6.0, log_conductivity_max=-1.0)
    net = build_generator(cfg, paper_grid).eval()
    with torch.no_grad():
        m, img = net(), net.image()
    assert m.shape == (6848,)
    assert float(m.min()) > -6.0 and float(m.max()) < -1.0
    # image row 0 is the surface; discretize's last cells (top row) are image row 0
    assert torch.equal(m.reshape(32, 214)[-1], img[0])
    assert torch.equal(m.reshape(32, 214)[0], img[-1])


def test_seed_fixes_z_and_weights(paper_grid):
    a = build_generator(NetworkConfig(seed=3), paper_grid)
    b = build_generator(NetworkConfig(seed=3), paper_grid)
    c = build_generator(NetworkConfig(seed=4), paper_grid)
    assert torch.equal(a.z, b.z) and not torch.equal(a.z, c.z)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    # z ~ N(0, 10^2)
    big = build_generator(NetworkConfig(z_size=4000), paper_grid)
    assert 9.0 < float(big.z.std()) < 11.0


def test_dropout_trains_on_reports_off(paper_grid):
    net = build_generator(NetworkConfig(dropout=0.5), paper_grid)
    torch.manual_seed(0)
    net.train()
    assert not torch.equal(net(), net())
    net.eval()
    assert torch.equal(net(), net())


def test_cnn3d_covers_the_core_and_extends_into_padding():
    case = build_case("block-3d")
    grid = ModelGrid(case.mesh)
    net = build_generator(NetworkConfig(channels=(8, 4)), grid).eval()
    assert isinstance(net, CNN3D)
    with torch.no_grad():
        m = net().numpy().reshape(grid.shape, order="F")
    assert m.size == grid.n_cells
    sx, sy, sz = core_slices(grid.mesh)
    assert (sx.stop - sx.start, sy.stop - sy.start, sz.stop - sz.start) == (64, 20, 16)
    # padding copies the nearest core cell
    assert np.array_equal(m[0], m[sx.start])
    assert np.array_equal(m[:, -1], m[:, sy.stop - 1])
    assert np.array_equal(m[:, :, 0], m[:, :, sz.start])
    assert len(np.unique(m[sx, sy, sz])) > 100  # the core is not constant


@pytest.mark.parametrize(
    "n, blocks, min_start, expected",
    [
        (7, 3, 1, 3),  # the default: every block upsamples (coarsest grid 1 cell)
        (7, 3, 4, 0),  # a 7-cell-deep core keeps its 7 cells on the coarsest grid
        (16, 3, 4, 2),  # 4 coarsest cells, upsampled twice
        (64, 3, 4, 3),  # thick enough anyway
        (3, 2, 4, 0),  # thinner than asked: never upsampled
    ],
)
def test_doublings_keep_min_start_cells(n, blocks, min_start, expected):
    d = _doublings(n, blocks, min_start)
    assert d == expected
    assert math.ceil(n / 2**d) >= min(n, min_start)


def test_cnn3d_thin_core_keeps_depth_cells():
    from discretize import TensorMesh

    # a field-survey-like core: 32 x 40 cells of 50 m, 6 cells deep, one padding cell a side
    h = [
        [(100.0, 1), (50.0, 32), (100.0, 1)],
        [(100.0, 1), (50.0, 40), (100.0, 1)],
        [(100.0, 1), (50.0, 6)],
    ]
    grid = ModelGrid(TensorMesh(h, origin="CCN"))
    old = build_generator(NetworkConfig(channels=(8, 4, 4)), grid)
    new = build_generator(NetworkConfig(channels=(8, 4, 4), min_start_cells=4), grid)
    assert old.start == (4, 5, 1)  # one coarsest cell in depth
    assert new.start == (4, 5, 6) and new.doublings == (3, 3, 0)
    scales = [m.scale_factor for m in new.blocks if isinstance(m, torch.nn.Upsample)]
    assert scales == [(1.0, 2.0, 2.0)] * 3  # (z, y, x): never in depth
    with torch.no_grad():
        m = new.eval()().numpy().reshape(grid.shape, order="F")
        core = m[1:-1, 1:-1, 1:]
        first = old.eval().blocks[0](old.linear(old.z).view(1, 1, 1, 5, 4))
    # the default's first upsampled field is constant in depth; the new one's coarsest grid
    # is not, and neither is its output
    assert torch.allclose(first[0, 0], first[0, 0, :1].expand_as(first[0, 0]))
    assert np.ptp(new.linear(new.z).detach().numpy().reshape(6, 5, 4), axis=0).max() > 0
    assert np.ptp(core, axis=2).mean() > 0.1 * np.ptp(core)
    assert np.array_equal(m[:, :, 0], m[:, :, 1])  # padding copies the core


def test_network_kind_must_fit_the_grid(paper_grid):
    with pytest.raises(ConfigError, match="paper-cnn-2d' needs a 2D model grid"):
        build_generator(NetworkConfig(kind="paper-cnn-2d"), ModelGrid(build_case("block-3d").mesh))
    with pytest.raises(ConfigError, match="cnn-3d' needs a 3D model grid"):
        build_generator(NetworkConfig(kind="cnn-3d"), paper_grid)


def test_unknown_generator_is_a_config_error():
    from hpcinv.config import config_from_dict

    with pytest.raises(ConfigError, match="network.kind.*paper-cnn-2d"):
        config_from_dict({"problem": {"case": "paper-1.1"}, "network": {"kind": "unet"}})


def test_cnn3d_finest_kernel_1_makes_the_full_resolution_pointwise():
    """finest_kernel = 1: the head's output is a per-cell function of the trilinear
    upsampling of the coarser block's features (recomputed here cell by cell from the
    weights), and the coarser blocks keep their 3x3x3 kernels."""
    grid = ModelGrid(build_case("tiny-3d").mesh)
    net = build_generator(NetworkConfig(channels=(4, 3, 2), finest_kernel=1), grid).eval()
    convs = [m for m in net.blocks if isinstance(m, torch.nn.Conv3d)]
    assert [c.kernel_size for c in convs] == [(3, 3, 3), (3, 3, 3), (1, 1, 1)]
    assert net.head.kernel_size == (1, 1, 1)
    seen = {}
    net.blocks[-3].register_forward_hook(lambda m, i, out: seen.update(up=out))
    with torch.no_grad():
        head = net.head_output()[0, 0]
        up = seen["up"][0]  # (channels, z, y, x): the finest upsampling's output
        conv, lin = convs[-1], net.head
        hidden = torch.einsum("oc,czyx->ozyx", conv.weight[:, :, 0, 0, 0], up)
        hidden = torch.nn.functional.leaky_relu(hidden + conv.bias[:, None, None, None], 0.2)
        expected = torch.einsum("c,czyx->zyx", lin.weight[0, :, 0, 0, 0], hidden) + lin.bias
    assert torch.allclose(head, expected, atol=1e-6)
