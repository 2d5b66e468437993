"""Relative names everywhere: a graph launched under a namespace (two robots on one network) must
not have a node or tool reach outside it. Every topic, service and action name given as a literal
to rclpy in the product code is relative, except the few that are global by ROS convention."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2]
# Global by convention: one diagnostics aggregator, one clock, one TF tree per ROS domain.
GLOBAL_NAMES = {"/diagnostics", "/clock", "/tf", "/tf_static", "/rosout", "/parameter_events"}
# The name argument's position in each rclpy call that takes one.
NAME_ARGUMENT = {
    "create_publisher": 1,
    "create_subscription": 1,
    "create_client": 1,
    "create_service": 1,
    "ActionClient": 2,
    "ActionServer": 2,
}


def _absolute_names(path: Path, root: Path = SRC) -> list[str]:
    found = []
    for call in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(call, ast.Call):
            continue
        function = getattr(call.func, "attr", getattr(call.func, "id", ""))
        position = NAME_ARGUMENT.get(function)
        if position is None or len(call.args) <= position:
            continue
        name = call.args[position]
        text = name.value if isinstance(name, ast.Constant) else None
        if isinstance(name, ast.JoinedStr) and name.values and isinstance(name.values[0], ast.Constant):
            text = name.values[0].value  # f"/{...}": the leading part decides
        if isinstance(text, str) and text.startswith("/") and text not in GLOBAL_NAMES:
            found.append(f"{path.relative_to(root)}:{call.lineno} {function}({text!r})")
    return found


def test_product_code_uses_relative_names():
    product = [p for p in SRC.glob("*/*/**/*.py") if "test" not in p.relative_to(SRC).parts[1:]]
    offenders = [line for path in sorted(product) for line in _absolute_names(path)]
    assert not offenders, offenders


def test_the_check_finds_an_absolute_name(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        'node.create_client(Trigger, "/gr00t_recorder/cancel")\n'
        'node.create_publisher(T, "/diagnostics", 1)\n'
        'node.create_subscription(T, f"/{robot}/joint_states", cb, 1)\n'
        'node.create_subscription(T, "joint_states", cb, 1)\n'
    )
    found = [line.split(" ", 1)[1] for line in _absolute_names(sample, tmp_path)]
    assert found == ["create_client('/gr00t_recorder/cancel')", "create_subscription('/')"]
