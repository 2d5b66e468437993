"""System 1's ``joint_trajectory`` output: the safety-checked command stream as JointTrajectory messages.

For robots run by ros2_control, System 1 can send ``trajectory_msgs/JointTrajectory`` to a
JointTrajectoryController (JTC) instead of streaming 120 Hz ``joint_command`` positions
(``command_output: joint_trajectory``). The safety supervisor stays the authority: it keeps ticking at
the command rate on the measured joint states, exactly as for the stream, and a trajectory is its
*forecast*: the commands the stream would send from now on if no new input (chunk, goal tokens)
arrived, computed by ticking a copy of the supervisor (limiter, ramp, watchdogs included) over a copy
of the chunk executor's plan. Hence every point passed the same JointLimiter as the stream
(position, velocity, acceleration and braking limits), on the stream's own tick grid.

Message semantics (ros2_controllers' JTC, which the simulator's ``joint_trajectory`` input follows):

* ``header.stamp`` is the tick time the forecast starts from (the node's clock; sim time under
  ``use_sim_time``), the first point (``time_from_start`` 0) is the pose commanded at that tick, the
  next points follow every command period, strictly increasing. A JTC receiving it a little later
  finds the first point(s) in the past and continues from where the trajectory is at its own clock.
* Latency: a chunk planned from an observation at ``t0`` starts at ``t0``; its steps already in the
  past when it is accepted are never sent (the executor samples by absolute time, as for the stream).
* Replacement: a new trajectory is sent whenever the forecast changes: a chunk was accepted (the
  executor's blend / replace / rtc switch is part of the forecast), the supervisor's state or its
  faults changed. It replaces the running one from its stamp on (which is "now"), and its first point
  is the pose the previous one commands then, so the switch is continuous.
* Ramp: enabling or resuming ramps from the measured / held pose through trajectories too (the ramp
  is part of the supervisor's forecast); no JointState is ever sent in this mode.
* Hold: while HOLDING, the forecast is the supervisor's hold: braking within the limits to the held
  pose, then one last point there (a JTC holds the last point).
* Delivery: the last point is repeated ``tail_s`` (System 1's ``max_stamp_skew_s``: clock offset plus
  delivery delay) later. A JTC, like the simulator, refuses a stamped trajectory that already ended
  when it arrives; with the tail a hold (a single point at "now") still counts when it arrives that
  late, and holding the last point is what a JTC does after the end anyway.
* Stop: when the supervisor commands nothing (DISABLED, ESTOPPED), an empty trajectory (joint names,
  no points) is sent once: a JTC cancels the running trajectory and holds where it is, which is what
  the robot does when the stream stops, and the running trajectory's remaining motion is never
  executed.

Pure: time is an argument, nothing here touches ROS.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gr00t_policy.safety.supervisor import SupervisorState

# A forecast ends once the command stops changing after the plan's end, or after this long at the
# latest (a long ramp to a far pose); 10 s at 120 Hz = 1200 points.
MAX_FORECAST_S = 10.0
# The supervisor states in which the forecast assumes joint states keep arriving (the robot tracks the
# commands). While HOLDING nothing is assumed: a hold caused by stale joint states must not be
# forecast to resume.
_TRACKING_STATES = (SupervisorState.RAMPING, SupervisorState.RUNNING)


@dataclass(frozen=True, eq=False)
class TrajectoryPoints:
    """One JointTrajectory to send: ``positions[k]`` at ``stamp + time_from_start[k]``.

    No points (``stop``) means "stop": cancel the running trajectory and hold.
    """

    stamp: float  # seconds on the node's clock at which time_from_start 0 lies
    joint_names: tuple[str, ...]
    time_from_start: np.ndarray  # (P,) seconds, 0 first, strictly increasing
    positions: np.ndarray  # (P, N) radians, columns in joint_names order

    @property
    def stop(self) -> bool:
        return self.positions.shape[0] == 0

    @classmethod
    def stop_at(cls, stamp: float, joint_names: Sequence[str]) -> TrajectoryPoints:
        return cls(float(stamp), tuple(joint_names), np.zeros(0), np.zeros((0, len(joint_names))))


def forecast_points(
    joint_names: Sequence[str],
    now: float,
    first_command: np.ndarray,
    period_s: float,
    step: Callable[[float], np.ndarray | None],
    may_end: Callable[[float], bool],
    tail_s: float = 0.0,
    max_horizon_s: float = MAX_FORECAST_S,
) -> TrajectoryPoints:
    """Points from ``first_command`` at ``now`` on, one per ``period_s``: ``step(t)`` is the command at
    ``t`` (None = nothing commanded: the trajectory ends before it). Ends at the first tick ``t`` with
    ``may_end(t)`` (the plan has ended) whose command equals the previous one (the motion has stopped:
    a JTC holds the last point), or after ``max_horizon_s``; then the last point again ``tail_s`` later
    (if > 0), so the trajectory has not ended when it arrives up to that late."""
    if not period_s > 0.0:
        raise ValueError(f"period_s must be > 0, got {period_s}")
    offsets = [0.0]
    points = [np.array(first_command, dtype=np.float64)]
    for k in range(1, int(max_horizon_s / period_s + 1e-9) + 1):
        offset = k * period_s
        command = step(now + offset)
        if command is None:
            break
        if may_end(now + offset) and np.array_equal(command, points[-1]):
            break
        offsets.append(offset)
        points.append(np.array(command, dtype=np.float64))
    if tail_s > 0.0:
        offsets.append(offsets[-1] + tail_s)
        points.append(points[-1])
    return TrajectoryPoints(float(now), tuple(joint_names), np.asarray(offsets), np.vstack(points))


def forecast_supervisor(
    supervisor: Any,
    executor: Any,
    now: float,
    first_command: np.ndarray,
    period_s: float,
    tail_s: float = 0.0,
    max_horizon_s: float = MAX_FORECAST_S,
) -> TrajectoryPoints:
    """The stream's future from ``now`` (``first_command`` is the command of the tick at ``now``):
    ticks ``supervisor`` and reads ``executor``'s plan, both COPIES the caller made (they are
    advanced), with no new chunk or goal tokens. In RAMPING / RUNNING the robot is assumed to track
    the commands (joint states keep coming, measuring the last command)."""
    tracking = supervisor.state in _TRACKING_STATES
    measured = np.array(first_command, dtype=np.float64)

    def step(t: float) -> np.ndarray | None:
        nonlocal measured
        if tracking:
            supervisor.on_joint_state(t)
        planned = executor.planned_positions([t])
        policy = None if planned is None else planned[0]
        output = supervisor.tick(t, measured, policy, executor.status(t))
        if output.computed_command is None:
            return None
        measured = output.computed_command
        return output.computed_command

    def plan_ended(t: float) -> bool:
        status = executor.status(t)
        return not status.has_chunk or status.exhausted

    return forecast_points(
        supervisor.joint_names, now, first_command, period_s, step, plan_ended, tail_s, max_horizon_s
    )


def copy_for_forecast(supervisor: Any, executor: Any, log_callback: Any, silent: Any) -> tuple[Any, Any]:
    """Deep copies of ``supervisor`` and ``executor`` for ``forecast_supervisor``; the supervisor's log
    callback ``log_callback`` becomes ``silent`` in the copy (its forecast state changes are not news)."""
    return copy.deepcopy(supervisor, {id(log_callback): silent}), copy.deepcopy(executor)
