"""The graph description shared by the launch files and gr00t-launch."""

import pytest

from gr00t_bringup.graph import GraphOptions, build_graph
from gr00t_description import load_stack


def test_sim_profile_has_sim_and_both_systems_with_stack_parameters():
    stack = load_stack()
    specs = build_graph(stack, "sim")
    assert [(s.package, s.executable, s.name) for s in specs] == [
        ("gr00t_sim", "sim_node", "gr00t_sim"),
        ("gr00t_policy", "system2_node", "gr00t_system2"),
        ("gr00t_policy", "system1_node", "gr00t_system1"),
        ("gr00t_console", "console_node", "gr00t_console"),  # the browser console: on in the simulator profiles
    ]
    for spec in specs:
        assert spec.parameters["stack_config"] == str(stack.path)
        assert spec.parameters["use_sim_time"] is False
    system1 = specs[2].parameters
    assert system1["backend"] == stack.nodes["system1"]["backend"]
    assert system1["dry_run"] is False


def test_robot_profile_has_no_sim_and_defaults_to_dry_run():
    specs = build_graph(load_stack(), "robot")
    assert [s.executable for s in specs] == ["system2_node", "system1_node"]
    assert specs[1].parameters["dry_run"] is True
    armed = build_graph(load_stack(), "robot", GraphOptions(dry_run=False))
    assert armed[1].parameters["dry_run"] is False


def test_options_override_the_yaml():
    options = GraphOptions(
        model_path="/models/x",
        backend="onnxruntime",
        mode="fused",
        instruction="wave",
        use_sim_time=True,
        realtime_factor=0.0,
    )
    specs = {s.name: s.parameters for s in build_graph(load_stack(), "sim", options)}
    assert specs["gr00t_system1"]["model_path"] == specs["gr00t_system2"]["model_path"] == "/models/x"
    assert specs["gr00t_system1"]["backend"] == "onnxruntime"
    assert specs["gr00t_system1"]["mode"] == "fused"
    assert specs["gr00t_system2"]["instruction"] == "wave"
    assert specs["gr00t_sim"]["realtime_factor"] == 0.0 and specs["gr00t_sim"]["publish_clock"] is True
    assert all(p["use_sim_time"] for p in specs.values())


def test_unknown_profile_is_rejected():
    with pytest.raises(ValueError, match="unknown profile"):
        build_graph(load_stack(), "moon")


def test_teleop_sim_profile_has_sim_leader_teleop_recorder_and_optionally_the_scripted_teleop():
    stack = load_stack()
    specs = build_graph(stack, "teleop_sim")
    assert [(s.package, s.executable) for s in specs] == [
        ("gr00t_sim", "sim_node"),
        ("gr00t_teleop", "leader_teleop_node"),
        ("gr00t_teleop", "recorder_node"),
        ("gr00t_console", "console_node"),
    ]
    for spec in specs:
        # Every value must be a ROS parameter (no nested maps: the leader mapping is read from the YAML).
        assert all(not isinstance(v, dict) for v in spec.parameters.values()), spec
    scripted = build_graph(stack, "teleop_sim", GraphOptions(scripted_teleop=True, dry_run=True, console=False))
    assert scripted[-1].executable == "scripted_teleop_node" and scripted[-1].package == "gr00t_sim"
    assert scripted[1].parameters["dry_run"] is True


# --------------------------------------------------------------------------- launch arguments
import ast  # noqa: E402
from pathlib import Path  # noqa: E402

import yaml  # noqa: E402

from gr00t_bringup.arguments import (  # noqa: E402
    ARGUMENTS,
    ArgumentError,
    arguments_of,
    markdown_table,
    resolve_arguments,
)
from gr00t_bringup.graph import PROFILES  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
BOOLEANS = [a.name for a in ARGUMENTS if a.kind in ("bool", "optional_bool")]


@pytest.mark.parametrize("text", ["flase", "maybe", "no", "yes", "on", "off", "1", "0", "y", "ture", " "])
@pytest.mark.parametrize("name", BOOLEANS)
def test_a_boolean_argument_refuses_anything_but_true_or_false(name, text):
    profile = next(p for p in PROFILES if p in next(a for a in ARGUMENTS if a.name == name).defaults)
    with pytest.raises(ArgumentError, match=f"{name}:=.*not a boolean: use true or false"):
        resolve_arguments(profile, {name: text})


