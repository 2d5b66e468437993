"""Per node: how to start it for fuzzing, its good input, the outputs to check and its recovery.

Parameters are the stack YAML's (`nodes.<section>`), with only what a test needs changed (a scratch
output directory, a short start-up ramp, a lower camera rate to spare the CPU). Good input is what
the node's neighbours send in the running graph (the sim's joint states at the home pose, the
camera's frames, System 2's goal tokens, a leader or Joy at rest); the measured joint states follow
the node's own joint_command, as a perfect position controller would, so a moving policy is not
mistaken for a tracking fault. Recovery is what the operator would see: outputs resume, services
answer, an episode records; where the stack latches a fault on purpose (an e-stop the fuzzer
triggered through ~/estop) the documented operator steps come first (reset the e-stop, enable).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from gr00t_bringup.fuzz.harness import SERVICE_TIMEOUT_S, NodeProfile, Session

RECOVERY_TIMEOUT_S = 60.0  # model warm-up on a loaded 2-core machine
INSTRUCTION = "put your right hand on the red cube"


def _stack():
    from gr00t_description import load_stack

    return load_stack()


def _names() -> tuple[str, ...]:
    from gr00t_sim.tasks import TASKS

    robot = _stack().robot
    return (*robot.joint_names, *sorted(TASKS), "reach", "cube", INSTRUCTION)


def _section(name: str) -> dict[str, Any]:
    params = dict(_stack().node_parameters(name))
    params.pop("mapping", None)  # the leader teleop's nested map: read from the YAML, not a parameter
    return params


def _publisher(session: Session, key: str, msg_class: type, topic: str, qos: Any = 10) -> Any:
    if key not in session.state:
        session.state[key] = session.node.create_publisher(msg_class, topic, qos)
    return session.state[key]


def _stamped(session: Session, msg: Any) -> Any:
    msg.header.stamp = session.node.get_clock().now().to_msg()
    return msg


def _feed_joint_states(session: Session, topic: str = "joint_states") -> None:
    """Measured joint states: home, then wherever the node's last joint_command put the joints."""
    from sensor_msgs.msg import JointState

    if session.fuzzing == f"/{topic}":
        return
    robot = _stack().robot
    measured = session.state.setdefault("measured", {n: robot.joints[n].home for n in robot.joint_names})
    for msg in session.state.get("commands", [])[-1:]:
        measured.update({n: float(v) for n, v in zip(msg.name, msg.position) if n in measured and np.isfinite(v)})
    msg = JointState(name=list(measured), position=list(measured.values()))
    _publisher(session, "joint_states", JointState, topic).publish(_stamped(session, msg))


def _feed_image(session: Session, period_s: float = 0.1) -> None:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    topic = next(iter(_stack().camera_topics().values()))["image"]
    if session.fuzzing == f"/{topic}" or time.monotonic() - session.state.get("image_sent", 0.0) < period_s:
        return
    session.state["image_sent"] = time.monotonic()
    image = Image(height=224, width=224, encoding="rgb8", step=224 * 3)
    image.data = bytes(224 * 224 * 3)
    _publisher(session, "image", Image, topic, qos_profile_sensor_data).publish(_stamped(session, image))


def _watch(session: Session, key: str, msg_class: type, topic: str, qos: Any = 10) -> None:
    """Keep the messages of `topic` in session.state[key] (the last 200)."""
    session.state[key] = []

    def on_message(msg: Any) -> None:
        session.state[key] = [*session.state[key][-199:], msg]

    session.node.create_subscription(msg_class, topic, on_message, qos)


def _count_grows(session: Session, key: str, by: int, timeout_s: float) -> bool:
    """True when at least `by` new messages arrive in session.state[key] within `timeout_s`."""
    session.state[key] = []  # the list is capped: count from an empty one
    return session.wait_for(lambda: len(session.state[key]) >= by, timeout_s)


# ------------------------------------------------------------------ sim
def _sim_setup(session: Session) -> None:
    from sensor_msgs.msg import JointState

    _watch(session, "joint_states_out", JointState, "/joint_states")


