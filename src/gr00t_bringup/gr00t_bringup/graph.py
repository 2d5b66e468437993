"""The node graph of each bring-up profile, computed from the stack YAML.

`launch/*.launch.py` turn these specs into `launch_ros.actions.Node`s; `gr00t-launch` starts the very
same executables with the very same parameters as processes. Nothing about the graph is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gr00t_description import StackConfig

PROFILES = ("sim", "robot")


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
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)


def build_graph(stack: StackConfig, profile: str, options: GraphOptions = GraphOptions()) -> list[NodeSpec]:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; one of {PROFILES}")
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
        sim = stack.node_parameters("sim")
        for key in ("realtime_factor", "render_width", "render_height"):
            value = getattr(options, key)
            if value is not None:
                sim[key] = value
        sim["publish_clock"] = options.use_sim_time
        nodes.insert(0, NodeSpec("gr00t_sim", "sim_node", "gr00t_sim", sim))
    if profile == "robot" and (options.gr1_bridge if options.gr1_bridge is not None else "gr1_bridge" in stack.nodes):
        bridge = stack.node_parameters("gr1_bridge")
        # One switch arms the whole chain: the bridge sends nothing either unless dry_run is false
        # (and even then only after its ~/set_enabled service is called).
        bridge["dry_run"] = system1["dry_run"]
        nodes.insert(0, NodeSpec("gr00t_gr1_bridge", "gr1_bridge_node", "gr00t_gr1_bridge", bridge))
    result = []
    for spec in nodes:
        params = dict(spec.parameters)
        params.update(options.extra.get(spec.name, {}))
        params["use_sim_time"] = options.use_sim_time
        result.append(NodeSpec(spec.package, spec.executable, spec.name, params))
    return result
