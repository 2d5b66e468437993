"""The console's ExecuteInstruction goals (System 1's action): send one and show its feedback and result
in `ConsoleState`; stop = cancel every goal (any client's) and clear the instruction, so the policy holds."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

from action_msgs.srv import CancelGoal
from rclpy.action import ActionClient
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node

from gr00t_console.ros_calls import resolved_name, wait_ros_future
from gr00t_console.state import OUTCOME_NAMES, ConsoleState
from gr00t_interfaces.action import ExecuteInstruction
from gr00t_interfaces.srv import SetInstruction

# A service call by client name: its response, or {"ok": False, "message": why} (not running, no answer).
Call = Callable[[str, Any], Awaitable[Any]]


class InstructionGoals:
    def __init__(
        self,
        node: Node,
        action_name: str,
        state: ConsoleState,
        call: Call,
        timeout_s: float,
        callback_group: CallbackGroup,
    ) -> None:
        self._node = node
        self._action_name = action_name
        self._state = state
        self._call = call
        self._timeout_s = timeout_s
        self.client = ActionClient(node, ExecuteInstruction, action_name, callback_group=callback_group)
        self._goal_lock = threading.Lock()
        self._goal_handle = None

    async def send(self, text: str, timeout_s: float) -> dict[str, Any]:
        if not self.client.server_is_ready():
            name = resolved_name(self._node, self._action_name)
            return {"ok": False, "message": f"gr00t_system1 is not running (no action server {name})"}
        goal = ExecuteInstruction.Goal(instruction=text)
        goal.timeout.sec = int(timeout_s)
        goal.timeout.nanosec = int((timeout_s - int(timeout_s)) * 1e9)
        self._state.on_action({"instruction": text, "status": "sent"})

        def feedback(message: Any) -> None:
            fb = message.feedback
            self._state.on_action(
                {
                    "instruction": text,
                    "status": "running",
                    "elapsed_s": round(fb.elapsed.sec + fb.elapsed.nanosec * 1e-9, 2),
                    "chunks_executed": int(fb.chunks_executed),
                    "state_text": fb.state_text,
                }
            )

        try:
            handle = await wait_ros_future(
                self.client.send_goal_async(goal, feedback_callback=feedback), self._timeout_s
            )
        except TimeoutError:
            self._state.on_action({"instruction": text, "status": "no answer"})
            return {"ok": False, "message": "the action server did not answer the goal"}
        if not handle.accepted:
            self._state.on_action({"instruction": text, "status": "rejected"})
            return {"ok": False, "message": "goal rejected"}
        with self._goal_lock:
            self._goal_handle = handle

        def result(future: Any) -> None:
            try:
                r = future.result().result
            except Exception as exc:  # noqa: BLE001 - shown, not raised
                self._state.on_action({"instruction": text, "status": "failed", "reason": str(exc)})
                return
            self._state.on_action(
                {
                    "instruction": text,
                    "status": "done",
                    "outcome": OUTCOME_NAMES.get(r.outcome, str(r.outcome)),
                    "reason": r.reason,
                    "chunks_executed": int(r.chunks_executed),
                    "elapsed_s": round(r.elapsed.sec + r.elapsed.nanosec * 1e-9, 2),
                }
            )

        handle.get_result_async().add_done_callback(result)
        return {"ok": True, "message": f"goal accepted: {text!r}"}

    async def stop(self) -> dict[str, Any]:
        """Cancel every ExecuteInstruction goal (any client's) and clear the instruction (the policy holds)."""
        cancel = await self._call("cancel_goals", CancelGoal.Request())
        cleared = await self._call("set_instruction", SetInstruction.Request(text=""))
        messages = []
        if isinstance(cancel, dict):
            messages.append(cancel["message"])
        else:
            messages.append(f"{len(cancel.goals_canceling)} goal(s) canceling")
        if isinstance(cleared, dict):
            messages.append(cleared["message"])
        else:
            messages.append(
                "instruction cleared" if cleared.accepted else f"instruction not cleared: {cleared.message}"
            )
        ok = not isinstance(cancel, dict) or not isinstance(cleared, dict)
        return {"ok": ok, "message": "; ".join(messages)}
