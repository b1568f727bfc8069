"""SIGTERM / SIGINT during training: a clean stop at the next step, with a checkpoint (``train.Trainer.fit``).

The handlers are installed only while :class:`StopSignals` is entered, and only in the main thread;
signals that were ignored (a background job's SIGINT) or handled outside Python are left alone. Importing
this module changes no handler.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any


class TrainingInterrupted(RuntimeError):
    """SIGTERM or SIGINT arrived during training; a checkpoint was saved first. ``signum`` names the signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


class StopSignals:
    """``with StopSignals() as stop: ... if stop.signum is not None: <stop cleanly>``.

    The first SIGTERM or SIGINT is recorded in ``signum``; a second one acts at once, as the previous
    handler would (SIGINT: KeyboardInterrupt). The previous handlers are restored on exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
            return
        old = self._previous[signum]
        signal.signal(signum, old)
        if callable(old):
            old(signum, frame)
        else:
            os.kill(os.getpid(), signum)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in self.SIGNALS:
            old = signal.getsignal(sig)
            if old is None or old == signal.SIG_IGN:
                continue
            self._previous[sig] = old
            signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)
        self._previous.clear()


def signal_name(signum: int | None) -> str:
    """``SIGTERM`` for 15; ``a signal`` for None or 0."""
    return signal.Signals(signum).name if signum else "a signal"