def _sim_recover(session: Session) -> str | None:
    from gr00t_sim.sim_interfaces import ResetEpisodeClient

    if not _count_grows(session, "joint_states_out", 20, RECOVERY_TIMEOUT_S):
        return "no joint_states after the fuzzing"

    def wait(future: Any, timeout_s: float, what: str) -> Any:
        if not session.wait_for(future.done, timeout_s):
            raise RuntimeError(f"no answer to {what} within {timeout_s:.0f} s")
        return future.result()

    client = ResetEpisodeClient(session.node, wait, SERVICE_TIMEOUT_S)
    if not client.wait_for_service(SERVICE_TIMEOUT_S):
        return f"{client.srv_name} is not available after the fuzzing"
    try:
        client.reset("reach", 10_000)
    except RuntimeError as exc:
        return f"a good reset_episode request failed: {exc}"
    if not _count_grows(session, "joint_states_out", 20, 10.0):
        return "no joint_states after the reset"
    return None


SIM = NodeProfile(
    node="gr00t_sim",
    package="gr00t_sim",
    executable="sim_node",
    parameters=lambda scratch: {**_section("sim"), "camera_hz": 5.0},
    setup=_sim_setup,
    recover=_sim_recover,
)


# ------------------------------------------------------------------ System 2
def _system2_setup(session: Session) -> None:
    from gr00t_interfaces.msg import GoalTokens

    _watch(session, "goal_tokens", GoalTokens, "/gr00t/goal_tokens")


def _system2_recover(session: Session) -> str | None:
    from gr00t_interfaces.srv import SetInstruction

    client = session.node.create_client(SetInstruction, "gr00t/set_instruction")
    response = session.call(client, SetInstruction.Request(text=INSTRUCTION))
    if response is None or not response.accepted:
        return f"set_instruction refused a good instruction: {response and response.message}"
    if not _count_grows(session, "goal_tokens", 3, RECOVERY_TIMEOUT_S):
        return "no goal tokens from good frames and a good instruction"
    latest = session.state["goal_tokens"][-1]
    if latest.instruction != INSTRUCTION:
        return f"goal tokens carry instruction {latest.instruction[:80]!r}, not the good one"
    return None


SYSTEM2 = NodeProfile(
    node="gr00t_system2",
    package="gr00t_policy",
    executable="system2_node",
    parameters=lambda scratch: {**_section("system2"), "instruction": INSTRUCTION},
    setup=_system2_setup,
    feed=_feed_image,
    recover=_system2_recover,
)


# ------------------------------------------------------------------ System 1
_GOAL_TOKENS: list[Any] = []


def good_goal_tokens() -> Any:
    """GoalTokens as System 2 sends them: the bundled model's encoding of a frame and INSTRUCTION."""
    if not _GOAL_TOKENS:
        from gr00t_interfaces.msg import GoalTokens
        from gr00t_policy.policy import Gr00tPolicy, resolve_model_path
        from gr00t_policy.ros.messages import encode_goal_tokens

        policy = Gr00tPolicy.from_pretrained(resolve_model_path(""))
        goal = policy.encode_goal([np.zeros((224, 224, 3), np.uint8)], INSTRUCTION)
        msg = GoalTokens(instruction=INSTRUCTION, instruction_id="fuzz")
        encode_goal_tokens(msg, goal.tokens, goal.mask, "float16")
        _GOAL_TOKENS.append(msg)
    return _GOAL_TOKENS[0]


def _system1_setup(session: Session) -> None:
    from sensor_msgs.msg import JointState

    from gr00t_description.ros.qos import LATCHED_QOS
    from gr00t_interfaces.msg import ControllerStatus

    session.state["goal_msg"] = good_goal_tokens()
    _watch(session, "commands", JointState, "/joint_command")
    _watch(session, "status", ControllerStatus, "/gr00t/controller_status", LATCHED_QOS)


def _system1_feed(session: Session) -> None:
    from gr00t_description.ros.qos import LATEST_RELIABLE_QOS
    from gr00t_interfaces.msg import GoalTokens

    _feed_joint_states(session)
    _feed_image(session)
    if session.fuzzing != "/gr00t/goal_tokens" and time.monotonic() - session.state.get("goal_sent", 0.0) > 0.1:
        session.state["goal_sent"] = time.monotonic()
        msg = session.state["goal_msg"]
        msg.sequence += 1
        _publisher(session, "goal_tokens", GoalTokens, "/gr00t/goal_tokens", LATEST_RELIABLE_QOS).publish(
            _stamped(session, msg)
        )


