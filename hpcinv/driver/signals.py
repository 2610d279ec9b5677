"""SIGTERM and SIGUSR1 (what SLURM sends before the walltime with ``--signal``): the run
checkpoints after the current iteration and stops cleanly (``RunInterrupted``, exit 75)."""

from __future__ import annotations

import signal
import threading

_early_signals: list[int] = []


def catch_walltime_signal_early() -> None:
    """Record SIGUSR1 from process start on: its default action kills the process, and a
    batch job's walltime warning may arrive while the problem is still being built. The
    run acts on it after its first iteration."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, lambda signum, frame: _early_signals.append(signum))


class StopSignals:
    """A context in which SIGTERM and SIGUSR1 set ``received`` instead of killing; the old
    handlers come back on exit. Only the main thread can install handlers; elsewhere (a
    notebook's worker thread) the signals keep their defaults."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.received: int | None = None
        self._old: dict = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        if _early_signals:
            self.received = _early_signals.pop()
        return self

    def _handle(self, signum, frame) -> None:
        self.received = signum

    @property
    def name(self) -> str:
        return "" if self.received is None else signal.Signals(self.received).name

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
