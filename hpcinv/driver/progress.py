"""Progress of a run: a bar on a terminal, a log line every ~5% in batch jobs."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("hpcinv")


class Progress:
    """An iteration hook: ``mode`` "bar", "log", "none" or "auto" (a bar when stderr is a
    terminal, log lines otherwise)."""

    def __init__(self, mode: str, total: int, start: int):
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"
        self.mode, self.total = mode, total
        self.every = max(1, total // 20)
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=start, unit="it", file=sys.stderr, dynamic_ncols=True
            )

    def __call__(self, inv, rec) -> None:
        if self.bar is not None:
            self.bar.set_postfix(chi=f"{rec.chi:.3f}", s_per_it=f"{rec.seconds:.2f}", refresh=False)
            self.bar.update(1)
        elif self.mode == "log" and (
            inv.iteration % self.every == 0 or inv.iteration == self.total
        ):
            log.info(
                "iteration %d/%d: chi %.3f, beta %.3g, %.2f s/it",
                inv.iteration,
                self.total,
                rec.chi,
                rec.beta,
                rec.seconds,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