def _enable(session: Session, service_prefix: str) -> str | None:
    """The operator's steps after a fault: reset the e-stop (the fuzzer may have pressed it), enable."""
    from std_srvs.srv import Trigger

    from gr00t_interfaces.srv import SetEnabled

    reset = session.call(session.node.create_client(Trigger, f"{service_prefix}reset_estop"), Trigger.Request())
    if reset is None:
        return "reset_estop did not answer"
    enable = session.call(
        session.node.create_client(SetEnabled, f"{service_prefix}set_enabled"),
        SetEnabled.Request(enable=True, reason="fuzzing over"),
    )
    if enable is None or not enable.success:
        return f"set_enabled refused: {enable and enable.message}"
    return None


def _wait_running(session: Session, status_key: str) -> str | None:
    from gr00t_interfaces.msg import ControllerStatus

    def running() -> bool:
        statuses = session.state.get(status_key) or []
        return bool(statuses) and statuses[-1].state == ControllerStatus.STATE_RUNNING

    if not session.wait_for(running, RECOVERY_TIMEOUT_S):
        statuses = session.state.get(status_key) or []
        last = statuses[-1] if statuses else None
        return f"not RUNNING after good input: {last and (last.state, last.reason, list(last.active_faults))}"
    if not _count_grows(session, "commands", 50, 10.0):
        return "RUNNING but no joint commands"
    return None


def _system1_recover(session: Session) -> str | None:
    return _enable(session, "/gr00t/") or _wait_running(session, "status")


SYSTEM1 = NodeProfile(
    node="gr00t_system1",
    package="gr00t_policy",
    executable="system1_node",
    parameters=lambda scratch: {
        **_section("system1"),
        "enable_on_start": True,
        "startup_ramp_s": 0.3,
        "ramp_max_velocity_rad_s": 0.0,
    },
    setup=_system1_setup,
    feed=_system1_feed,
    feed_period_s=0.01,
    recover=_system1_recover,
    monitored_outputs=("/joint_command",),
)


# ------------------------------------------------------------------ leader teleop
def _leader_setup(session: Session) -> None:
    from sensor_msgs.msg import JointState

    from gr00t_description.ros.qos import LATCHED_QOS
    from gr00t_interfaces.msg import ControllerStatus

    _watch(session, "commands", JointState, "/joint_command")
    _watch(session, "status", ControllerStatus, "/gr00t_leader_teleop/status", LATCHED_QOS)


def _feed_leader(session: Session) -> None:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import JointState

    topic = "/" + _stack().nodes["leader_teleop"]["leader_topic"]
    if session.fuzzing == topic:
        return
    robot = _stack().robot
    msg = JointState(name=list(robot.joint_names), position=[robot.joints[n].home for n in robot.joint_names])
    _publisher(session, "leader", JointState, topic, qos_profile_sensor_data).publish(_stamped(session, msg))


LEADER_TELEOP = NodeProfile(
    node="gr00t_leader_teleop",
    package="gr00t_teleop",
    executable="leader_teleop_node",
    parameters=lambda scratch: {**_section("leader_teleop"), "enable_on_start": True, "startup_ramp_s": 0.3},
    setup=_leader_setup,
    feed=lambda session: (_feed_joint_states(session), _feed_leader(session)),
    feed_period_s=0.01,
    recover=lambda session: _enable(session, "/gr00t_leader_teleop/") or _wait_running(session, "status"),
    monitored_outputs=("/joint_command",),
)


# ------------------------------------------------------------------ recorder
def _recorder_feed(session: Session) -> None:
    from sensor_msgs.msg import JointState

    _feed_joint_states(session)
    if session.fuzzing != "/joint_command":
        robot = _stack().robot
        msg = JointState(name=list(robot.joint_names), position=[robot.joints[n].home for n in robot.joint_names])
        _publisher(session, "command", JointState, "/joint_command").publish(_stamped(session, msg))


def _recorder_recover(session: Session) -> str | None:
    from std_srvs.srv import Trigger

    from gr00t_interfaces.srv import SetInstruction

    node = session.node
    if session.call(node.create_client(Trigger, "gr00t_recorder/cancel"), Trigger.Request()) is None:
        return "~/cancel did not answer"  # an episode a fuzzed start opened is discarded
    started = session.call(
        node.create_client(SetInstruction, "gr00t_recorder/start"), SetInstruction.Request(text=INSTRUCTION)
    )
    if started is None or not started.accepted:
        return f"~/start refused a good instruction: {started and started.message}"
    time.sleep(1.0)  # the feed's joint states and commands are recorded
    stopped = session.call(node.create_client(Trigger, "gr00t_recorder/stop_success"), Trigger.Request())
    if stopped is None or not stopped.success:
        return f"the episode after the fuzzing did not end as a success: {stopped and stopped.message}"
    return None


