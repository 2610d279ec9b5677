"""What each step of a member leaves: its ``IterationRecord``, gathered in a ``History``
(the per-iteration series summary.json and result.npz report)."""

from __future__ import annotations

from dataclasses import dataclass, field

HISTORY_KEYS = ("phi_d", "chi", "beta", "loss", "seconds", "physics_seconds", "exact")


@dataclass
class IterationRecord:
    iteration: int
    phi_d: float
    chi: float
    beta: float
    loss: float
    seconds: float
    physics_seconds: float
    #: 1 when phi_d came from the physics at this model, 0 from a linearisation
    exact: float = 1.0


@dataclass
class History:
    """Per-iteration series (lists of floats), as summary.json reports them."""

    phi_d: list = field(default_factory=list)
    chi: list = field(default_factory=list)
    beta: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    physics_seconds: list = field(default_factory=list)
    exact: list = field(default_factory=list)

    def append(self, rec: IterationRecord) -> None:
        for key in HISTORY_KEYS:
            getattr(self, key).append(float(getattr(rec, key)))

    def __len__(self) -> int:
        return len(self.phi_d)

    def as_dict(self) -> dict[str, list]:
        return {k: list(getattr(self, k)) for k in HISTORY_KEYS}

    def load(self, series: dict) -> None:
        """The series of a saved history (checkpoints before 0.4 have no ``exact``: every
        step solved the physics then)."""
        n = len(series["chi"])
        for key in HISTORY_KEYS:
            setattr(self, key, [float(x) for x in series.get(key, [1.0] * n)])
