"""Generator networks m = G_w(z): a CNN maps a fixed random vector to ln-conductivity.

``PaperCNN2D`` is the DIP-Inv paper's network exactly (23,055 weights on the paper grid):
Linear(8, h0*w0) + LeakyReLU(0.2) -> 1 x 1 x h0 x w0 -> three blocks [bilinear x2 upsample,
3x3 conv without padding, LeakyReLU(0.2)] with 64, 32, 8 channels -> dropout -> 3x3 conv to
one channel + sigmoid -> crop one column each side -> scaled into the configured range.
On the paper grid (214 x 32 cells) h0 x w0 = 6 x 29; other grids get the smallest start
that covers them and a centred crop.

``CNN3D`` is the same idea in 3D (trilinear upsampling, 3x3x3 convolutions, padding 1). It
covers the grid's *core* (the cells of the finest width); padding cells copy the value of
the nearest core cell. Padding cells are large and barely sensitive: spending network
output on them would only add weights, and extending the core outward is what a
conventional inversion's smoothness does there too.

Every generator returns m as a flat (n_cells,) tensor in discretize's cell order
(x fastest, z last; z increasing upward); images put the surface in row 0.

``network.z_convention = "dip-inv"`` draws z the DIP-Inv authors' way (torch's global
generator seeded with ``seed``, then the layers' default initialisation, then dropout from
the same stream) and lays ``PaperCNN2D``'s rows out as their network does, deepest first, so
their weights (``hpcinv.inversion.initial_weights``) and dropout masks act where theirs did.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from hpcinv.config import LN_001, NetworkConfig
from hpcinv.errors import ConfigError
from hpcinv.mesh import ModelGrid, core_slices


class Generator(nn.Module):
    """Base: holds the fixed input z (a buffer: saved with the weights, never trained)."""

    z: torch.Tensor
    head: nn.Conv2d | nn.Conv3d

    def __init__(self, cfg: NetworkConfig, generator: torch.Generator):
        super().__init__()
        own_z = cfg.z_seed >= 0 and cfg.z_seed != cfg.seed
        if cfg.z_convention == "dip-inv":
            # the authors' train.py: torch.manual_seed(0), then z from the global generator;
            # the layers made next draw their default initialisation from it and dropout
            # continues the same stream (build the layers in their order: Linear, convs)
            torch.manual_seed(cfg.seed)
            z = torch.normal(0.0, cfg.z_std, size=(1, cfg.z_size))
            if own_z:
                own = torch.Generator().manual_seed(cfg.z_seed)
                z = torch.normal(0.0, cfg.z_std, size=(1, cfg.z_size), generator=own)
        else:
            z = torch.randn((1, cfg.z_size), generator=generator, dtype=torch.float32)
            z = z * cfg.z_std
            if own_z:
                # a z of its own; the draw above is still consumed, so the weights are those
                # of ``seed`` whatever z is (an ensemble varying z alone)
                own = torch.Generator().manual_seed(cfg.z_seed)
                z = torch.randn((1, cfg.z_size), generator=own, dtype=torch.float32)
                z = z * cfg.z_std
        self.register_buffer("z", z)
        self.lo, self.hi = cfg.log_conductivity_min, cfg.log_conductivity_max
        self.output_mode, self.output_scale = cfg.output, cfg.output_scale
        self.offset = 0.0  # m_ref of the "reference-tanh" output (``anchor``)

    def scale(self, s: torch.Tensor) -> torch.Tensor:
        # the paper: m = -8 * sigmoid(.), i.e. hi - (hi - lo) * s with (lo, hi) = (-8, 0)
        return self.hi - (self.hi - self.lo) * s

    def activate(self, head: torch.Tensor) -> torch.Tensor:
        """ln-conductivity per cell from the last layer's whole output: the paper's
        hi - (hi - lo) sigmoid(u), or m_ref + s tanh(u - u0) ("reference-tanh": u0 the
        initial network's u, so the network starts at m_ref exactly, every weight with a
        gradient, and no cell pinned at a bound); u the output over the cells covered."""
        if self.output_mode == "sigmoid":
            # sigmoid before the crop, as 0.6 did: on a strided view torch rounds otherwise
            return self.scale(self.crop(torch.sigmoid(head)))
        return self.offset + self.output_scale * torch.tanh(self.crop(head) - self.u0)

    def head_output(self) -> torch.Tensor:
        """The last layer's whole output (before cropping to the cells)."""
        raise NotImplementedError

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """The cells the network covers of a last-layer-shaped tensor, flat or as rows."""
        raise NotImplementedError

    def raw(self) -> torch.Tensor:
        """The last layer's output u over the cells the network covers."""
        return self.crop(self.head_output())

    def anchor(self, reference: float) -> None:
        """Start the "reference-tanh" output at ``reference`` (ln S/m) everywhere: u0 is
        the initial network's u (dropout off). Nothing for the sigmoid output."""
        self.offset = float(reference)
        if self.output_mode == "sigmoid":
            return
        training = self.training
        self.eval()
        with torch.no_grad():
            u0 = self.raw().detach().clone()
        self.train(training)
        self.register_buffer("u0", u0)

    def n_weights(self) -> int:
        return sum(p.numel() for p in self.parameters())


