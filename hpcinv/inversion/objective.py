"""The DIP-Inv objective: (1 - b_t) phi_d + b_t R(m - m_ref), and its beta schedules."""

from __future__ import annotations

import math

import torch

from hpcinv.config import InversionConfig


def beta_at(cfg: InversionConfig, t: int) -> float:
    """b_t: exp(-t / tau) (the paper) or a constant."""
    if cfg.beta_schedule == "exponential":
        return math.exp(-t / cfg.beta_tau)
    return cfg.beta


def reference_term(m: torch.Tensor, cfg: InversionConfig) -> torch.Tensor:
    """R(m - m_ref): sum |m - m_ref| (the paper), 0.5 sum (m - m_ref)^2, or zero."""
    if cfg.reference_norm == "none":
        return m.new_zeros(())
    r = m - cfg.reference_value
    if cfg.reference_norm == "l1":
        return r.abs().sum()
    return 0.5 * (r * r).sum()


def total_loss(phi_d: torch.Tensor, m: torch.Tensor, cfg: InversionConfig, t: int):
    """(loss, b_t)."""
    b = beta_at(cfg, t)
    return (1.0 - b) * phi_d + b * reference_term(m, cfg), b
