"""The run file resolved against the problem, once, before anything is written or solved
for the inversion: what a key left to the context became (the 3D defaults, the tile count
``physics.n_tiles = 0`` chose, the best half-space for ``reference_model = "halfspace"``)
and every check that needs the problem (MC dropout without dropout, initial weights that
do not fit the network). summary.json records it as ``resolved``."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from hpcinv.config import RunConfig, with_3d_defaults
from hpcinv.errors import ConfigError
from hpcinv.problem import Problem

log = logging.getLogger("hpcinv")


@dataclasses.dataclass(frozen=True)
class Resolved:
    """The run file as the run uses it, and {"section.key": value} of what was filled in:
    ``defaults_3d`` (the 3D defaults) and ``context`` (tile count, half-space reference)."""

    config: RunConfig
    defaults_3d: dict[str, Any]
    context: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """summary.json's ``resolved``: every key the run file left to the context."""
        values = {**self.defaults_3d, **self.context}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def resolve_config(config: RunConfig, problem: Problem) -> Resolved:
    """``config`` resolved against ``problem``; ``ConfigError`` for what cannot run."""
    filled: dict[str, Any] = {}
    if problem.dim == 3 and config.inversion.kind == "dip":
        config, filled = with_3d_defaults(config)
        if filled:
            log.info(
                "3D defaults for what the run file leaves out: %s",
                ", ".join(f"{k} = {v}" for k, v in filled.items()),
            )
    context: dict[str, Any] = {}
    auto_tiles = (problem.info.notes or {}).get("n_tiles")
    if auto_tiles is not None:
        context["physics.n_tiles"] = auto_tiles["auto"]
    config, reference = _reference(config, problem)
    if reference is not None:
        context["inversion.reference_model"] = reference
    if config.inversion.kind == "dip":
        _check_mc_dropout(config)
        _check_initial_weights(config, problem)
    return Resolved(config, filled, context)


def _reference(config: RunConfig, problem: Problem) -> tuple[RunConfig, float | None]:
    """``inversion.reference_model = "halfspace"`` replaced by ln of the best uniform
    half-space conductivity of the problem's data (field data: fitted when the problem was
    built); a function of the data and the run file, so a resumed run gets the same. Field
    data whose run file gives no reference start there too: measured, the start's chi falls
    from 743 to 403 on Century 3D and from 63,320 to 134 on a 577-electrode survey, where
    0.01 S/m is 9x off (README, "Field data")."""
    inversion = config.inversion
    given = "reference_model" in config.raw.get("inversion", {})
    sigma = (problem.info.notes or {}).get("halfspace_conductivity")
    if config.problem.data and not given and sigma is not None:
        inversion = dataclasses.replace(inversion, reference_model="halfspace")
        config = dataclasses.replace(config, inversion=inversion)
    if inversion.reference_model != "halfspace":
        return config, None
    if sigma is None:
        raise ConfigError(
            f"inversion.reference_model = 'halfspace' needs field data whose best uniform "
            f"half-space could be fitted; {problem.name} has none (synthetic cases and data "
            f"that no positive conductivity fits): give m_ref in ln(S/m)"
        )
    value = float(np.log(sigma))
    log.info("reference model: the best uniform half-space, %.4g S/m (ln %.3f)", sigma, value)
    inversion = dataclasses.replace(inversion, reference_model=value)
    return dataclasses.replace(config, inversion=inversion), value


def _check_mc_dropout(config: RunConfig) -> None:
    """MC dropout samples need dropout."""
    if config.ensemble.mc_dropout_samples and config.network.dropout == 0:
        raise ConfigError(
            "ensemble.mc_dropout_samples > 0 needs network.dropout > 0: without dropout every "
            "sample is the same model (3D runs default to no dropout: set network.dropout, "
            "e.g. 0.1)"
        )


def _check_initial_weights(config: RunConfig, problem: Problem) -> None:
    """network.initial_weights fits the network this run builds."""
    if not config.network.initial_weights:
        return
    import torch

    from hpcinv.inversion import build_generator, initial_state

    rng = torch.get_rng_state()  # the DIP-Inv convention seeds torch's global generator
    try:
        net = build_generator(config.network, problem.model_grid)
        initial_state(net, config.resolve_path(config.network.initial_weights))
    finally:
        torch.set_rng_state(rng)
