"""System 1's ExecuteInstruction action server: run one instruction for a while, then hold.

* A goal is refused when its instruction is empty, not UTF-8 or too long, while the e-stop is
  latched, and once the node is stopping.
* An accepted goal sets the instruction (System 2's set_instruction service; in fused mode the
  node's own goal encoder), optionally enables a DISABLED controller (``enable_on_goal``), sends
  feedback every 0.1 s and ends as: timeout reached (succeeded), canceled, preempted by a newer
  goal, aborted (controller disabled or e-stopped, node stopping) or rejected (System 2 refused
  the instruction or is not there; no /clock under use_sim_time within 5 s).
* At its end the instruction's goal tokens are dropped and, unless a newer action took over, the
  instruction is cleared and the plan dropped: the robot holds.
* ``shutdown`` (while the executor still spins) makes a running action end as aborted and waits
  until its result went out.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup

from gr00t_description.ros.diagnostics import now_seconds
from gr00t_interfaces.action import ExecuteInstruction
from gr00t_interfaces.srv import SetInstruction
from gr00t_policy.instructions import InstructionRejected, new_instruction_id, normalize_instruction
from gr00t_policy.ros.messages import seconds_to_duration
from gr00t_policy.runtime.system1 import System1Runtime
from gr00t_policy.safety.supervisor import SupervisorState

Result = ExecuteInstruction.Result
CLOCK_WAIT_S = 5.0  # an action arriving before the first /clock (use_sim_time) waits this long for it
SYSTEM2_WAIT_S = 5.0  # for System 2's set_instruction service to appear, then to answer
# At shutdown: how long a running action may take to notice and end (its loop polls every 0.1 s,
# but it may be inside a set_instruction call), and the time its result then needs to go out.
SHUTDOWN_ACTION_WAIT_S = 3.0
RESULT_SEND_GRACE_S = 0.3
FEEDBACK_PERIOD_S = 0.1


class InstructionActionServer:
    def __init__(self, node: Any, runtime: System1Runtime, events: Any) -> None:
        self._node = node
        self._runtime = runtime
        self._events = events
        self._config = runtime.config
        self._lock = threading.Lock()
        self._running = True
        self._active_goal_handle: Any = None
        self._executing = 0  # execute callbacks running (under `_lock`)
        self._goals_being_accepted = 0  # accepted, their accepted-callback still to run (under `_lock`)
        # The instruction of the newest action; the lock orders its set and clear requests, so an
        # ending action never clears the one that replaced it.
        self._instruction_lock = threading.Lock()
        self._current_instruction_id = ""
        group = ReentrantCallbackGroup()
        self.instruction_client = None
        if runtime.goal_encoder is None:
            self.instruction_client = node.create_client(
                SetInstruction, node.stack.services["set_instruction"], callback_group=group
            )
        self._server = ActionServer(
            node,
            ExecuteInstruction,
            node.stack.actions["execute_instruction"],
            execute_callback=self._execute_counted,
            goal_callback=self._on_goal_request,
            handle_accepted_callback=self._on_goal_accepted,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=group,
        )

    # -- goals ---------------------------------------------------------------------------------
    def _reject(self, why: str) -> GoalResponse:
        self._events.error("rejected_execute_instruction_goals", f"ExecuteInstruction rejected: {why}")
        return GoalResponse.REJECT

    def _on_goal_request(self, goal: ExecuteInstruction.Goal) -> GoalResponse:
        try:
            text = normalize_instruction(goal.instruction, self._config.max_instruction_bytes)
        except InstructionRejected as exc:
            return self._reject(str(exc))
        if not text:
            return self._reject("empty instruction")
        if self._runtime.state == SupervisorState.ESTOPPED:
            return self._reject("e-stop latched")
        with self._lock:  # `shutdown` clears `_running` under this lock: it sees this goal, or it is refused
            if not self._running:
                return GoalResponse.REJECT
            self._goals_being_accepted += 1
        return GoalResponse.ACCEPT

    def _on_goal_accepted(self, goal_handle: Any) -> None:
        with self._lock:
            previous, self._active_goal_handle = self._active_goal_handle, goal_handle
            self._goals_being_accepted -= 1
        if previous is not None and previous.is_active:
            previous.preempted = True  # read by its execute loop
        goal_handle.execute()

    def _action_in_progress(self) -> bool:
        """A goal is being accepted, an execute callback is running, or the newest goal was accepted
        and has not ended yet (the client already holds an accepted goal: it must get a result)."""
        handle = self._active_goal_handle
        return self._goals_being_accepted > 0 or self._executing > 0 or (handle is not None and handle.is_active)

    def _execute_counted(self, goal_handle: Any) -> Result:
        """The execute callback, counted so that `shutdown` can wait for running actions to end."""
        with self._lock:
            self._executing += 1
        try:
            return self._execute(goal_handle)
        finally:
            with self._lock:
                self._executing -= 1

    def _active(self) -> bool:
        return self._running and self._node.context.ok()

    def _execute(self, goal_handle: Any) -> Result:
        request = goal_handle.request
        timeout = request.timeout.sec + request.timeout.nanosec * 1e-9 or self._config.default_action_timeout_s
        instruction = normalize_instruction(request.instruction, self._config.max_instruction_bytes)
        start = self._valid_clock_seconds(CLOCK_WAIT_S)
        if start is None:  # nothing sent to System 2 or the supervisor yet: refuse without clean-up
            reason = f"no clock: use_sim_time is set and no /clock arrived within {CLOCK_WAIT_S:.0f} s"
            self._node.get_logger().error(f"ExecuteInstruction {instruction!r} refused: {reason}")
            goal_handle.abort()
            return Result(outcome=Result.OUTCOME_REJECTED, reason=reason)
        instruction_id = new_instruction_id()
        runtime = self._runtime
        chunks_at_start = runtime.chunks_executed

        def finish(outcome: int, reason: str) -> Result:
            self._end_instruction(instruction_id)
            result = Result(outcome=outcome, reason=reason, chunks_executed=runtime.chunks_executed - chunks_at_start)
            result.elapsed = seconds_to_duration(now_seconds(self._node) - start)
            self._events.info("execute_instruction_results", f"ExecuteInstruction {instruction!r}: {reason}")
            return result

        if self._config.enable_on_goal:
            runtime.enable_if_disabled(now_seconds(self._node), "ExecuteInstruction goal")
        ok, reason = self._send_instruction(instruction, instruction_id)
        if not ok:
            goal_handle.abort()  # the node stopping is no fault of the request
            return finish(Result.OUTCOME_REJECTED if self._running else Result.OUTCOME_ABORTED, reason)
        feedback = ExecuteInstruction.Feedback()
        while self._active():
            elapsed = now_seconds(self._node) - start
            if getattr(goal_handle, "preempted", False):
                goal_handle.abort()
                return finish(Result.OUTCOME_PREEMPTED, "preempted by a newer instruction")
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return finish(Result.OUTCOME_CANCELED, "canceled; holding position")
            state = runtime.state
            if state in (SupervisorState.ESTOPPED, SupervisorState.DISABLED):
                goal_handle.abort()
                return finish(Result.OUTCOME_ABORTED, f"controller {state.name.lower()}: {runtime.reason}")
            if elapsed >= timeout:
                goal_handle.succeed()
                return finish(Result.OUTCOME_TIMEOUT_REACHED, f"ran for {timeout:.1f} s")
            feedback.elapsed = seconds_to_duration(elapsed)
            feedback.chunks_executed = runtime.chunks_executed - chunks_at_start
            feedback.controller_state = int(state)
            feedback.state_text = state.name.lower()
            goal_handle.publish_feedback(feedback)
            time.sleep(FEEDBACK_PERIOD_S)
        goal_handle.abort()
        return finish(Result.OUTCOME_ABORTED, "node shutting down")

    def _valid_clock_seconds(self, timeout_s: float) -> float | None:
        """ROS time now, once it is set: under use_sim_time it reads 0 until the first /clock
        message, and an action timed from 0 would end the moment the clock arrived."""
        deadline = time.monotonic() + timeout_s
        while (now := now_seconds(self._node)) == 0.0:
            if time.monotonic() > deadline or not self._active():
                return None
            time.sleep(0.05)
        return now

    # -- the instruction -----------------------------------------------------------------------
    def _send_instruction(self, text: str, instruction_id: str) -> tuple[bool, str]:
        encoder = self._runtime.goal_encoder
        if encoder is not None:  # fused: this node computes the goal itself
            with self._instruction_lock:
                self._current_instruction_id = instruction_id
                accepted, message, _ = encoder.set_instruction(text, instruction_id, "execute_instruction")
            return accepted, message
        # Waits in slices: at shutdown the action must end at once (System 2 is stopping too), or
        # its result would be computed after the executor that sends it has stopped.
        client = self.instruction_client
        deadline = time.monotonic() + SYSTEM2_WAIT_S
        while not client.wait_for_service(timeout_sec=0.1):
            if not self._running:
                return False, "node shutting down"
            if time.monotonic() > deadline:
                return False, "System 2 set_instruction service not available"
        with self._instruction_lock:
            self._current_instruction_id = instruction_id
            future = client.call_async(SetInstruction.Request(text=text, id=instruction_id))
        deadline = time.monotonic() + SYSTEM2_WAIT_S
        while not future.done() and time.monotonic() < deadline and self._running:
            time.sleep(0.01)
        if not future.done():
            return False, "System 2 did not answer set_instruction" if self._running else "node shutting down"
        response = future.result()
        return response.accepted, response.message

    def _end_instruction(self, instruction_id: str) -> None:
        """Stop acting on an instruction whose action ended: drop its goal and hold position.

        When a newer action already took over (a preempting goal, or a new goal sent right after a
        cancel), only the ended instruction's goal tokens are dropped: the newer instruction, its
        chunks and System 2's instruction stay.
        """
        self._runtime.end_instruction(instruction_id)
        with self._instruction_lock:
            if instruction_id != self._current_instruction_id:
                return
            self._current_instruction_id = ""
            encoder = self._runtime.goal_encoder
            if encoder is not None:
                encoder.set_instruction("", instruction_id, "execute_instruction")
            elif self.instruction_client.service_is_ready():
                self.instruction_client.call_async(SetInstruction.Request(text="", id=instruction_id))
            self._runtime.hold_position()  # under the instruction lock: no newer action can start in between

    def shutdown(self) -> None:
        """Refuse new goals; a running action ends as aborted ("node shutting down"): wait until
        its result went out (call it while the executor still spins)."""
        with self._lock:
            self._running = False
        deadline = time.monotonic() + SHUTDOWN_ACTION_WAIT_S
        had_action = self._action_in_progress()
        while self._action_in_progress() and time.monotonic() < deadline:
            time.sleep(0.02)
        if had_action:
            # The result goes out from executor tasks: the one scheduled when the callback returned,
            # and the answer to a result request that may still be queued (a goal just accepted).
            time.sleep(RESULT_SEND_GRACE_S)
