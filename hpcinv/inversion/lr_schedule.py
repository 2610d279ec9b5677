"""Learning-rate schedules of the DIP loop, as functions of the chi history alone.

'plateau' cuts the rate when the best chi stops improving (PyTorch's ReduceLROnPlateau on
chi, mode 'min', relative threshold). Late in a 3D field inversion with a constant rate, half
of Adam's steps raised chi (Century 3D, iterations 300-745 at 5e-3): the rate was too large
for the misfit's curvature there, and a smaller one kept chi falling. Because the schedule
depends on the history only, a resumed run replays the saved history and continues exactly
as an uninterrupted one.
"""

from __future__ import annotations

from hpcinv.config import InversionConfig


class PlateauSchedule:
    """``observe(chi)`` after each iteration; ``lr`` is the rate for the next one."""

    def __init__(self, cfg: InversionConfig):
        self.cfg = cfg
        self.lr = cfg.learning_rate
        self.best = float("inf")
        self.since_best = 0  # iterations since the best chi improved (or the last cut)
        self.seen = 0  # iterations observed
        self.cuts: list[int] = []  # iterations after which the rate was cut

    @property
    def active(self) -> bool:
        return self.cfg.lr_schedule == "plateau"

    def observe(self, chi: float) -> float:
        if not self.active:
            return self.lr
        self.seen += 1
        if chi < self.best * (1.0 - self.cfg.lr_threshold):
            self.best, self.since_best = chi, 0
        else:
            self.since_best += 1
        if self.since_best >= self.cfg.lr_patience and self.lr > self.cfg.lr_min:
            self.lr = max(self.cfg.lr_min, self.lr * self.cfg.lr_factor)
            self.since_best = 0
            self.cuts.append(self.seen)
        return self.lr

    def replay(self, chi_history) -> float:
        """Rebuild the state of a run that saw ``chi_history`` (on resume)."""
        self.__init__(self.cfg)
        for chi in chi_history:
            self.observe(float(chi))
        return self.lr
