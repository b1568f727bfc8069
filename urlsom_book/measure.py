"""Timing and peak-memory helpers of ``urlsom bench`` (book layer): best-of-repetitions wall time, intra-op
thread budgets, and the most bytes torch held during a block (CUDA allocator statistics; on the CPU the
allocation events of torch's profiler)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class PeakMemory:
    """``with PeakMemory(device) as m: ...`` then ``m.peak``: the most bytes torch held during the block beyond
    what it held when the block began (CUDA: allocator statistics; CPU: the profiler's allocation events)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak: int | None = None
        self._prof: Any = None
        self._base = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            from torch.profiler import ProfilerActivity, profile

            self._prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
            with _quiet_stderr():  # the profiler's own start/stop chatter on the C++ side
                self._prof.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = int(torch.cuda.max_memory_allocated(self.device) - self._base)
            return
        with _quiet_stderr():
            self._prof.__exit__(*exc)
        if exc[0] is None:
            self.peak = _profiler_peak(self._prof)


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C++ log lines) for the duration of the block."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _profiler_peak(prof: Any) -> int | None:
    """Peak of the running sum of CPU allocations (+) and frees (-) recorded by the profiler, in time order."""
    try:
        from torch._C._profiler import _EventType

        events = []
        stack = list(prof.profiler.kineto_results.experimental_event_tree())
        while stack:
            node = stack.pop()
            if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
                events.append((node.start_time_ns, node.extra_fields.alloc_size))
            stack.extend(node.children)
    except (AttributeError, ImportError, RuntimeError):  # profiler internals moved: report no figure
        return None
    cur = peak = 0
    for _, size in sorted(events):
        cur += size
        peak = max(peak, cur)
    return int(peak)


def measure(fn: Callable[[], Any], device: torch.device, budget_s: float = 0.6, max_reps: int = 20,
             memory: bool = True) -> dict[str, Any]:
    """Best wall time of ``fn`` over repetitions filling about ``budget_s`` (at least one), and its peak memory.

    The first call runs under :class:`PeakMemory`; when it alone takes longer than ``budget_s`` it is also the
    only timing (the profiler adds microseconds per operation to seconds of work), else the later, unprofiled
    calls are timed."""
    peak = None
    sync(device)
    t0 = time.perf_counter()
    if memory:
        with PeakMemory(device) as m:
            fn()
        peak = m.peak
    else:
        fn()
        sync(device)
    first = time.perf_counter() - t0
    times = [first] if first > budget_s or not memory else []
    spent = first
    while spent < budget_s and len(times) < max_reps:
        t0 = time.perf_counter()
        fn()
        sync(device)
        dt = time.perf_counter() - t0
        times.append(dt)
        spent += dt
    return {"seconds": min(times), "reps": len(times), "peak_bytes": peak}


def mean_sd(v: list[float]) -> tuple[float, float]:
    """The mean of ``v`` and its sample standard deviation (n - 1; nan for one value): the bench scripts'
    "mean (sd) over seeds" cells.

    Example:
        >>> mean_sd([1.0, 3.0])
        (2.0, 1.4142135623730951)
    """
    m = sum(v) / len(v)
    return m, (math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else float("nan"))
