import numpy as np
import pytest
import torch

from hpcinv.cases import build_case
from hpcinv.config import NetworkConfig
from hpcinv.errors import ConfigError
from hpcinv.inversion.networks import CNN3D, PaperCNN2D, build_generator, core_slices
from hpcinv.mesh import ModelGrid


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
    sx, sy, sz = core_slices(grid)
    assert (sx.stop - sx.start, sy.stop - sy.start, sz.stop - sz.start) == (64, 20, 16)
    # padding copies the nearest core cell
    assert np.array_equal(m[0], m[sx.start])
    assert np.array_equal(m[:, -1], m[:, sy.stop - 1])
    assert np.array_equal(m[:, :, 0], m[:, :, sz.start])
    assert len(np.unique(m[sx, sy, sz])) > 100  # the core is not constant


def test_network_kind_must_fit_the_grid(paper_grid):
    with pytest.raises(ConfigError, match="paper-cnn-2d' needs a 2D model grid"):
        build_generator(NetworkConfig(kind="paper-cnn-2d"), ModelGrid(build_case("block-3d").mesh))
    with pytest.raises(ConfigError, match="cnn-3d' needs a 3D model grid"):
        build_generator(NetworkConfig(kind="cnn-3d"), paper_grid)


def test_unknown_generator_is_a_config_error():
    from hpcinv.config import config_from_dict

    with pytest.raises(ConfigError, match="network.kind.*paper-cnn-2d"):
        config_from_dict({"problem": {"case": "paper-1.1"}, "network": {"kind": "unet"}})
