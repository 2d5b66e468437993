"""Load the robot description and stack YAML files (the project's single source of truth).

Pure Python (PyYAML only) so that nodes, launch files, tests and offline tools read the same files.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PACKAGE_NAME = "gr00t_description"
DEFAULT_STACK = "gr1t2_sim"


class ConfigError(ValueError):
    """A description file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class JointSpec:
    """One controlled joint. `lower`/`upper` are the operating limits (URDF ∩ window)."""

    name: str
    lower: float
    upper: float
    urdf_lower: float
    urdf_upper: float
    max_velocity: float
    max_acceleration: float
    effort: float
    home: float


@dataclass(frozen=True)
class RobotConfig:
    name: str
    urdf_package: str
    urdf_relative_path: str
    groups: dict[str, tuple[str, ...]]
    joints: dict[str, JointSpec]

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(self.joints)

    def urdf_path(self) -> Path:
        """Absolute path of the URDF inside its Python package (e.g. fourier-robot-descriptions)."""
        spec = importlib.util.find_spec(self.urdf_package)
        if spec is None or spec.origin is None:
            raise ConfigError(
                f"robot {self.name!r}: URDF package {self.urdf_package!r} is not installed "
                f"(pip install fourier-robot-descriptions)"
            )
        path = Path(spec.origin).parent / self.urdf_relative_path
        if not path.is_file():
            raise ConfigError(f"robot {self.name!r}: URDF not found at {path}")
        return path

    def group_joints(self, groups: Sequence[str]) -> list[str]:
        """Joint names of `groups`, concatenated in the given group order."""
        names: list[str] = []
        for group in groups:
            if group not in self.groups:
                raise ConfigError(f"robot {self.name!r} has no joint group {group!r}")
            names.extend(self.groups[group])
        return names

    def home_positions(self, names: Sequence[str] | None = None) -> list[float]:
        return [self.joints[n].home for n in (names or self.joint_names)]


@dataclass(frozen=True)
class RespawnPolicy:
    """A node the launch starts again after it exits: after `delay_s`, at most `max_retries` times."""

    delay_s: float
    max_retries: int


@dataclass(frozen=True)
class StackConfig:
    path: Path
    robot: RobotConfig
    embodiment_tag: str
    data_config: str
    topics: dict[str, Any]
    services: dict[str, str]
    actions: dict[str, str]
    rates: dict[str, float]
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # `nodes` section name -> respawn policy; a node not listed here that exits ends the whole graph.
    respawn: dict[str, RespawnPolicy] = field(default_factory=dict)

    def camera_topics(self) -> dict[str, dict[str, str]]:
        """GR00T video key -> {'image': topic, 'camera_info': topic}, in model order."""
        return dict(self.topics.get("cameras", {}))

    def node_parameters(self, node: str) -> dict[str, Any]:
        """ROS parameters of `node`: its `nodes.<node>` section plus the config file paths.

        Launch files and `gr00t-launch` both pass exactly this dict, so the two cannot diverge.
        """
        params = dict(self.nodes.get(node, {}))
        params["stack_config"] = str(self.path)
        return params


def _require(mapping: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise ConfigError(f"{where}: missing key {key!r}")
    return mapping[key]


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _as_float(value: Any, where: str) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: expected a number, got {value!r}") from exc
    if not math.isfinite(result):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return result


def _parse_joint(name: str, raw: Mapping[str, Any], where: str) -> JointSpec:
    urdf = _require(raw, "urdf", where)
    window = raw.get("window", urdf)
    if len(urdf) != 2 or len(window) != 2:
        raise ConfigError(f"{where}: 'urdf' and 'window' must be [lower, upper]")
    urdf_lower, urdf_upper = (_as_float(v, where) for v in urdf)
    win_lower, win_upper = (_as_float(v, where) for v in window)
    lower, upper = max(urdf_lower, win_lower), min(urdf_upper, win_upper)
    if lower > upper:
        raise ConfigError(f"{where}: operating window {window} does not overlap URDF limits {urdf}")
    max_velocity = _as_float(_require(raw, "max_velocity", where), where)
    max_acceleration = _as_float(_require(raw, "max_acceleration", where), where)
    if max_velocity <= 0 or max_acceleration <= 0:
        raise ConfigError(f"{where}: max_velocity and max_acceleration must be > 0")
    home = _as_float(raw.get("home", 0.0), where)
    if not lower <= home <= upper:
        raise ConfigError(f"{where}: home {home} outside the operating limits [{lower}, {upper}]")
    return JointSpec(
        name=name,
        lower=lower,
        upper=upper,
        urdf_lower=urdf_lower,
        urdf_upper=urdf_upper,
        max_velocity=max_velocity,
        max_acceleration=max_acceleration,
        effort=_as_float(raw.get("effort", 0.0), where),
        home=home,
    )


def load_robot(path: str | os.PathLike[str]) -> RobotConfig:
    path = Path(path)
    data = _read_yaml(path)
    where = str(path)
    raw_joints = _require(data, "joints", where)
    joints = {name: _parse_joint(name, spec, f"{where}: joint {name}") for name, spec in raw_joints.items()}
    groups: dict[str, tuple[str, ...]] = {}
    for group, names in _require(data, "groups", where).items():
        unknown = [n for n in names if n not in joints]
        if unknown:
            raise ConfigError(f"{where}: group {group!r} names unknown joints {unknown}")
        groups[group] = tuple(names)
    urdf = _require(data, "urdf", where)
    return RobotConfig(
        name=str(_require(data, "name", where)),
        urdf_package=str(_require(urdf, "python_package", f"{where}: urdf")),
        urdf_relative_path=str(_require(urdf, "path", f"{where}: urdf")),
        groups=groups,
        joints=joints,
    )


def config_dir() -> Path:
    """The installed `share/gr00t_description/config` (ROS install) or the source tree's config."""
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory(PACKAGE_NAME)) / "config"
        if share.is_dir():
            return share
    except Exception:  # noqa: BLE001 - not in an ament environment: fall back to the source tree
        pass
    return Path(__file__).resolve().parent.parent / "config"