@pytest.mark.parametrize(
    "text, value",
    [("true", True), ("True", True), ("TRUE", True), ("false", False), ("False", False), ("FALSE", False)],
)
def test_true_and_false_in_any_case_are_booleans(text, value):
    _stack, options = resolve_arguments("robot", {"dry_run": text, "use_sim_time": text})
    assert options.dry_run is value and options.use_sim_time is value


def test_misspelt_dry_run_no_longer_arms_the_robot():
    """`dry_run:=flase` used to read as False and arm System 1 and the bridge."""
    with pytest.raises(ArgumentError):
        resolve_arguments("robot", {"dry_run": "flase"})
    stack, options = resolve_arguments("robot", {})
    specs = {s.name: s.parameters for s in build_graph(load_stack(stack), "robot", options)}
    assert specs["gr00t_system1"]["dry_run"] is True and specs["gr00t_gr1_bridge"]["dry_run"] is True
    stack, options = resolve_arguments("robot", {"dry_run": "false"})
    armed = {s.name: s.parameters for s in build_graph(load_stack(stack), "robot", options)}
    assert armed["gr00t_system1"]["dry_run"] is False and armed["gr00t_gr1_bridge"]["dry_run"] is False


def test_robot_launch_loads_the_robot_stack_not_the_simulators():
    stack_name, options = resolve_arguments("robot", {"model": "/models/GR00T-N1-2B", "dry_run": "false"})
    assert stack_name == "gr1t2_robot"
    stack = load_stack(stack_name)
    specs = {s.name: s.parameters for s in build_graph(stack, "robot", options)}
    assert list(specs) == ["gr00t_gr1_bridge", "gr00t_system2", "gr00t_system1"]
    # The robot stack's own conservative settings, not the simulator's (enable on start, enable on goal).
    assert specs["gr00t_system1"]["enable_on_start"] is False and specs["gr00t_system1"]["enable_on_goal"] is False
    assert specs["gr00t_system1"]["stack_config"].endswith("gr1t2_robot.yaml")
    sim_stack, _ = resolve_arguments("sim", {})
    assert sim_stack == "gr1t2_sim"


def test_the_robot_profile_refuses_to_start_a_bridge_the_stack_does_not_configure():
    _stack, options = resolve_arguments("robot", {"gr1_bridge": "true"})
    with pytest.raises(ValueError, match="no nodes.gr1_bridge section"):
        build_graph(load_stack("gr1t2_sim"), "robot", options)
    _stack, options = resolve_arguments("robot", {"gr1_bridge": "false"})
    assert [s.name for s in build_graph(load_stack("gr1t2_sim"), "robot", options)] == [
        "gr00t_system2",
        "gr00t_system1",
    ]


def test_each_launch_file_declares_only_the_arguments_it_uses():
    names = {p: {a.name for a in arguments_of(p)} for p in PROFILES}
    assert {"realtime_factor", "sim", "scripted_teleop", "recorder"}.isdisjoint(names["robot"])
    assert {"model", "backend", "mode", "instruction", "system1", "system2", "gr1_bridge"}.isdisjoint(
        names["teleop_sim"]
    )
    assert {"gr1_bridge", "scripted_teleop", "recorder"}.isdisjoint(names["sim"])
    for profile in PROFILES:
        assert {"stack", "params_file", "namespace", "log_level", "use_sim_time", "dry_run"} <= names[profile]
    for argument in ARGUMENTS:
        assert len(argument.help) > 20, argument  # shown by `ros2 launch ... --show-args`
    with pytest.raises(ArgumentError, match="robot.launch.py has no argument"):
        resolve_arguments("robot", {"realtime_factor": "0"})