RECORDER = NodeProfile(
    node="gr00t_recorder",
    package="gr00t_teleop",
    executable="recorder_node",
    parameters=lambda scratch: {
        **_section("recorder"),
        "output_dir": str(scratch / "episodes"),
        "min_free_disk_mb_to_start": 1.0,
        "min_free_disk_mb": 1.0,
        "fsync_period_s": 0.0,
    },
    feed=_recorder_feed,
    recover=_recorder_recover,
)


# ------------------------------------------------------------------ scripted teleop
def _scripted_setup(session: Session) -> None:
    from sensor_msgs.msg import JointState

    from gr00t_sim import SimConfig
    from gr00t_sim.tasks import TableLayout, get_task

    stack = _stack()
    layout = TableLayout.from_sim_config(SimConfig.from_node_parameters(stack.node_parameters("sim")))
    session.state["episode"] = get_task("reach").sample(3, layout)
    _watch(session, "leader", JointState, "/" + stack.nodes["leader_teleop"]["leader_topic"])


def _scripted_feed(session: Session) -> None:
    from gr00t_interfaces.msg import SceneState
    from gr00t_sim.sim_interfaces import SCENE_STATE_TOPIC, scene_state_message

    _feed_joint_states(session)
    if session.fuzzing == f"/{SCENE_STATE_TOPIC}":
        return
    placements = session.state["episode"].placements
    msg = scene_state_message(
        session.node.get_clock().now().to_msg(),
        {name: np.asarray(p.position) for name, p in placements.items()},
        {name: p.yaw for name, p in placements.items()},
        {"left": np.array([0.2, 0.2, 1.0]), "right": np.array([0.2, -0.2, 1.0])},
    )
    _publisher(session, "scene", SceneState, SCENE_STATE_TOPIC).publish(msg)


def _scripted_recover(session: Session) -> str | None:
    from gr00t_interfaces.srv import StartDemonstration

    client = session.node.create_client(StartDemonstration, "gr00t_scripted_teleop/start")
    response = session.call(client, StartDemonstration.Request(task="reach", seed=3))
    if response is None or not response.success:
        return f"~/start refused a good episode: {response and response.message}"
    if not _count_grows(session, "leader", 10, RECOVERY_TIMEOUT_S):
        return "no leader samples while demonstrating"
    return None


SCRIPTED_TELEOP = NodeProfile(
    node="gr00t_scripted_teleop",
    package="gr00t_sim",
    executable="scripted_teleop_node",
    parameters=lambda scratch: _section("scripted_teleop"),
    setup=_scripted_setup,
    feed=_scripted_feed,
    recover=_scripted_recover,
)


# ------------------------------------------------------------------ joy teleop
def _joy_setup(session: Session) -> None:
    from sensor_msgs.msg import JointState

    _watch(session, "leader", JointState, "/" + _stack().nodes["leader_teleop"]["leader_topic"])


def _joy_feed(session: Session) -> None:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Joy

    from gr00t_teleop.teleop.joy_mapping import JoyMappingConfig

    _feed_joint_states(session)
    if session.fuzzing != "/joy":
        config = JoyMappingConfig.from_dict(_section("joy_teleop"))
        msg = Joy(axes=[0.0] * config.min_axes, buttons=[0] * config.min_buttons)
        _publisher(session, "joy", Joy, "/joy", qos_profile_sensor_data).publish(_stamped(session, msg))


def _joy_recover(session: Session) -> str | None:
    from std_srvs.srv import Trigger

    response = session.call(session.node.create_client(Trigger, "gr00t_joy_teleop/resync"), Trigger.Request())
    if response is None or not response.success:
        return "~/resync did not answer"
    if not _count_grows(session, "leader", 20, RECOVERY_TIMEOUT_S):
        return "no leader samples after good joint states and Joy"
    return None


JOY_TELEOP = NodeProfile(
    node="gr00t_joy_teleop",
    package="gr00t_teleop",
    executable="joy_teleop_node",
    parameters=lambda scratch: _section("joy_teleop") if "joy_teleop" in _stack().nodes else {},
    setup=_joy_setup,
    feed=_joy_feed,
    recover=_joy_recover,
)


# ------------------------------------------------------------------ GR-1 bridge
# Against the fake grx server (fourier-grx-client's protocol over zenoh) on a loopback address of its
# own, with dry_run off: hostile joint commands reach the "robot", whose received commands are checked.
_BRIDGE_SERVER: list[Any] = []