def default_stack_path(name: str = DEFAULT_STACK) -> Path:
    return config_dir() / f"{name}.yaml"


def installed_stacks() -> list[str]:
    """Names of the stack YAMLs in the installed config folder (what `stack:=<name>` accepts)."""
    return sorted(p.stem for p in config_dir().glob("*.yaml"))


def resolve_robot_path(stack_path: Path, robot: str) -> Path:
    """The robot description a stack names: an absolute path as is; a relative one beside the stack
    YAML first, then in the installed config folder, so a copy of a packaged stack kept anywhere
    still finds the packaged `robots/gr1t2.yaml` (a robot file next to the copy wins)."""
    path = Path(robot).expanduser()
    if path.is_absolute():
        return path
    candidates = [stack_path.parent / path, config_dir() / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{stack_path}: robot {robot!r} not found (looked in {', '.join(str(c) for c in candidates)})")


def _parse_respawn(raw: Any, nodes: Mapping[str, Any], where: str) -> dict[str, RespawnPolicy]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: respawn must map node sections to {{delay_s, max_retries}}")
    policies = {}
    for node, entry in raw.items():
        at = f"{where}: respawn.{node}"
        if node not in nodes:
            raise ConfigError(f"{at}: no such section under nodes ({sorted(nodes)})")
        delay_s = _as_float(_require(entry, "delay_s", at), f"{at}.delay_s")
        retries = _require(entry, "max_retries", at)
        # bool is an int in Python: `max_retries: yes` must not read as 1
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1 or delay_s < 0:
            raise ConfigError(f"{at}: needs delay_s >= 0 and an integer max_retries >= 1")
        policies[str(node)] = RespawnPolicy(delay_s=delay_s, max_retries=retries)
    return policies


def load_stack(path: str | os.PathLike[str] | None = None) -> StackConfig:
    """Load a stack file; `None` or '' = the default stack, a bare name = an installed stack."""
    if not path:
        path = default_stack_path()
    elif not str(path).endswith((".yaml", ".yml")) and os.sep not in str(path):
        path = default_stack_path(str(path))
    path = Path(path).expanduser().resolve()
    if not path.is_file() and path.parent == config_dir().resolve():
        raise ConfigError(f"config file not found: {path} (installed stacks: {', '.join(installed_stacks())})")
    data = _read_yaml(path)
    where = str(path)
    robot = load_robot(resolve_robot_path(path, str(_require(data, "robot", where))))
    embodiment = _require(data, "embodiment", where)
    rates = {k: _as_float(v, f"{where}: rates.{k}") for k, v in _require(data, "rates", where).items()}
    if any(v <= 0 for v in rates.values()):
        raise ConfigError(f"{where}: every rate must be > 0")
    return StackConfig(
        path=path,
        robot=robot,
        embodiment_tag=str(_require(embodiment, "tag", f"{where}: embodiment")),
        data_config=str(_require(embodiment, "data_config", f"{where}: embodiment")),
        topics=dict(_require(data, "topics", where)),
        services=dict(data.get("services", {})),
        actions=dict(data.get("actions", {})),
        rates=rates,
        nodes={k: dict(v or {}) for k, v in data.get("nodes", {}).items()},
        respawn=_parse_respawn(data.get("respawn"), data.get("nodes", {}), where),
    )
