"""Launch-file side of gr00t_bringup.graph (imports `launch`, available only on a ROS install)."""

from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from gr00t_bringup.graph import GraphOptions, build_graph
from gr00t_description import load_stack

ARGUMENTS = {
    "stack": ("gr1t2_sim", "stack YAML: an installed name (gr00t_description/config) or a path"),
    "namespace": ("", "ROS namespace for every node"),
    "model": ("", "checkpoint directory ('' = the bundled demo model)"),
    "backend": ("", "System 1 backend: torch | onnxruntime | tensorrt ('' = from the stack YAML)"),
    "mode": ("", "System 1 mode: dual_rate | fused ('' = from the stack YAML)"),
    "instruction": ("", "initial instruction for System 2"),
    "use_sim_time": ("false", "use /clock (set true with a sim publishing /clock or bag replay)"),
    "dry_run": ("", "true: publish chunks but send no commands ('' = sim false, robot true)"),
    "realtime_factor": ("", "sim only: 1.0 real time, 0 as fast as possible"),
    "scripted_teleop": ("false", "teleop_sim only: the scripted demonstrator drives the teleop input"),
}


def _bool_or_none(text: str) -> bool | None:
    if text == "":
        return None
    return text.lower() in ("1", "true", "yes", "on")


def _setup(context: LaunchContext, profile: str):
    value = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    options = GraphOptions(
        model_path=value["model"],
        backend=value["backend"],
        mode=value["mode"],
        instruction=value["instruction"],
        use_sim_time=bool(_bool_or_none(value["use_sim_time"])),
        dry_run=_bool_or_none(value["dry_run"]),
        realtime_factor=float(value["realtime_factor"]) if value["realtime_factor"] else None,
        scripted_teleop=bool(_bool_or_none(value["scripted_teleop"])),
    )
    stack = load_stack(value["stack"])
    return [
        Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=value["namespace"],
            parameters=[spec.parameters],
            output="screen",
            emulate_tty=True,
        )
        for spec in build_graph(stack, profile, options)
    ]


def generate_profile_launch_description(profile: str) -> LaunchDescription:
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in ARGUMENTS.items()
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_setup, args=[profile])])
