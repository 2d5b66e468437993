"""The console's validated requests carried out with the graph's own interfaces (the web server's
backend): System 1's and the leader teleop's set_enabled / estop / reset_estop, the ExecuteInstruction
action and System 2's set_instruction (stop), the recorder's services. Runs on the web thread's asyncio
loop; a service that is not running or does not answer in time is a refusal with the reason, never a wait.
"""

from __future__ import annotations

import asyncio
from typing import Any

from action_msgs.srv import CancelGoal
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node
from std_srvs.srv import Trigger

from gr00t_console.instruction_action import InstructionGoals
from gr00t_console.protocol import Request
from gr00t_console.ros_calls import resolved_name, wait_ros_future
from gr00t_console.state import STATE_NAMES, ConsoleState
from gr00t_description import StackConfig
from gr00t_interfaces.srv import SetEnabled, SetInstruction

RECORDER_NODE = "gr00t_recorder"
LEADER_NODE = "gr00t_leader_teleop"
SERVICE_TIMEOUT_S = 5.0
RECORDER_CLIENTS = ("record_start", "stop_success", "stop_failure", "cancel")
RECORD_STOP_SERVICES = {"success": "stop_success", "failure": "stop_failure", "discard": "cancel"}


class GraphRequests:
    """`urgent` is the node of the e-stop path: the e-stop clients live there, on an executor of their own."""

    def __init__(
        self, node: Node, urgent: Node, stack: StackConfig, state: ConsoleState, callback_group: CallbackGroup
    ) -> None:
        self._node = node
        services, group = stack.services, callback_group
        self.clients = {
            "set_enabled": node.create_client(SetEnabled, services["set_enabled"], callback_group=group),
            "reset_estop": node.create_client(Trigger, services["reset_estop"], callback_group=group),
            "set_instruction": node.create_client(SetInstruction, services["set_instruction"], callback_group=group),
            "record_start": node.create_client(SetInstruction, f"{RECORDER_NODE}/start", callback_group=group),
            "stop_success": node.create_client(Trigger, f"{RECORDER_NODE}/stop_success", callback_group=group),
            "stop_failure": node.create_client(Trigger, f"{RECORDER_NODE}/stop_failure", callback_group=group),
            "cancel": node.create_client(Trigger, f"{RECORDER_NODE}/cancel", callback_group=group),
        }
        action_name = stack.actions["execute_instruction"]
        self.instructions = InstructionGoals(node, action_name, state, self.call, SERVICE_TIMEOUT_S, group)
        self.clients["cancel_goals"] = node.create_client(
            CancelGoal, f"{action_name}/_action/cancel_goal", callback_group=group
        )
        # Controllers: System 1 (policy graphs) and the leader teleop (teleop graphs): the e-stop,
        # reset, enable and disable go to every one that is running.
        self.clients["estop"] = urgent.create_client(Trigger, services["estop"])
        self.clients["leader_estop"] = urgent.create_client(Trigger, f"{LEADER_NODE}/estop")
        self.clients["leader_reset_estop"] = node.create_client(
            Trigger, f"{LEADER_NODE}/reset_estop", callback_group=group
        )
        self.clients["leader_set_enabled"] = node.create_client(
            SetEnabled, f"{LEADER_NODE}/set_enabled", callback_group=group
        )

    async def execute(self, request: Request) -> dict[str, Any]:
        op = request.op
        if op == "estop":
            return await self._on_controllers(("estop", "leader_estop"), Trigger.Request)
        if op == "reset_estop":
            return await self._on_controllers(("reset_estop", "leader_reset_estop"), Trigger.Request)
        if op in ("enable", "disable"):
            return await self._on_controllers(
                ("set_enabled", "leader_set_enabled"),
                lambda: SetEnabled.Request(enable=op == "enable", reason="console"),
            )
        if op == "instruct":
            return await self.instructions.send(request.args["text"], request.args.get("timeout_s", 0.0))
        if op == "stop":
            return await self.instructions.stop()
        if op == "record_start":
            response = await self.call("record_start", SetInstruction.Request(text=request.args["text"]))
            if isinstance(response, dict):
                return response
            return {"ok": bool(response.accepted), "message": response.message, "episode": response.id}
        if op == "record_stop":
            return await self._trigger(RECORD_STOP_SERVICES[request.args["outcome"]])
        return {"ok": False, "message": f"{op}: not a robot operation"}

    async def _on_controllers(self, names: tuple[str, ...], make_request: Any) -> dict[str, Any]:
        """Call the service on every controller that runs (System 1, the leader teleop); ok when all
        of them said yes; "no controller is running" naming the services when none does."""
        ready = [name for name in names if self.clients[name].service_is_ready()]
        if not ready:
            missing = " or ".join(resolved_name(self._node, self.clients[name].srv_name) for name in names)
            return {"ok": False, "message": f"no controller is running (no service {missing})"}
        results = await asyncio.gather(*(self.call(name, make_request()) for name in ready))
        ok, parts = True, []
        for name, response in zip(ready, results):
            owner = LEADER_NODE if name.startswith("leader_") else "gr00t_system1"
            if isinstance(response, dict):
                ok, text = False, response["message"]
            else:
                ok = ok and bool(response.success)
                text = response.message
                if hasattr(response, "state"):
                    text = f"{text} (state {STATE_NAMES.get(response.state, str(response.state))})".strip()
            parts.append(f"{owner}: {text}" if len(ready) > 1 else text)
        return {"ok": ok, "message": "; ".join(parts)}

    async def _trigger(self, name: str) -> dict[str, Any]:
        response = await self.call(name, Trigger.Request())
        if isinstance(response, dict):
            return response
        return {"ok": bool(response.success), "message": response.message}

    async def call(self, name: str, request: Any) -> Any:
        """The service's response, or {"ok": False, "message": why} (not running, no answer in time)."""
        client = self.clients[name]
        service = resolved_name(self._node, client.srv_name)
        if not client.service_is_ready():
            owner = (
                RECORDER_NODE
                if name in RECORDER_CLIENTS
                else ("gr00t_system2" if name == "set_instruction" else "gr00t_system1")
            )
            return {"ok": False, "message": f"{owner} is not running (no service {service})"}
        try:
            return await wait_ros_future(client.call_async(request), SERVICE_TIMEOUT_S)
        except TimeoutError:
            return {"ok": False, "message": f"no answer from {service} within {SERVICE_TIMEOUT_S:g} s"}
