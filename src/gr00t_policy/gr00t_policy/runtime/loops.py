"""The loops of System 1's threads, apart from what they run (plain Python, testable), and the
thread settings of a policy node's process."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def configure_threads(num_threads: int, gil_switch_interval_s: float | None = None) -> None:
    """torch's CPU threads (``num_threads`` 0 = torch's default) and Python's thread switch interval
    (None = Python's default) of this process."""
    import torch

    if num_threads > 0:
        torch.set_num_threads(num_threads)
    if gil_switch_interval_s is not None:
        sys.setswitchinterval(gil_switch_interval_s)


def run_until_stopped(
    step: Callable[[], object],
    running: Callable[[], bool],
    on_error: Callable[[Exception], None],
    idle_s: float = 0.005,
    error_pause_s: float = 0.05,
) -> None:
    """Call ``step`` while ``running()``; sleep ``idle_s`` when it returns something false (nothing
    to do). An exception is reported and the loop goes on after ``error_pause_s``; once stopping it
    ends the loop (a late join may meet the node's context going away)."""
    while running():
        try:
            if not step():
                time.sleep(idle_s)
        except Exception as exc:  # noqa: BLE001 - keep the thread alive; the supervisor holds
            if not running():
                return
            on_error(exc)
            time.sleep(error_pause_s)


def run_periodic(
    period_s: float,
    step: Callable[[], None],
    running: Callable[[], bool],
    on_error: Callable[[Exception], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Call ``step`` every ``period_s`` against absolute deadlines (no drift) while ``running()``.
    A late step skips the missed ticks instead of bursting to catch up (as rcl timers do)."""
    next_tick = clock()
    while running():
        next_tick += period_s
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - the stream must survive; the supervisor holds
            if not running():
                return
            on_error(exc)
        delay = next_tick - clock()
        if delay > 0:
            sleep(delay)
        else:
            next_tick += -delay // period_s * period_s
