"""The node graph of each bring-up profile, computed from the stack YAML.

`launch/*.launch.py` turn these specs into `launch_ros.actions.Node`s; `gr00t-launch` starts the very
same executables with the very same parameters as processes. Nothing about the graph is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gr00t_description import StackConfig

# sim / robot: the policy stack (System 2 + System 1) on the simulated or the real GR-1.
# teleop_sim: the sim driven by a teleop input through the leader teleop's safety layer, with the
# episode recorder (demonstrations for fine-tuning); no policy.
POLICY_PROFILES = ("sim", "robot")
PROFILES = (*POLICY_PROFILES, "teleop_sim")


@dataclass(frozen=True)
class NodeSpec:
    package: str
    executable: str
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphOptions:
    """Launch arguments shared by the launch files and the runner ('' / None = keep the YAML value)."""

    model_path: str = ""
    backend: str = ""
    mode: str = ""
    instruction: str = ""
    use_sim_time: bool = False
    dry_run: bool | None = None
    realtime_factor: float | None = None
    render_width: int | None = None
    render_height: int | None = None
    # robot profile: start the real GR-1 bridge (gr00t_gr1_bridge). None = when the stack YAML has a
    # `nodes.gr1_bridge` section (gr1t2_robot.yaml does); False = another driver owns the robot.
    gr1_bridge: bool | None = None
    # teleop_sim: also start the scripted demonstrator as the teleop input (synthetic demonstrations).
    scripted_teleop: bool = False
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)


def build_graph(stack: StackConfig, profile: str, options: GraphOptions = GraphOptions()) -> list[NodeSpec]:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; one of {PROFILES}")
    if profile == "teleop_sim":
        return _with_common_parameters(_teleop_sim_nodes(stack, options), options)
    system2 = stack.node_parameters("system2")
    system1 = stack.node_parameters("system1")
    if options.model_path:
        system2["model_path"] = system1["model_path"] = options.model_path
    if options.instruction:
        system2["instruction"] = options.instruction
    if options.backend:
        system1["backend"] = options.backend
    if options.mode:
        system1["mode"] = options.mode
    if options.dry_run is not None:
        system1["dry_run"] = options.dry_run
    elif profile == "robot":
        system1["dry_run"] = True  # a real robot moves only after an explicit `dry_run:=false`
    nodes = [
        NodeSpec("gr00t_policy", "system2_node", "gr00t_system2", system2),
        NodeSpec("gr00t_policy", "system1_node", "gr00t_system1", system1),
    ]
    if profile == "sim":
        nodes.insert(0, _sim_node(stack, options))
    if profile == "robot" and (options.gr1_bridge if options.gr1_bridge is not None else "gr1_bridge" in stack.nodes):
        bridge = stack.node_parameters("gr1_bridge")
        # One switch arms the whole chain: the bridge sends nothing either unless dry_run is false
        # (and even then only after its ~/set_enabled service is called).
        bridge["dry_run"] = system1["dry_run"]
        nodes.insert(0, NodeSpec("gr00t_gr1_bridge", "gr1_bridge_node", "gr00t_gr1_bridge", bridge))
    return _with_common_parameters(nodes, options)


def _sim_node(stack: StackConfig, options: GraphOptions) -> NodeSpec:
    sim = stack.node_parameters("sim")
    for key in ("realtime_factor", "render_width", "render_height"):
        value = getattr(options, key)
        if value is not None:
            sim[key] = value
    sim["publish_clock"] = options.use_sim_time
    return NodeSpec("gr00t_sim", "sim_node", "gr00t_sim", sim)


def _teleop_sim_nodes(stack: StackConfig, options: GraphOptions) -> list[NodeSpec]:
    leader = stack.node_parameters("leader_teleop")
    leader.pop("mapping", None)  # a nested map, not a ROS parameter: the node reads it from the stack YAML
    if options.dry_run is not None:
        leader["dry_run"] = options.dry_run
    nodes = [
        _sim_node(stack, options),
        NodeSpec("gr00t_teleop", "leader_teleop_node", "gr00t_leader_teleop", leader),
        NodeSpec("gr00t_teleop", "recorder_node", "gr00t_recorder", stack.node_parameters("recorder")),
    ]
    if options.scripted_teleop:
        nodes.append(
            NodeSpec("gr00t_sim", "scripted_teleop_node", "gr00t_scripted_teleop", stack.node_parameters("scripted_teleop"))
        )
    return nodes


def _with_common_parameters(nodes: list[NodeSpec], options: GraphOptions) -> list[NodeSpec]:
    result = []
    for spec in nodes:
        params = dict(spec.parameters)
        params.update(options.extra.get(spec.name, {}))
        params["use_sim_time"] = options.use_sim_time
        result.append(NodeSpec(spec.package, spec.executable, spec.name, params))
    return result