def test_every_argument_changes_the_graph():
    """No declared argument is silently ignored: each one changes the specs (or the stack loaded)."""
    samples = {
        "stack": "gr1t2_robot",
        "namespace": "robot1",
        "log_level": "debug",
        "use_sim_time": "true",
        "dry_run": "true",
        "model": "/models/x",
        "backend": "onnxruntime",
        "mode": "fused",
        "instruction": "wave",
        "realtime_factor": "0",
        "sim": "false",
        "system2": "false",
        "system1": "false",
        "gr1_bridge": "false",
        "recorder": "false",
        "scripted_teleop": "true",
        "console": "false",
    }
    for profile in PROFILES:
        base_stack, base = resolve_arguments(profile, {})
        baseline = build_graph(load_stack(base_stack), profile, base)
        for argument in arguments_of(profile):
            if argument.name == "params_file" or samples[argument.name] == argument.default(profile):
                continue
            stack, options = resolve_arguments(profile, {argument.name: samples[argument.name]})
            if argument.name == "namespace":
                assert options.namespace == "/robot1"  # applied by the launch / the runner to every node
                continue
            changed = stack != base_stack or build_graph(load_stack(stack), profile, options) != baseline
            assert changed, (profile, argument.name)


@pytest.mark.parametrize(
    "name, text",
    [
        ("backend", "pytorch"),
        ("mode", "fast"),
        ("log_level", "verbose"),
        ("realtime_factor", "-1"),
        ("realtime_factor", "fast"),
        ("realtime_factor", "nan"),
        ("namespace", "robot 1"),
        ("namespace", "1robot"),
        ("namespace", "robot1//arm"),
    ],
)
def test_other_arguments_refuse_values_outside_their_choices(name, text):
    with pytest.raises(ArgumentError, match=name):
        resolve_arguments("sim", {name: text})


@pytest.mark.parametrize(
    "text, namespace",
    [("", ""), ("/", ""), ("robot1", "/robot1"), ("/robot1/", "/robot1"), ("site_a/robot1", "/site_a/robot1")],
)
def test_a_namespace_is_fully_qualified_for_rcl(text, namespace):
    assert resolve_arguments("sim", {"namespace": text})[1].namespace == namespace


def test_the_docs_table_is_the_declarations():
    text = (REPO / "docs/launch.md").read_text()
    begin, end = "<!-- launch-arguments:begin -->\n", "\n<!-- launch-arguments:end -->"
    assert begin in text and end in text
    documented = text.split(begin, 1)[1].split(end, 1)[0].strip()
    assert documented == markdown_table(), "run `python -m gr00t_bringup.arguments` and paste its table"
    assert "docs/launch.md" in (REPO / "README.md").read_text()


def test_each_launch_file_builds_its_own_profile():
    for profile in PROFILES:
        tree = ast.parse((REPO / f"src/gr00t_bringup/launch/{profile}.launch.py").read_text())
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "generate_profile_launch_description"
        ]
        assert [c.args[0].value for c in calls] == [profile]


def test_log_level_goes_to_every_node_as_a_ros_argument():
    _stack, options = resolve_arguments("sim", {"log_level": "debug"})
    assert {s.ros_arguments for s in build_graph(load_stack(), "sim", options)} == {("--log-level", "debug")}
    assert {s.ros_arguments for s in build_graph(load_stack(), "sim")} == {()}


def test_node_switches_leave_nodes_out():
    _stack, options = resolve_arguments("sim", {"system2": "false", "sim": "false", "console": "false"})
    assert [s.name for s in build_graph(load_stack(), "sim", options)] == ["gr00t_system1"]
    _stack, options = resolve_arguments("teleop_sim", {"recorder": "False", "scripted_teleop": "True"})
    assert [s.name for s in build_graph(load_stack(), "teleop_sim", options)] == [
        "gr00t_sim",
        "gr00t_leader_teleop",
        "gr00t_scripted_teleop",
        "gr00t_console",
    ]
    with pytest.raises(ValueError, match="cannot switch off"):
        build_graph(load_stack(), "robot", GraphOptions(disabled=frozenset({"sim"})))


def test_only_system2_respawns_in_the_packaged_stacks():
    for stack_name, profile in (("gr1t2_sim", "sim"), ("gr1t2_robot", "robot"), ("gr1t2_sim", "teleop_sim")):
        specs = build_graph(load_stack(stack_name), profile)
        policies = {s.name: s.respawn for s in specs}
        for name, policy in policies.items():
            if name == "gr00t_system2":
                assert policy is not None and policy.max_retries >= 1 and policy.delay_s > 0
            else:
                assert policy is None, name  # its exit ends the graph


