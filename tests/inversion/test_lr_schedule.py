"""The plateau learning-rate schedule: cuts, floor, and replay equal to running."""

import dataclasses

import numpy as np

from hpcinv.config import InversionConfig
from hpcinv.inversion.lr_schedule import PlateauSchedule


def _cfg(**kw):
    return dataclasses.replace(InversionConfig(), learning_rate=1e-2, lr_schedule="plateau", **kw)


def test_cuts_after_patience_without_improvement():
    s = PlateauSchedule(_cfg(lr_patience=3, lr_factor=0.5, lr_threshold=0.01))
    rates = [s.observe(c) for c in [10, 9, 8, 7.99, 7.95, 7.97]]  # 7.99.. are < 1% better
    assert rates == [1e-2] * 5 + [5e-3]
    assert s.cuts == [6] and s.best == 8
    # improvement resets the count; then three more flat iterations cut again
    rates = [s.observe(c) for c in [7.0, 7.0, 7.0, 7.0]]
    assert rates == [5e-3, 5e-3, 5e-3, 2.5e-3] and s.cuts == [6, 10]


def test_floor_and_constant():
    s = PlateauSchedule(_cfg(lr_patience=1, lr_factor=0.1, lr_min=3e-4))
    rates = [s.observe(5.0) for _ in range(5)]
    assert rates == [1e-2, 1e-3, 3e-4, 3e-4, 3e-4] and s.cuts == [2, 3]
    constant = PlateauSchedule(InversionConfig(learning_rate=1e-3))
    assert [constant.observe(5.0) for _ in range(300)] == [1e-3] * 300


def test_replay_equals_running():
    rng = np.random.default_rng(3)
    chi = np.cumsum(rng.normal(-0.05, 1.0, 500)) + 400
    a = PlateauSchedule(_cfg(lr_patience=20))
    for c in chi:
        a.observe(c)
    b = PlateauSchedule(_cfg(lr_patience=20))
    b.observe(1.0)  # replay starts over whatever was seen before
    assert b.replay(chi) == a.lr
    assert (b.best, b.since_best, b.cuts, b.seen) == (a.best, a.since_best, a.cuts, a.seen)
    assert len(a.cuts) > 2