def _bridge_parameters(scratch: Path) -> dict[str, Any]:
    import random

    from gr00t_description import load_stack
    from gr00t_gr1_bridge.fake_grx_server import FakeGrxServer

    ip = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    _BRIDGE_SERVER.append(FakeGrxServer(ip=ip, rate_hz=200.0))
    params = dict(load_stack("gr1t2_robot").node_parameters("gr1_bridge"))
    # The fake robot runs in the harness's own process, which generates examples between its 200 Hz
    # states: the real robot's 0.1 s state timeout would measure the harness, not the bridge.
    return {**params, "stack_config": "gr1t2_robot", "server_ip": ip, "dry_run": False, "state_timeout_s": 1.0}


def _bridge_setup(session: Session) -> None:
    from sensor_msgs.msg import JointState

    _watch(session, "joint_states_out", JointState, "/joint_states")


def _bridge_feed(session: Session) -> None:
    from sensor_msgs.msg import JointState

    if session.fuzzing == "/joint_command":
        return
    robot = _robot_stack().robot
    msg = JointState(name=list(robot.joint_names), position=[robot.joints[n].home for n in robot.joint_names])
    _publisher(session, "command", JointState, "/joint_command").publish(_stamped(session, msg))


def _robot_stack():
    from gr00t_description import load_stack

    return load_stack("gr1t2_robot")


def _bridge_recover(session: Session) -> str | None:
    from gr00t_interfaces.srv import SetEnabled

    client = session.node.create_client(SetEnabled, "gr00t_gr1_bridge/set_enabled")
    # The bridge refuses to enable while the robot's joint states are older than 0.1 s, and on a
    # loaded machine one such gap right after the fuzzing is the machine, not a wedged node: the
    # node must accept the request again once states flow, within the recovery time.
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    response = session.call(client, SetEnabled.Request(enable=True, reason="fuzz recovery"))
    while (response is None or not response.success) and time.monotonic() < deadline:
        time.sleep(0.5)
        response = session.call(client, SetEnabled.Request(enable=True, reason="fuzz recovery"))
    if response is None or not response.success:
        return f"set_enabled refused after the fuzzing: {response and response.message}"
    if not _count_grows(session, "joint_states_out", 20, RECOVERY_TIMEOUT_S):
        return "no joint_states from the bridge after the fuzzing"
    server = _BRIDGE_SERVER[-1]
    before = len(server.received_commands)
    if not session.wait_for(lambda: len(server.received_commands) > before + 10, 10.0):
        return "enabled, but no position commands reach the robot"
    return _robot_commands_problem(server)


def _robot_commands_problem(server: Any) -> str | None:
    """Every position command the fake robot received: finite and inside the joint limits."""
    stack = _robot_stack()
    motor_order = list(stack.node_parameters("gr1_bridge")["motor_order"])
    with server.lock:
        commands = [np.asarray(c, dtype=float) for c in server.received_commands]
    bad = 0
    for command in commands:
        for index, name in enumerate(motor_order[: len(command)]):
            value = np.deg2rad(command[index])
            joint = stack.robot.joints.get(name)
            if not np.isfinite(value) or (joint is not None and not joint.lower - 1e-6 <= value <= joint.upper + 1e-6):
                bad += 1
                break
    return f"the robot received {bad} of {len(commands)} commands non-finite or outside the limits" if bad else None


def _bridge_teardown() -> None:
    while _BRIDGE_SERVER:
        _BRIDGE_SERVER.pop().close()


BRIDGE = NodeProfile(
    node="gr00t_gr1_bridge",
    package="gr00t_gr1_bridge",
    executable="gr1_bridge_node",
    parameters=_bridge_parameters,
    setup=_bridge_setup,
    feed=_bridge_feed,
    feed_period_s=0.01,
    recover=_bridge_recover,
    teardown=_bridge_teardown,
)


PROFILES: dict[str, NodeProfile] = {
    p.node: p for p in (SIM, SYSTEM2, SYSTEM1, LEADER_TELEOP, RECORDER, SCRIPTED_TELEOP, JOY_TELEOP, BRIDGE)
}


def names_for(profile: NodeProfile) -> NodeProfile:
    """The profile with the stack's names as hints (computed late: it loads the stack)."""
    from dataclasses import replace

    return profile if profile.names else replace(profile, names=_names())
