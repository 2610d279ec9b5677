"""SIGTERM and SIGUSR1 (what Slurm sends at the walltime, ``scancel`` and ``timeout`` send,
and ``kill -- -PGID`` sends to every process of a job, local Dask workers included): the
run checkpoints what it has and stops cleanly (``RunInterrupted``, exit 75).

Between steps the signal only sets ``received``; the run checkpoints after the step. Inside
a step (``interruptible``) it raises ``StopRequested`` at once: the step may be waiting on
workers that died with the same signal (their nannies restart them and the driver would
wait in ``Client.gather`` forever), so the step is abandoned, its members put back as they
were before it (``Stepper.step``), and the completed steps are checkpointed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_early_signals: list[int] = []


class StopRequested(BaseException):
    """Raised inside a step by SIGTERM/SIGUSR1; a BaseException, so that no library's
    ``except Exception`` swallows it while the step waits."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def catch_walltime_signal_early() -> None:
    """Record SIGUSR1 from process start on: its default action kills the process, and a
    batch job's walltime warning may arrive while the problem is still being built. The
    run acts on it after its first iteration."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGUSR1, lambda signum, frame: _early_signals.append(signum))


class StopSignals:
    """A context in which SIGTERM and SIGUSR1 set ``received`` instead of killing (and raise
    ``StopRequested`` inside ``interruptible``); the old handlers come back on exit. Only the
    main thread can install handlers; elsewhere (a notebook's worker thread) the signals keep
    their defaults."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.received: int | None = None
        self._old: dict = {}
        self._interruptible = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        if _early_signals:
            self.received = _early_signals.pop()
        return self

    def _handle(self, signum, frame) -> None:
        first = self.received is None
        self.received = signum
        if self._interruptible and first:
            self._interruptible = False  # one raise: the clean-up must not be interrupted
            raise StopRequested(signum)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A region a signal cuts short (raising ``StopRequested``); one that came before it
        raises at its start."""
        if self.received is not None:
            raise StopRequested(self.received)
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    @property
    def name(self) -> str:
        return "" if self.received is None else signal.Signals(self.received).name

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
