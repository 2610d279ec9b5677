"""How a new run's network starts (the stage-1 seam): the weights of
``network.initial_weights`` (a stage-1 network made elsewhere, e.g. the DIP-Inv authors'),
else the paper's stage 1 when ``inversion.pretrain`` asks for it: Adam on sum |m - m_ref|,
dropout off, until rms(m - m_ref) < tolerance (their stage_1.py), cached in the run
directory so that a restarted run does not fit it again."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from hpcinv.config import RunConfig
from hpcinv.files import atomic_write
from hpcinv.inversion.initial_weights import load_initial_weights
from hpcinv.inversion.networks import Generator

log = logging.getLogger(__name__)


def start_network(net: Generator, config: RunConfig, cache_file: Path | None = None) -> None:
    """Initial weights or stage 1 for ``net``, as ``config`` says (nothing when neither)."""
    weights = config.network.initial_weights
    if weights:
        load_initial_weights(net, config.resolve_path(weights))
        if config.inversion.pretrain:
            log.info("stage 1 skipped: network.initial_weights are the stage-1 network")
    elif config.inversion.pretrain:
        fit_reference(net, config, cache_file)


def fit_reference(net: Generator, config: RunConfig, cache_file: Path | None = None) -> int:
    """Stage 1: fit ``net`` to m_ref; its weights cached in ``cache_file`` (loaded from
    there when it exists). Returns the iterations taken (0 when loaded)."""
    if cache_file is not None and cache_file.exists():
        with np.load(cache_file, allow_pickle=False) as data:
            net.load_state_dict({k: torch.as_tensor(data[k]) for k in data.files})
        log.info("stage 1: loaded pretrained weights from %s", cache_file)
        return 0
    cfg = config.inversion
    opt = torch.optim.Adam(net.parameters(), lr=cfg.pretrain_learning_rate)
    net.eval()
    for it in range(1, cfg.pretrain_max_iterations + 1):  # noqa: B007 - logged below
        opt.zero_grad()
        r = net() - cfg.reference_value
        r.abs().sum().backward()
        opt.step()
        rms = float(r.detach().pow(2).mean().sqrt())
        if rms < cfg.pretrain_tolerance:
            break
    net.train()
    log.info("stage 1: rms(m - m_ref) = %.3g after %d iterations", rms, it)
    if cache_file is not None:
        arrays = {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        atomic_write(cache_file, write)
    return it
