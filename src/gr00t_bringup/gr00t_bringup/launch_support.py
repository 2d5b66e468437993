"""Launch-file side of gr00t_bringup.graph (imports `launch`, available only on a ROS install).

Each launch file declares only its own arguments (gr00t_bringup.arguments, with descriptions for
`--show-args`). Their values are checked and the stack YAML and parameters file are read in one
OpaqueFunction before any node action exists, so a bad value (`dry_run:=flase`) ends the launch with
an error and exit code 1 and starts nothing.

Node exits follow the stack YAML's `respawn` policy, as gr00t-launch's supervisor does: a listed
node (System 2) is respawned by launch_ros up to its retries; any other node exiting, or a listed
one past its retries, shuts the launch down with a non-zero exit code and a log line naming the
node and its exit code (launch's own 'process has died' line does not stop anything).
"""

from __future__ import annotations

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events.process import ProcessExited
from launch.logging import get_logger
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from gr00t_bringup.arguments import ARGUMENTS, LAUNCH_FILES, arguments_of, resolve_arguments
from gr00t_bringup.graph import NodeSpec, build_graph
from gr00t_description import load_stack

_logger = get_logger("gr00t_bringup")


class NodeExitedError(RuntimeError):
    """A node whose exit ends the graph exited: launch logs this, shuts down and returns 1."""


def _exit_policy(spec: NodeSpec):
    exits = 0

    def on_exit(event: ProcessExited, context: LaunchContext):
        nonlocal exits
        if context.is_shutdown:
            return None  # Ctrl-C or another node's exit is already stopping the graph
        exits += 1
        respawn = spec.respawn
        if respawn is not None and exits <= respawn.max_retries:
            # launch_ros's own respawn (Node(respawn=True, ...)) starts it again; this only says so.
            _logger.warning(
                f"{spec.name} exited with code {event.returncode}: respawn {exits} of "
                f"{respawn.max_retries} in {respawn.delay_s:g} s"
            )
            return None
        why = f" after {respawn.max_retries} respawns" if respawn is not None else ""
        raise NodeExitedError(f"{spec.name} exited with code {event.returncode}{why}: shutting the graph down")

    return on_exit


def _setup(context: LaunchContext, profile: str):
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in arguments_of(profile)}
    # launch accepts any `name:=value` and ignores what nobody declared; say so for the arguments of
    # the other launch files (a warning, not an error: a parent launch file's own configurations
    # are visible here too and may share a name).
    for name in sorted(({a.name for a in ARGUMENTS} - set(values)) & set(context.launch_configurations)):
        _logger.warning(f"{LAUNCH_FILES[profile]} has no argument {name!r}: {name}:=... is ignored")
    stack_name, options = resolve_arguments(profile, values)
    specs = build_graph(load_stack(stack_name), profile, options)
    actions = []
    for spec in specs:
        respawn = spec.respawn
        node = Node(
            package=spec.package,
            executable=spec.executable,
            name=spec.name,
            namespace=options.namespace,
            parameters=[spec.parameters],
            ros_arguments=list(spec.ros_arguments) or None,
            output="screen",
            emulate_tty=True,
            respawn=respawn is not None,
            respawn_delay=respawn.delay_s if respawn is not None else None,
            respawn_max_retries=respawn.max_retries if respawn is not None else -1,
        )
        actions += [node, RegisterEventHandler(OnProcessExit(target_action=node, on_exit=_exit_policy(spec)))]
    return actions


def generate_profile_launch_description(profile: str) -> LaunchDescription:
    declared = [
        DeclareLaunchArgument(a.name, default_value=a.default(profile), description=a.help)
        for a in arguments_of(profile)
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_setup, args=[profile])])
