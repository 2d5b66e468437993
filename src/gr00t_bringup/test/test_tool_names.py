"""Each command-line tool exists once, named `gr00t-<verb>`: one script in its package's scripts/,
installed to lib/<pkg>/tools, where `ros2 run <pkg> gr00t-<verb>` finds it and which the package's
colcon hook puts on PATH. No console_scripts entry installs a second copy under another name."""

from __future__ import annotations

import ast
import os
import re
import shutil
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2]
TOOLS = {script.name: script for script in sorted(SRC.glob("*/scripts/gr00t-*"))}


def _ros2_run_lookup(package: str, executable: str) -> list[str]:
    """What `ros2 run` executes: executables named `executable` anywhere under <prefix>/lib/<package>
    (ros2pkg.api.get_executable_paths: a walk of that folder, hidden folders skipped)."""
    from ament_index_python import get_package_prefix

    found = []
    for folder, subfolders, files in os.walk(Path(get_package_prefix(package)) / "lib" / package):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        found += [
            str(Path(folder, name)) for name in files if name == executable and os.access(Path(folder, name), os.X_OK)
        ]
    return found


def test_tools_are_named_gr00t_verb_and_run_a_main():
    assert len(TOOLS) >= 10, sorted(TOOLS)
    for name, script in TOOLS.items():
        assert re.fullmatch(r"gr00t-[a-z]+(-[a-z]+)*", name), name
        assert re.search(r"^from \S+ import main$", script.read_text(), re.M), script
        assert os.access(script, os.X_OK), f"{script} is not executable"


def test_no_console_script_installs_a_tool_a_second_time():
    for setup in SRC.glob("*/setup.py"):
        for node in ast.walk(ast.parse(setup.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = re.fullmatch(r"\s*([\w.-]+)\s*=\s*[\w.]+:\w+\s*", node.value)
                assert not (match and match.group(1).startswith("gr00t")), f"{setup}: {node.value}"


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_a_tool_is_on_path_and_found_by_ros2_run_as_the_same_single_file(tool):
    package = TOOLS[tool].parents[1].name
    on_path = shutil.which(tool)
    assert on_path, f"{tool} not on PATH: build the workspace and source install/setup.bash"
    assert Path(on_path).parent.name == "tools" and Path(on_path).parents[1].name == package, on_path
    assert _ros2_run_lookup(package, tool) == [on_path]
