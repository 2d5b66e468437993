"""One source of parameters: every node declares its parameters from one config dataclass
(``declare_config``), each field described and without a default, and each stack YAML's section
for the node holds exactly those fields: one value per parameter per deployment, nowhere else."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

from gr00t_description import load_stack
from gr00t_description.ros.parameters import config_fields

SRC = Path(__file__).resolve().parents[2]
PARAMETERS_MODULE = SRC / "gr00t_description" / "gr00t_description" / "ros" / "parameters.py"


def _product_modules() -> list[Path]:
    return sorted(p for p in SRC.glob("*/*/**/*.py") if "test" not in p.relative_to(SRC).parts[1:])


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).parts[1:]).removesuffix(".py").removesuffix(".__init__")


def _declarations() -> list[tuple[str, str, type]]:
    """(module, stack section, config dataclass) of every ``declare_config(node, stack, section, Config)``."""
    found = []
    for path in _product_modules():
        tree = ast.parse(path.read_text(), str(path))
        for call in ast.walk(tree):
            if not (
                isinstance(call, ast.Call)
                and getattr(call.func, "id", getattr(call.func, "attr", "")) == "declare_config"
                and len(call.args) >= 4
            ):
                continue
            module = importlib.import_module(_module_name(path))
            section_arg, class_arg = call.args[2], call.args[3]
            section = section_arg.value if isinstance(section_arg, ast.Constant) else _constant(tree, section_arg)
            found.append((module.__name__, section, getattr(module, class_arg.id)))
    return found


def _constant(tree: ast.AST, name: ast.AST) -> str:
    """The string a name (module constant, class attribute or local) is assigned in the file."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and any(
                getattr(target, "id", getattr(target, "attr", None)) == getattr(name, "id", getattr(name, "attr", ""))
                for target in node.targets
            )
        ):
            return node.value.value
    raise AssertionError(f"cannot resolve the section name {ast.unparse(name)}")


DECLARATIONS = _declarations()
STACKS = sorted((SRC / "gr00t_description" / "config").glob("*.yaml"))  # as committed, not as installed


def test_the_nodes_declare_their_parameters_from_config_dataclasses():
    assert len(DECLARATIONS) >= 8, DECLARATIONS  # System 1/2, sim, the teleop nodes, recorder, bridge, console
    sections = [section for _, section, _ in DECLARATIONS]
    assert len(sections) == len(set(sections)), f"one config dataclass per node: {sorted(sections)}"


@pytest.mark.parametrize("module, section, config", DECLARATIONS, ids=[d[1] for d in DECLARATIONS])
def test_every_field_is_described_and_has_no_default(module, section, config):
    fields = config_fields(config)  # raises on a default or a field without parameter(...) metadata
    assert dataclasses.is_dataclass(config) and fields
    for field, kind in fields:
        assert len(field.metadata["description"]) > 10, f"{config.__name__}.{field.name}: say what it means"
        if kind in (int, float):
            assert field.metadata["range"] is not None, f"{config.__name__}.{field.name}: a number needs a range"


@pytest.mark.parametrize("stack_path", STACKS, ids=[p.stem for p in STACKS])
def test_each_stack_section_holds_exactly_its_nodes_parameters(stack_path):
    stack = load_stack(stack_path)
    by_section = {section: config for _, section, config in DECLARATIONS}
    assert set(stack.nodes) <= set(by_section), f"sections no node reads: {set(stack.nodes) - set(by_section)}"
    for section, values in stack.nodes.items():
        expected = {field.name for field in dataclasses.fields(by_section[section])}
        assert set(values) == expected, (section, "missing", expected - set(values), "unknown", set(values) - expected)


def test_no_node_declares_a_parameter_by_hand():
    """Only ``gr00t_description.ros.parameters`` calls ``declare_parameter``: a hand-declared parameter
    would carry its own default and no description."""
    offenders = []
    for path in _product_modules():
        if path == PARAMETERS_MODULE:
            continue
        for call in ast.walk(ast.parse(path.read_text(), str(path))):
            func = call.func if isinstance(call, ast.Call) else None
            name = getattr(func, "attr", getattr(func, "id", ""))
            if name in ("declare_parameter", "declare_parameters", "declare_from_stack"):
                offenders.append(f"{path.relative_to(SRC)}:{call.lineno} {name}")
    assert not offenders, offenders
