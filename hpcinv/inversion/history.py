"""What each step of a member leaves: its ``IterationRecord``, gathered in a ``History``
(the per-iteration series summary.json and result.npz report)."""

from __future__ import annotations

from dataclasses import dataclass

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


class History:
    """Per-iteration series (lists of floats) of ``HISTORY_KEYS``, as summary.json reports
    them: ``history.chi`` is the list of chi, one per step."""

    def __init__(self):
        self._series: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}

    def __getattr__(self, key: str) -> list[float]:
        series = self.__dict__.get("_series", {})
        if key in series:
            return series[key]
        raise AttributeError(f"History has no series {key!r}; it has {', '.join(HISTORY_KEYS)}")

    def append(self, rec: IterationRecord) -> None:
        for key in HISTORY_KEYS:
            self._series[key].append(float(getattr(rec, key)))

    def __len__(self) -> int:
        return len(self._series["phi_d"])

    def as_dict(self) -> dict[str, list]:
        return {k: list(v) for k, v in self._series.items()}

    def load(self, series: dict) -> None:
        """The series of a saved history (checkpoints before 0.4 have no ``exact``: every
        step solved the physics then)."""
        n = len(series["chi"])
        self._series = {key: [float(x) for x in series.get(key, [1.0] * n)] for key in HISTORY_KEYS}
