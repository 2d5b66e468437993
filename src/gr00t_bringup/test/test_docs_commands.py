"""Every command the README and the docs show is checked against the code, so a renamed option,
tool, launch argument or message field breaks a test, not a user's first try.

Fenced `bash` blocks are checked in full (each option and value parsed by the tool's own argument
parser, without running it); the command table of docs/commands.md, whose cells are synopses with
placeholders, is checked for the tool and each `--option` it names. A command this test has no rule
for fails it: add the rule with the new documentation.

The docs themselves are kept short and whole: the README fits on a few screens, and every file under
docs/ is cited by some document (see `test_every_file_under_docs_is_cited`).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOCUMENTS = sorted(
    {
        REPO / "README.md",
        REPO / "CONTRIBUTING.md",
        REPO / "models/README.md",
        REPO / "docker/README.md",
        *REPO.glob("docs/**/*.md"),
        *REPO.glob("src/*/benchmarks/*.md"),
    }
)
# Other projects' tools shown in the docs for what users run around the stack; not ours to check.
EXTERNAL_TOOLS = {"colcon", "export", "ros2 security"}
# The reference table of every tool, one synopsis per row (checked option by option).
COMMAND_TABLE = "docs/commands.md"
README_MAX_LINES = 150


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser, unrecognized: list[str]) -> None:
        super().__init__()
        self.parser = parser
        self.unrecognized = unrecognized


@contextmanager
def _intercept_parser(parse: bool) -> Iterator[None]:
    """Stop a CLI's main() at its top-level parser (after parsing argv when `parse`): nothing runs."""
    original = argparse.ArgumentParser.parse_known_args
    entered = []

    def parse_known_args(parser, args=None, namespace=None):
        if entered:  # a subcommand's parser, called by the top-level one
            return original(parser, args, namespace)
        entered.append(parser)
        unrecognized = original(parser, args, namespace)[1] if parse else []
        raise _Parsed(parser, unrecognized)

    with mock.patch.object(argparse.ArgumentParser, "parse_known_args", parse_known_args):
        yield


def _tool_mains() -> dict[str, str]:
    """gr00t-* tool name -> module whose main() it runs (from the packages' scripts/)."""
    tools = {}
    for script in REPO.glob("src/*/scripts/gr00t-*"):
        match = re.search(r"^from (\S+) import main", script.read_text(), re.M)
        assert match, f"{script}: expected 'from MODULE import main'"
        tools[script.name] = match.group(1)
    return tools


def _parse_cli(module: str, argv: list[str], parse: bool = True) -> argparse.ArgumentParser:
    """module.main(argv) up to its parser; SystemExit = the parser rejected argv."""
    with _intercept_parser(parse):
        try:
            importlib.import_module(module).main(argv)
        except _Parsed as parsed:
            assert not parsed.unrecognized, f"unrecognized arguments {parsed.unrecognized}"
            return parsed.parser
    raise AssertionError(f"{module}.main() returned without parsing its arguments")


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    options = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                options |= _option_strings(sub)
    return options


def _console_scripts(package: str) -> set[str]:
    tree = ast.parse((REPO / "src" / package / "setup.py").read_text())
    entries = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    return {entry.split("=")[0].strip() for entry in entries if " = " in entry}


def _launch_arguments(launch_file: str) -> set[str]:
    from gr00t_bringup.graph import launch_arguments

    return set(launch_arguments(launch_file.removesuffix(".launch.py")))


def _message_class(type_name: str):
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def _check_fields(message, values: dict, where: str) -> None:
    fields = message.get_fields_and_field_types()
    for key, value in values.items():
        assert key in fields, f"{where}: {type(message).__name__} has no field {key!r} (fields: {sorted(fields)})"
        if isinstance(value, dict):
            _check_fields(getattr(message, key), value, f"{where}.{key}")


def _commands_in_blocks(text: str) -> list[str]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.extend(part.strip() for part in line.split("&&"))
    return commands


def _check_command(words: list[str], where: str, synopsis: bool = False) -> None:
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):  # VAR=value prefixes
        words = words[1:]
    head = words[0]
    if head in EXTERNAL_TOOLS or " ".join(words[:2]) in EXTERNAL_TOOLS:
        return
    if head == "tools/in_env.sh":
        assert (REPO / head).exists(), where
        return _check_command(words[1:], where, synopsis)
    if head == ".":
        assert words[1] in ("install/setup.sh", "install/setup.bash") or (REPO / words[1]).exists(), (
            f"{where}: {words[1]}"
        )
        return
    if head == "make":
        targets = set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), re.M))
        for word in words[1:]:
            assert "=" in word or word in targets, f"{where}: no make target {word!r}"
        return
    if head == "pip":
        assert (REPO / words[words.index("-r") + 1]).exists(), where
        return
    if head == "docker":
        files = [words[i + 1] for i, word in enumerate(words) if word == "-f"]
        for file in files:
            assert (REPO / file).exists(), f"{where}: {file}"
        if "--profile" in words:
            services = yaml.safe_load((REPO / files[0]).read_text())["services"].values()
            profiles = {p for service in services for p in service.get("profiles", [])}
            assert words[words.index("--profile") + 1] in profiles, where
        return
    if head == "pytest" or words[:3] == ["python", "-m", "pytest"]:
        paths = [
            word.split("::")[0] for word in words[1:] if not word.startswith("-") and word != "pytest" and word != "-m"
        ]
        for path in paths:
            assert (REPO / path).exists(), f"{where}: {path}"
        return
    if head == "ruff":  # the linter the suite runs (test_code_style.py), pinned in the requirements
        assert words[1] in ("check", "format") and (REPO / "ruff.toml").exists(), where
        assert "ruff==" in (REPO / "requirements-ros-host.txt").read_text(), where
        return
    if head == "python" and words[1].endswith(".py"):
        assert (REPO / words[1]).exists(), f"{where}: {words[1]}"
        return
    if head.endswith(".sh"):
        assert (REPO / head).exists(), f"{where}: {head}"
        return
    if head == "python" and words[1] == "-m":
        return _check_cli(words[2], words[2], words[3:], where, synopsis)
    if head.startswith("gr00t-"):
        tools = _tool_mains()
        assert head in tools, f"{where}: no tool {head!r} (scripts: {sorted(tools)})"
        return _check_cli(tools[head], head, words[1:], where, synopsis)
    if head == "ros2":
        return _check_ros2(words[1:], where, synopsis)
    raise AssertionError(f"{where}: no rule checks the documented command {' '.join(words)!r}")