# --------------------------------------------------------------------------- parameters overlay
def _params_file(tmp_path, content) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(content) if not isinstance(content, str) else content)
    return str(path)


def test_a_params_file_is_merged_over_the_stack_and_launch_arguments_win(tmp_path):
    params = _params_file(
        tmp_path,
        """
gr00t_system1:
  ros__parameters:
    backend: onnxruntime
    goal_timeout_s: 2          # an int for a double parameter, as ROS users write it
    gil_switch_interval_s: 0.001
/**:
  ros__parameters:
    num_threads: 2
""",
    )
    specs = {s.name: s.parameters for s in build_graph(load_stack(), "sim", GraphOptions(params_file=params))}
    system1 = specs["gr00t_system1"]
    assert system1["backend"] == "onnxruntime" and system1["goal_timeout_s"] == 2.0
    assert isinstance(system1["goal_timeout_s"], float) and system1["gil_switch_interval_s"] == 0.001
    assert system1["num_threads"] == specs["gr00t_system2"]["num_threads"] == 2
    assert "num_threads" not in specs["gr00t_sim"]  # a wildcard section sets it only where a node has it
    assert system1["chunk_switch"] == load_stack().nodes["system1"]["chunk_switch"]  # the rest: the stack's
    _stack, options = resolve_arguments("sim", {"params_file": params, "backend": "torch"})
    assert {s.name: s.parameters for s in build_graph(load_stack(), "sim", options)}["gr00t_system1"][
        "backend"
    ] == "torch"


def test_a_params_file_matches_fully_qualified_names_in_the_namespace(tmp_path):
    content = {
        "robot1": {"gr00t_system1": {"ros__parameters": {"mode": "fused"}}},
        "/**/gr00t_system2": {"ros__parameters": {"device": "cuda"}},
    }
    options = GraphOptions(params_file=_params_file(tmp_path, content), namespace="/robot1")
    specs = {s.name: s.parameters for s in build_graph(load_stack(), "sim", options)}
    assert specs["gr00t_system1"]["mode"] == "fused" and specs["gr00t_system2"]["device"] == "cuda"
    with pytest.raises(ValueError, match=r"\['/robot1/gr00t_system1'\] match no node"):
        build_graph(load_stack(), "sim", GraphOptions(params_file=options.params_file))


@pytest.mark.parametrize(
    "content, match",
    [
        ({"gr00t_sytem1": {"ros__parameters": {"backend": "torch"}}}, "match no node"),
        ({"gr00t_system1": {"ros__parameters": {"goal_timeout": 2.0}}}, "gr00t_system1 has no such parameter"),
        ({"gr00t_system1": {"ros__parameters": {"dry_run": False}}}, "launch argument 'dry_run'"),
        ({"/**": {"ros__parameters": {"use_sim_time": True}}}, "launch argument 'use_sim_time'"),
        ({"gr00t_system1": {"ros__parameters": {"enable_on_start": "flase"}}}, "'flase' \\(str\\) where the stack"),
        ({"gr00t_system1": {"ros__parameters": {"num_threads": 1.5}}}, "1.5 \\(float\\)"),
        ({"gr00t_system1": {"ros__parameters": {"backend": 5}}}, "5 \\(int\\)"),
        ({"gr00t_system1": {"ros__parameters": {"enable_on_start": 1}}}, "1 \\(int\\)"),
        ({"gr00t_system1": {"ros__parameters": {"chunk_switch": {"a": 1}}}}, "not a ROS parameter value"),
        ({"gr00t_system1": {"backend": "torch"}}, "not a node section"),
        ("[1, 2]", "expected `<node name>: ros__parameters"),
    ],
)
def test_a_bad_params_file_is_an_error_before_anything_starts(tmp_path, content, match):
    with pytest.raises(ValueError, match=match):
        build_graph(load_stack(), "sim", GraphOptions(params_file=_params_file(tmp_path, content)))


def test_a_missing_params_file_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        build_graph(load_stack(), "sim", GraphOptions(params_file=str(tmp_path / "nope.yaml")))
