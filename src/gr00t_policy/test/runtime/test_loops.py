"""The loops of System 1's threads: deadlines, skipped ticks, surviving errors, stopping."""

from __future__ import annotations

from gr00t_policy.runtime.loops import run_periodic, run_until_stopped


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_periodic_steps_keep_absolute_deadlines_and_skip_missed_ticks():
    time = FakeTime()
    starts: list[float] = []
    errors: list[Exception] = []

    def step() -> None:
        starts.append(time.now)
        time.now += 0.25 if len(starts) == 3 else 0.001  # the third step overruns 2 periods
        if len(starts) == 5:
            raise RuntimeError("one bad tick")

    run_periodic(0.1, step, lambda: len(starts) < 8, errors.append, clock=time.clock, sleep=time.sleep)
    assert [round(s, 6) for s in starts[:3]] == [0.0, 0.1, 0.2]
    # The tick due at 0.3 is skipped, the one due at 0.4 runs at once (late), not both in a burst...
    assert round(starts[3], 6) == 0.45
    assert [round(s, 6) for s in starts[4:]] == [0.5, 0.6, 0.7, 0.8]  # ...then on the grid again
    assert len(errors) == 1


def test_the_inference_loop_survives_errors_and_idles_when_nothing_is_due():
    calls: list[int] = []
    errors: list[Exception] = []

    def step() -> bool:
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("model failed")
        return len(calls) % 2 == 0

    run_until_stopped(step, lambda: len(calls) < 6, errors.append, idle_s=0.0, error_pause_s=0.0)
    assert len(calls) == 6 and len(errors) == 1


def test_an_error_while_stopping_ends_the_loop_quietly():
    state = {"running": True}
    errors: list[Exception] = []

    def step() -> bool:
        state["running"] = False
        raise RuntimeError("context gone")

    run_until_stopped(step, lambda: state["running"], errors.append)
    assert errors == []
