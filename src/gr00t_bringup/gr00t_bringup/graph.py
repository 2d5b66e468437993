"""The node graph of each bring-up profile, computed from the stack YAML.

`launch/*.launch.py` turn these specs into `launch_ros.actions.Node`s; `gr00t-launch` starts the very
same executables with the very same parameters as processes. Nothing about the graph is written twice.
Pure Python (no `launch` import), so CI checks it without a ROS install.

A node's parameters, lowest to highest precedence: its `nodes.<section>` of the stack YAML, then a
parameters overlay file (`params_file:=`, standard ROS 2 format), then the launch arguments.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gr00t_description import RespawnPolicy, StackConfig

# sim / robot: the policy stack (System 2 + System 1) on the simulated or the real GR-1.
# teleop_sim: the sim driven by a teleop input through the leader teleop's safety layer, with the
# episode recorder (demonstrations for fine-tuning); no policy.
POLICY_PROFILES = ("sim", "robot")
PROFILES = (*POLICY_PROFILES, "teleop_sim")

# The stack each profile loads when none is named. A robot launch never falls back to the
# simulator's stack: gr1t2_sim enables System 1 on start and has no bridge.
DEFAULT_STACKS = {"sim": "gr1t2_sim", "robot": "gr1t2_robot", "teleop_sim": "gr1t2_sim"}

# Stack YAML section -> ROS node name.
NODE_NAMES = {
    "sim": "gr00t_sim",
    "system2": "gr00t_system2",
    "system1": "gr00t_system1",
    "gr1_bridge": "gr00t_gr1_bridge",
    "leader_teleop": "gr00t_leader_teleop",
    "recorder": "gr00t_recorder",
    "scripted_teleop": "gr00t_scripted_teleop",
    "console": "gr00t_console",
}

# The browser console (gr00t_console) is served by default where the graph drives a simulator, not
# on the robot (GraphOptions.console).
CONSOLE_BY_DEFAULT = {"sim": True, "robot": False, "teleop_sim": True}

# Nodes a profile starts unless switched off (GraphOptions.disabled); the GR-1 bridge and the
# scripted teleop have their own switches (GraphOptions.gr1_bridge / scripted_teleop).
SWITCHABLE = {"sim": ("sim", "system2", "system1"), "robot": ("system2", "system1"), "teleop_sim": ("sim", "recorder")}

# Parameters only a launch argument sets, so that one switch arms the whole chain and the graph's
# clock and stack are the same for every node: an overlay file setting one of them is refused.
RESERVED_PARAMETERS = {
    "dry_run": "dry_run",
    "use_sim_time": "use_sim_time",
    "publish_clock": "use_sim_time",
    "stack_config": "stack",
}

# rcutils severities (`--ros-args --log-level`).
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


@dataclass(frozen=True)
class NodeSpec:
    package: str
    executable: str
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    # None: the node exiting shuts the whole graph down; else it is started again (stack YAML `respawn`).
    respawn: RespawnPolicy | None = None
    ros_arguments: tuple[str, ...] = ()  # after `--ros-args` (e.g. the log level)


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
    # `nodes.gr1_bridge` section (gr1t2_robot.yaml does); True = required (an error without one);
    # False = another driver owns the robot.
    gr1_bridge: bool | None = None
    # teleop_sim: also start the scripted demonstrator as the teleop input (synthetic demonstrations).
    scripted_teleop: bool = False
    # Serve the browser console (the stack's nodes.console). None = CONSOLE_BY_DEFAULT of the profile.
    console: bool | None = None
    # Stack sections of nodes not to start (SWITCHABLE), e.g. {"system2"} when it runs on another host.
    disabled: frozenset[str] = frozenset()
    # ROS 2 parameters file merged over the stack's node parameters ('' = none), matched against the
    # nodes' fully qualified names in `namespace`.
    params_file: str = ""
    namespace: str = ""
    log_level: str = ""  # one of LOG_LEVELS; '' = ROS's default
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)  # node name -> parameters, applied last


def build_graph(stack: StackConfig, profile: str, options: GraphOptions = GraphOptions()) -> list[NodeSpec]:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; one of {PROFILES}")
    unknown = set(options.disabled) - set(SWITCHABLE[profile])
    if unknown:
        raise ValueError(f"profile {profile!r} cannot switch off {sorted(unknown)}; only {SWITCHABLE[profile]}")
    if options.log_level and options.log_level not in LOG_LEVELS:
        raise ValueError(f"log level {options.log_level!r}: one of {LOG_LEVELS}")
    overlay = _Overlay(options.params_file, options.namespace) if options.params_file else None
    params = lambda key: _node_parameters(stack, key, overlay)  # noqa: E731
    if profile == "teleop_sim":
        nodes = _teleop_sim_nodes(stack, options, params)
    else:
        nodes = _policy_nodes(stack, profile, options, params)
    nodes = [n for n in nodes if n[0] not in options.disabled]
    console = options.console if options.console is not None else CONSOLE_BY_DEFAULT[profile]
    if console:
        if "console" not in stack.nodes:
            raise ValueError(
                f"{stack.path} has no nodes.console section: add one (see gr1t2_sim.yaml) or console false"
            )
        nodes.append(("console", "gr00t_console", "console_node", params("console")))
    if overlay is not None:
        overlay.check_all_used()
    return _with_common_parameters(stack, nodes, options)


def _policy_nodes(stack: StackConfig, profile: str, options: GraphOptions, params) -> list[tuple]:
    system2 = params("system2")
    system1 = params("system1")
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
        ("system2", "gr00t_policy", "system2_node", system2),
        ("system1", "gr00t_policy", "system1_node", system1),
    ]
    if profile == "sim":
        nodes.insert(0, _sim_node(options, params))
    with_bridge = options.gr1_bridge if options.gr1_bridge is not None else "gr1_bridge" in stack.nodes
    if profile == "robot" and with_bridge:
        if "gr1_bridge" not in stack.nodes:
            raise ValueError(
                f"{stack.path} has no nodes.gr1_bridge section: use a robot stack (gr1t2_robot), "
                "or gr1_bridge false when another driver owns the robot"
            )
        bridge = params("gr1_bridge")
        # One switch arms the whole chain: the bridge sends nothing either unless dry_run is false
        # (and even then only after its ~/set_enabled service is called).
        bridge["dry_run"] = system1["dry_run"]
        nodes.insert(0, ("gr1_bridge", "gr00t_gr1_bridge", "gr1_bridge_node", bridge))
    return nodes


def _sim_node(options: GraphOptions, params) -> tuple:
    sim = params("sim")
    for key in ("realtime_factor", "render_width", "render_height"):
        value = getattr(options, key)
        if value is not None:
            sim[key] = value
    sim["publish_clock"] = options.use_sim_time
    return ("sim", "gr00t_sim", "sim_node", sim)


def _teleop_sim_nodes(stack: StackConfig, options: GraphOptions, params) -> list[tuple]:
    leader = params("leader_teleop")
    leader.pop("mapping", None)  # a nested map, not a ROS parameter: the node reads it from the stack YAML
    if options.dry_run is not None:
        leader["dry_run"] = options.dry_run
    nodes = [
        _sim_node(options, params),
        ("leader_teleop", "gr00t_teleop", "leader_teleop_node", leader),
        ("recorder", "gr00t_teleop", "recorder_node", params("recorder")),
    ]
    if options.scripted_teleop:
        nodes.append(("scripted_teleop", "gr00t_sim", "scripted_teleop_node", params("scripted_teleop")))
    return nodes


def _node_parameters(stack: StackConfig, key: str, overlay: _Overlay | None) -> dict[str, Any]:
    params = stack.node_parameters(key)
    if overlay is not None:
        params.update(overlay.parameters_for(NODE_NAMES[key], params))
    return params


def _with_common_parameters(stack: StackConfig, nodes: list[tuple], options: GraphOptions) -> list[NodeSpec]:
    ros_arguments = ("--log-level", options.log_level) if options.log_level else ()
    result = []
    for key, package, executable, params in nodes:
        name = NODE_NAMES[key]
        params = dict(params)
        params.update(options.extra.get(name, {}))
        params["use_sim_time"] = options.use_sim_time
        result.append(NodeSpec(package, executable, name, params, stack.respawn.get(key), ros_arguments))
    return result


# --------------------------------------------------------------------------- parameters overlay
class _Overlay:
    """A ROS 2 parameters file (`<node>: ros__parameters: {...}`, as `--params-file` reads it).

    Section keys are node names matched against each node's fully qualified name the way rcl
    does: `gr00t_system1` = `/gr00t_system1`; `/robot1/gr00t_system1`; nested namespace maps
    (`robot1: gr00t_system1: ros__parameters:`); wildcards `*` (one name) and `**` (any number), e.g.
    `/**:` for every node or `/**/gr00t_system1:` in any namespace. A section naming the node
    exactly wins over wildcard sections. Errors instead of ROS's silence: a section no node of the
    graph matches (a misspelt node name), a parameter the named node does not have (the stack YAML
    lists every parameter of each node; a wildcard section sets a parameter only where a node has
    it), a value whose type differs from the stack YAML's value of that parameter (e.g.
    `dry_run: 'flase'`), and the parameters launch arguments own.
    """

    def __init__(self, path: str, namespace: str) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise ValueError(f"params_file {path!r}: no such file")
        try:
            data = yaml.safe_load(self.path.read_text())
        except yaml.YAMLError as exc:
            raise ValueError(f"params_file {self.path}: invalid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"params_file {self.path}: expected `<node name>: ros__parameters: {{...}}` sections")
        self.sections: list[tuple[str, dict[str, Any]]] = []
        self._collect(data, "")
        self._used: set[str] = set()
        self.namespace = "/" + namespace.strip("/") if namespace.strip("/") else ""

    def _collect(self, mapping: Mapping[str, Any], prefix: str) -> None:
        for key, value in mapping.items():
            name = f"{prefix}/{str(key).strip('/')}"
            if not isinstance(value, Mapping):
                raise ValueError(f"params_file {self.path}: {name!r} is not a node section (`ros__parameters:`)")
            if "ros__parameters" in value:
                parameters = value["ros__parameters"] or {}
                if not isinstance(parameters, Mapping) or len(value) != 1:
                    raise ValueError(f"params_file {self.path}: {name}: expected only `ros__parameters: {{...}}`")
                self.sections.append((name, dict(parameters)))
            else:
                self._collect(value, name)

    def _matches(self, pattern: str, fq_name: str) -> bool:
        regex = "".join(
            "(/[^/]+)*" if part == "**" else "/[^/]+" if part == "*" else "/" + re.escape(part)
            for part in pattern.strip("/").split("/")
        )
        return re.fullmatch(regex, fq_name) is not None

    def parameters_for(self, node_name: str, stack_params: Mapping[str, Any]) -> dict[str, Any]:
        fq_name = f"{self.namespace}/{node_name}"
        matching = [(p, v) for p, v in self.sections if self._matches(p, fq_name)]
        matching.sort(key=lambda section: "*" not in section[0])  # exact names last: they win
        merged: dict[str, Any] = {}
        for pattern, values in matching:
            self._used.add(pattern)
            for name, value in values.items():
                if name not in stack_params and name not in RESERVED_PARAMETERS:
                    if "*" in pattern:
                        continue  # `/**: num_threads: 2` sets it where a node has it
                    raise ValueError(
                        f"params_file {self.path}: {pattern}: {name}: {node_name} has no such parameter "
                        f"(its parameters: {sorted(stack_params)})"
                    )
                merged[name] = _checked_value(self.path, pattern, name, value, stack_params)
        return merged

    def check_all_used(self) -> None:
        unused = [p for p, _ in self.sections if p not in self._used]
        if unused:
            raise ValueError(
                f"params_file {self.path}: section(s) {unused} match no node of this graph "
                f"(namespace {self.namespace or '/'!r}; nodes are named {sorted(NODE_NAMES.values())})"
            )


def _checked_value(path: Path, section: str, name: str, value: Any, stack_params: Mapping[str, Any]) -> Any:
    where = f"params_file {path}: {section}: {name}"
    if name in RESERVED_PARAMETERS:
        raise ValueError(f"{where}: set by the launch argument {RESERVED_PARAMETERS[name]!r}, not in a parameters file")
    if isinstance(value, Mapping) or value is None:
        raise ValueError(f"{where}: {value!r} is not a ROS parameter value")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not finite")
    if name not in stack_params:
        return value  # stack_config: a path
    expected = stack_params[name]
    if isinstance(expected, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(expected, bool)
    elif isinstance(expected, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value  # `rate: 2` for a double parameter, as ROS users write it
    else:
        ok = isinstance(value, type(expected))
    if not ok:
        raise ValueError(
            f"{where}: {value!r} ({type(value).__name__}) where the stack YAML has {expected!r} "
            f"({type(expected).__name__})"
        )
    return value


def launch_arguments(profile: str) -> list[str]:
    """Names of the arguments `<profile>.launch.py` declares (their data: gr00t_bringup.arguments)."""
    from gr00t_bringup.arguments import arguments_of  # it imports this module

    return [argument.name for argument in arguments_of(profile)]