def _check_cli(module: str, prog: str, argv: list[str], where: str, synopsis: bool) -> None:
    if synopsis:
        options = _option_strings(_parse_cli(module, argv, parse=False))
        unknown = {word.split("=")[0].strip("[]") for word in argv if word.lstrip("[").startswith("--")} - options
        assert not unknown, f"{where}: {prog} has no option(s) {sorted(unknown)}"
        return
    try:
        _parse_cli(module, argv)
    except SystemExit as exit_:
        raise AssertionError(f"{where}: {prog} rejects the documented arguments {argv}") from exit_


def _check_ros2(words: list[str], where: str, synopsis: bool) -> None:
    verb = words[0]
    if verb == "run":
        package, executable = words[1], words[2]
        assert executable in _console_scripts(package), f"{where}: {package} has no executable {executable}"
        for i, word in enumerate(words):
            if word == "-p":
                name = words[i + 1].split(":=")[0]
                sources = " ".join(p.read_text() for p in (REPO / "src" / package).rglob("*.py"))
                assert re.search(rf"\b{name}\b", sources), f"{where}: {executable} has no parameter {name}"
        return
    if verb == "launch":
        package, launch_file = words[1], words[2]
        assert (REPO / "src" / package / "launch" / launch_file).exists(), f"{where}: {launch_file}"
        declared = _launch_arguments(launch_file)
        for word in words[3:]:
            name = word.strip("[]").split(":=")[0]
            assert name in declared, f"{where}: {launch_file} declares no argument {name!r} ({sorted(declared)})"
        return
    if verb in ("action", "service"):
        type_name, values = words[3], yaml.safe_load(words[4])
        message = _message_class(type_name)
        payload = message.Goal() if verb == "action" else message.Request()
        _check_fields(payload, values, where)
        return
    raise AssertionError(f"{where}: no rule checks 'ros2 {verb}'")


def _documented_commands() -> list[tuple[str, list[str], bool]]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        name = str(document.relative_to(REPO))
        for command in _commands_in_blocks(text):
            found.append((f"{name}: {command}", shlex.split(command), False))
        if name == COMMAND_TABLE:
            for cell in re.findall(r"^\| (.*?) \|", text, re.M)[2:]:
                for snippet in re.findall(r"`([^`]+)`", cell):
                    if snippet.startswith("$("):
                        continue
                    words = snippet.replace("\\|", "|").replace("$(which ", "").replace(")", "").split()
                    if words[0] == "torchrun":
                        words = words[words.index("N") + 1 :]
                    found.append((f"{name} (table): {snippet}", words, True))
    return found


COMMANDS = _documented_commands()


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) > 30


@pytest.mark.parametrize("where,words,synopsis", COMMANDS, ids=[c[0][:90] for c in COMMANDS])
def test_documented_command(where: str, words: list[str], synopsis: bool) -> None:
    _check_command(words, where, synopsis)


def test_docs_never_point_at_the_team_folder() -> None:
    """A user's clone has no team reference folder beside it: no document may send them there."""
    offenders = [
        str(d.relative_to(REPO)) for d in DOCUMENTS if re.search(r"\.\./shared\b", d.read_text(encoding="utf-8"))
    ]
    assert not offenders


def test_the_command_table_lists_the_tools() -> None:
    tables = [c for c in COMMANDS if c[0].startswith(f"{COMMAND_TABLE} (table)")]
    assert len(tables) > 15, f"{COMMAND_TABLE} lost its command table"


def test_readme_is_short() -> None:
    """The README is what a newcomer reads in five minutes; details live in docs/."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"


def test_every_file_under_docs_is_cited() -> None:
    """Every file under docs/ (reports, images, layouts included) is cited, or it does not belong there.

    The rule: a file counts as cited when its path relative to the repository, its path relative to
    the citing document, or its file name appears in the text of README.md, CONTRIBUTING.md,
    models/README.md, docker/README.md or a Markdown file under docs/ other than itself. Being read
    by a test or written by a script alone is not enough: a report nobody quotes is named in
    docs/benchmarks.md (the index of reports) or docs/experiments/ (the history), or deleted (git
    history keeps it).
    """
    citing = {
        REPO / "README.md",
        REPO / "CONTRIBUTING.md",
        REPO / "models/README.md",
        REPO / "docker/README.md",
        *REPO.glob("docs/**/*.md"),
    }
    texts = {doc: doc.read_text(encoding="utf-8") for doc in citing if doc.is_file()}
    uncited = []
    for path in sorted(p for p in (REPO / "docs").rglob("*") if p.is_file()):
        names = {path.name, str(path.relative_to(REPO))}
        if not any(
            doc != path and any(name in text for name in names | {_relative(path, doc)}) for doc, text in texts.items()
        ):
            uncited.append(str(path.relative_to(REPO)))
    assert not uncited, f"files under docs/ that no document cites: {uncited}"


def _relative(path: Path, document: Path) -> str:
    return os.path.relpath(path, document.parent)
