"""The launch arguments of each launch file, as data (no `launch` import: CI checks them and the docs).

`launch_support` declares them (`ros2 launch ... --show-args` lists them with these descriptions)
and turns their values into the graph's options here, before any node starts; `gr00t-launch` offers
the same arguments as options (`--dry-run/--no-dry-run`, ...) through the same conversion.
docs/launch.md holds the table `markdown_table()` renders; a test keeps the two identical
(`python -m gr00t_bringup.arguments` prints it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gr00t_bringup.graph import DEFAULT_STACKS, LOG_LEVELS, PROFILES, GraphOptions

LAUNCH_FILES = {profile: f"{profile}.launch.py" for profile in PROFILES}

# The only spellings a boolean argument accepts, in any case: what launch's conditions
# (`IfCondition`) and the YAML that ROS parameters are parsed with both read as booleans. Anything
# else - `flase`, `maybe`, `no`, `1` - is refused instead of silently meaning false.
_TRUE, _FALSE = "true", "false"


class ArgumentError(ValueError):
    """A launch argument value that is not one of its accepted values."""


@dataclass(frozen=True)
class Argument:
    name: str
    description: str
    defaults: Mapping[str, str]  # launch profile -> default value; the profiles that declare it
    kind: str = "text"  # text | bool | optional_bool (true | false | '' = the stack YAML's) | float | choice
    choices: tuple[str, ...] = ()

    def default(self, profile: str) -> str:
        return self.defaults[profile]

    @property
    def help(self) -> str:
        """What `--show-args`, `gr00t-launch --help` and the docs table say."""
        if self.kind == "choice":
            return f"{self.description}; one of {', '.join(self.choices)}"
        return self.description


def _all(value: str) -> dict[str, str]:
    return {profile: value for profile in PROFILES}


def _only(value: str, *profiles: str) -> dict[str, str]:
    return {profile: value for profile in profiles}


ARGUMENTS: tuple[Argument, ...] = (
    Argument(
        "stack",
        "stack YAML: an installed name (gr00t_description/config) or a path; its relative "
        "`robot:` is looked up beside it, then in the installed config",
        dict(DEFAULT_STACKS),
    ),
    Argument(
        "params_file",
        "ROS 2 parameters YAML (`<node>: ros__parameters: {...}`) merged over the stack's "
        "node parameters ('' = none); a section matching no node, a value of the wrong type or a "
        "parameter a launch argument owns (dry_run, use_sim_time) is an error",
        _all(""),
    ),
    Argument("namespace", "ROS namespace of every node", _all("")),
    Argument(
        "log_level",
        "log level of every node (`--ros-args --log-level`; '' = ROS's default, info)",
        _all(""),
        "choice",
        LOG_LEVELS,
    ),
    Argument(
        "use_sim_time",
        "true/false: every node on /clock (published by the sim, or a bag replay)",
        _all("false"),
        "bool",
    ),
    Argument(
        "dry_run",
        "true/false: true = the commanding nodes (System 1 and the GR-1 bridge; in "
        "teleop_sim the leader teleop) compute but send no commands; '' = the stack YAML's value; "
        "robot.launch.py arms only on an explicit false",
        {"sim": "", "robot": "true", "teleop_sim": ""},
        "optional_bool",
    ),
    Argument(
        "model",
        "checkpoint directory, or Hugging Face repo id org/name[@revision] from the Hub cache, "
        "for System 2 and System 1 ('' = the stack's model_path; "
        "'' there = the bundled demo model)",
        _only("", "sim", "robot"),
    ),
    Argument(
        "backend",
        "System 1 backend ('' = the stack's)",
        _only("", "sim", "robot"),
        "choice",
        ("torch", "onnxruntime", "tensorrt"),
    ),
    Argument("mode", "System 1 mode ('' = the stack's)", _only("", "sim", "robot"), "choice", ("dual_rate", "fused")),
    Argument("instruction", "initial instruction of System 2 ('' = none until one is sent)", _only("", "sim", "robot")),
    Argument(
        "realtime_factor",
        "sim seconds per wall second: 1.0 real time, 0 as fast as possible ('' = the stack's)",
        _only("", "sim", "teleop_sim"),
        "float",
    ),
    Argument(
        "sim", "true/false: start the simulator (false: it runs elsewhere)", _only("true", "sim", "teleop_sim"), "bool"
    ),
    Argument(
        "system2", "true/false: start System 2 (false: it runs on another host)", _only("true", "sim", "robot"), "bool"
    ),
    Argument(
        "system1", "true/false: start System 1 (false: it runs on another host)", _only("true", "sim", "robot"), "bool"
    ),
    Argument(
        "gr1_bridge",
        "true/false: start the GR-1 bridge (the stack's nodes.gr1_bridge; false: another driver owns the robot)",
        _only("true", "robot"),
        "bool",
    ),
    Argument("recorder", "true/false: start the episode recorder", _only("true", "teleop_sim"), "bool"),
    Argument(
        "scripted_teleop",
        "true/false: the scripted demonstrator drives the teleop input",
        _only("false", "teleop_sim"),
        "bool",
    ),
    Argument(
        "console",
        "true/false: serve the browser console (gr00t_console; address, port and token: "
        "the stack's nodes.console, 127.0.0.1:8090 in the packaged stacks)",
        {"sim": "true", "robot": "false", "teleop_sim": "true"},
        "bool",
    ),
)

# The node switches among the arguments, by the stack section they switch.
NODE_SWITCHES = ("sim", "system2", "system1", "recorder")


def arguments_of(profile: str) -> list[Argument]:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; one of {PROFILES}")
    return [a for a in ARGUMENTS if profile in a.defaults]


def parse_bool(name: str, text: str, unset: str = "") -> bool:
    """`true` / `false` in any case; anything else is an ArgumentError naming the argument."""
    value = text.strip().lower()
    if value == _TRUE:
        return True
    if value == _FALSE:
        return False
    raise ArgumentError(f"launch argument {name}:={text!r} is not a boolean: use true or false{unset}")


def _value(argument: Argument, text: str):
    if argument.kind == "bool":
        return parse_bool(argument.name, text)
    if argument.kind == "optional_bool":
        return None if text == "" else parse_bool(argument.name, text, " ('' = the stack YAML's value)")
    if argument.kind == "choice" and text and text not in argument.choices:
        raise ArgumentError(f"launch argument {argument.name}:={text!r}: one of {', '.join(argument.choices)} (or '')")
    if argument.kind == "float" and text:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise ArgumentError(f"launch argument {argument.name}:={text!r}: a number >= 0 (or '')")
        return number
    return text


_NAMESPACE_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def normalize_namespace(text: str) -> str:
    """'' (the root) or the fully qualified namespace: `robot1` and `/robot1/` are `/robot1`.

    rcl refuses a relative `__ns` remap (the runner and each node process would fail to start with
    a lexer error); a name that is no ROS namespace is an ArgumentError saying why.
    """
    tokens = [t for t in text.strip().strip("/").split("/")] if text.strip().strip("/") else []
    if any(not _NAMESPACE_TOKEN.fullmatch(t) for t in tokens):
        raise ArgumentError(
            f"launch argument namespace:={text!r}: ROS names separated by '/' "
            "(letters, digits and '_', not starting with a digit)"
        )
    return "/" + "/".join(tokens) if tokens else ""


def resolve_arguments(profile: str, values: Mapping[str, str]) -> tuple[str, GraphOptions]:
    """The stack to load and the graph options from the launch argument values (strings, as
    `ros2 launch` gives them); ArgumentError for any value that is not one of its accepted values.
    An argument missing from `values` takes its default."""
    declared = {a.name: a for a in arguments_of(profile)}
    unknown = set(values) - set(declared)
    if unknown:
        raise ArgumentError(f"{LAUNCH_FILES[profile]} has no argument(s) {sorted(unknown)}")
    v = {name: _value(a, values.get(name, a.default(profile))) for name, a in declared.items()}
    disabled = frozenset(name for name in NODE_SWITCHES if name in v and v[name] is False)
    options = GraphOptions(
        model_path=v.get("model", ""),
        backend=v.get("backend", ""),
        mode=v.get("mode", ""),
        instruction=v.get("instruction", ""),
        use_sim_time=v["use_sim_time"],
        dry_run=v["dry_run"],
        realtime_factor=None if v.get("realtime_factor", "") == "" else v["realtime_factor"],
        gr1_bridge=v.get("gr1_bridge"),
        scripted_teleop=v.get("scripted_teleop", False),
        console=v["console"],
        disabled=disabled,
        params_file=v["params_file"],
        namespace=normalize_namespace(v["namespace"]),
        log_level=v["log_level"],
    )
    return v["stack"] or DEFAULT_STACKS[profile], options


def markdown_table() -> str:
    """The arguments table of docs/launch.md (one row per argument, the launch files that declare it)."""
    rows = ["| argument | declared by | default | accepted values and meaning |", "|---|---|---|---|"]
    for a in ARGUMENTS:
        files = ", ".join(f"`{LAUNCH_FILES[p]}`" for p in PROFILES if p in a.defaults)
        defaults = sorted(set(a.defaults.values()))
        if len(defaults) == 1:
            default = f"`{defaults[0]}`" if defaults[0] else "''"
        else:
            default = "; ".join(
                f"{p}: " + (f"`{a.defaults[p]}`" if a.defaults[p] else "''") for p in PROFILES if p in a.defaults
            )
        rows.append(f"| `{a.name}` | {files} | {default} | {a.help} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