#: Xavier gain for LeakyReLU(0.2), as the paper's stage 1 initialises its convolutions
LEAKY_GAIN = math.sqrt(2.0 / (1.0 + 0.2**2))


def _init_conv(module: nn.Module, generator: torch.Generator) -> None:
    """Xavier-uniform convolution weights with the LeakyReLU gain (the paper), seeded;
    biases zero."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Conv3d)):
            fan_in = layer.in_channels * math.prod(layer.kernel_size)
            fan_out = layer.out_channels * math.prod(layer.kernel_size)
            bound = LEAKY_GAIN * math.sqrt(6.0 / (fan_in + fan_out))
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.zero_()
        elif isinstance(layer, nn.Linear):
            bound = 1.0 / math.sqrt(layer.in_features)  # torch's default, but seeded
            with torch.no_grad():
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)


class PaperCNN2D(Generator):
    """The DIP-Inv network for a 2D grid of shape (nx, nz)."""

    def __init__(self, cfg: NetworkConfig, grid_shape: tuple[int, int], generator):
        super().__init__(cfg, generator)
        nx, nz = grid_shape
        n_blocks = len(cfg.channels)
        # each block: size -> 2 size - 2; last conv: -2; then crop one column each side
        grow = 2**n_blocks
        shrink = 2 * (grow - 1) + 2
        self.h0 = math.ceil((nz + shrink) / grow)
        self.w0 = math.ceil((nx + 2 + shrink) / grow)
        self.out_h, self.out_w = grow * self.h0 - shrink, grow * self.w0 - shrink - 2
        if self.out_h < nz or self.out_w < nx:  # pragma: no cover - arithmetic guard
            raise ConfigError(
                f"network output {self.out_w} x {self.out_h} cannot cover the "
                f"model grid {nx} x {nz}"
            )
        self.nx, self.nz = nx, nz
        #: the DIP-Inv convention lays the image out deepest row first, as the authors'
        #: network does, so that their weights and dropout masks fall where theirs did
        self.depth_first = cfg.z_convention == "dip-inv"
        self.linear = nn.Linear(cfg.z_size, self.h0 * self.w0)
        blocks, c_in = [], 1
        for c in cfg.channels:
            blocks += [
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(c_in, c, 3),
                nn.LeakyReLU(0.2),
            ]
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Conv2d(c_in, 1, 3)
        _init_conv(self, generator)

    def head_output(self) -> torch.Tensor:
        x = nn.functional.leaky_relu(self.linear(self.z), 0.2).view(1, 1, self.h0, self.w0)
        return self.head(self.dropout(self.blocks(x)))

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """(nz, nx) in the network's own row order: the surface first (hpcinv), or the
        deepest row first (``depth_first``: the DIP-Inv authors' output, which they flatten
        straight into discretize's cell order)."""
        x = x[0, 0, :, 1:-1]
        top = (x.shape[0] - self.nz) // 2
        left = (x.shape[1] - self.nx) // 2
        return x[top : top + self.nz, left : left + self.nx]

    def _rows(self) -> torch.Tensor:
        """(nz, nx) ln-conductivity in the network's own row order."""
        return self.activate(self.head_output())

    def image(self) -> torch.Tensor:
        """(nz, nx) ln-conductivity image, surface in row 0."""
        rows = self._rows()
        return rows.flip(0) if self.depth_first else rows

    def forward(self) -> torch.Tensor:
        rows = self._rows()
        return (rows if self.depth_first else rows.flip(0)).reshape(-1)


class CNN3D(Generator):
    """3D DIP generator over the core of a 3D grid, extended into the padding.

    Each block upsamples by 2 on every axis, except on an axis whose core is too thin for
    ``network.min_start_cells`` cells on the coarsest grid: that axis is upsampled only as
    often as that allows. With one coarsest cell in z (a 7-cell-deep core under three
    blocks), trilinear upsampling gives a depth-constant field, and the depth variation of
    the model comes only from the convolutions' zero padding at the top and the bottom.
    """

    def __init__(self, cfg: NetworkConfig, grid: ModelGrid, generator):
        super().__init__(cfg, generator)
        core = core_slices(grid.mesh)
        self.core_shape = tuple(s.stop - s.start for s in core)  # (nx, ny, nz)
        n_blocks = len(cfg.channels)
        self.doublings = tuple(
            _doublings(n, n_blocks, cfg.min_start_cells) for n in self.core_shape
        )
        self.start = tuple(
            max(1, math.ceil(n / 2**d)) for n, d in zip(self.core_shape, self.doublings)
        )
        self.linear = nn.Linear(cfg.z_size, math.prod(self.start))
        blocks, c_in = [], 1
        finest = cfg.finest_kernel  # at full resolution, where a 3x3x3 kernel costs most
        for b, c in enumerate(cfg.channels):
            # tensors are (z, y, x): the scale factors in that order
            factor = tuple(2.0 if b < d else 1.0 for d in reversed(self.doublings))
            k = finest if b == n_blocks - 1 else 3
            blocks += [
                nn.Upsample(scale_factor=factor, mode="trilinear", align_corners=False),
                nn.Conv3d(c_in, c, k, padding=k // 2),
                nn.LeakyReLU(0.2),
            ]
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Conv3d(c_in, 1, finest, padding=finest // 2)
        # index of the core cell each grid cell copies (itself inside the core)
        idx = [
            np.clip(np.arange(n) - s.start, 0, s.stop - s.start - 1)
            for n, s in zip(grid.shape, core)
        ]
        ix, iy, iz = np.meshgrid(*idx, indexing="ij")
        nx, ny, _ = self.core_shape
        flat = (ix + nx * (iy + ny * iz)).ravel(order="F")
        self.register_buffer("extend", torch.as_tensor(flat, dtype=torch.long))
        _init_conv(self, generator)

    def head_output(self) -> torch.Tensor:
        # tensors are (depth, height, width) = (z, y, x) so x is fastest when flattened
        x = nn.functional.leaky_relu(self.linear(self.z), 0.2)
        x = x.view(1, 1, self.start[2], self.start[1], self.start[0])
        return self.head(self.dropout(self.blocks(x)))

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """The core, flat, x fastest."""
        x = x[0, 0]
        nx, ny, nz = self.core_shape
        top = x.shape[0] - nz  # keep the top: the surface is where the data see the most
        return x[top:, :ny, :nx].reshape(-1)

    def forward(self) -> torch.Tensor:
        # padding cells copy their nearest core cell
        return self.activate(self.head_output())[self.extend]


def _doublings(n: int, n_blocks: int, min_start: int) -> int:
    """How many of the ``n_blocks`` blocks upsample an axis of ``n`` core cells so that its
    coarsest grid keeps at least ``min_start`` cells (all of them when it does anyway)."""
    if math.ceil(n / 2**n_blocks) >= min_start:
        return n_blocks
    return min(n_blocks, max(0, int(math.floor(math.log2(n / min_start)))))


def build_generator(
    cfg: NetworkConfig, grid: ModelGrid, seed_generator=None, reference: float = LN_001
) -> Generator:
    """The configured generator for ``grid``, initialised from ``cfg.seed``; a
    "reference-tanh" output starts at ``reference`` (m_ref, ln S/m)."""
    net = _generator(cfg, grid, seed_generator or torch.Generator().manual_seed(cfg.seed))
    net.anchor(reference)
    return net


def _generator(cfg: NetworkConfig, grid: ModelGrid, gen: torch.Generator) -> Generator:
    kind = cfg.kind
    if kind == "auto":
        kind = "paper-cnn-2d" if grid.dim == 2 else "cnn-3d"
    if kind == "paper-cnn-2d":
        if grid.dim != 2:
            raise ConfigError(
                f"network.kind = 'paper-cnn-2d' needs a 2D model grid; this one "
                f"is {grid.dim}D (use 'cnn-3d' or 'auto')"
            )
        return PaperCNN2D(cfg, grid.shape, gen)
    if kind == "cnn-3d":
        if grid.dim != 3:
            raise ConfigError(
                f"network.kind = 'cnn-3d' needs a 3D model grid; this one is "
                f"{grid.dim}D (use 'paper-cnn-2d' or 'auto')"
            )
        return CNN3D(cfg, grid, gen)
    raise ConfigError(f"unknown network.kind {kind!r}")  # pragma: no cover - config validates
