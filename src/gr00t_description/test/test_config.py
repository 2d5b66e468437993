from pathlib import Path

import pytest
import yaml

from gr00t_description import ConfigError, load_stack


def test_default_stack_loads_with_all_groups():
    stack = load_stack()
    robot = stack.robot
    assert robot.name == "gr1t2"
    assert len(robot.joints) == 32
    assert [len(robot.groups[g]) for g in ("left_arm", "right_arm", "left_hand", "right_hand", "waist", "neck")] == [
        7,
        7,
        6,
        6,
        3,
        3,
    ]
    assert stack.embodiment_tag == "gr1" and stack.data_config == "gr1_arms_only"
    assert stack.rates["command_hz"] == 120.0 and stack.rates["system2_hz"] == 10.0


def test_operating_limits_are_the_intersection_of_urdf_and_window():
    joint = load_stack().robot.joints["left_shoulder_pitch_joint"]
    assert (joint.urdf_lower, joint.urdf_upper) == (-2.79, 1.92)
    assert (joint.lower, joint.upper) == (-2.27, 0.3)
    hand = load_stack().robot.joints["L_index_proximal_joint"]
    assert hand.max_velocity > 0  # the URDF's 0 would freeze the hands


def test_limits_match_the_urdf_file():
    import xml.etree.ElementTree as ET

    robot = load_stack().robot
    urdf = ET.parse(robot.urdf_path()).getroot()
    limits = {j.get("name"): j.find("limit") for j in urdf.findall("joint") if j.find("limit") is not None}
    for name, spec in robot.joints.items():
        assert float(limits[name].get("lower")) == pytest.approx(spec.urdf_lower), name
        assert float(limits[name].get("upper")) == pytest.approx(spec.urdf_upper), name


def test_node_parameters_carry_the_stack_path():
    stack = load_stack()
    params = stack.node_parameters("system1")
    assert params["stack_config"] == str(stack.path)
    assert params["backend"] == "torch"


def _write_stack(tmp_path: Path, joint_override: dict) -> Path:
    source = load_stack().path
    robot = yaml.safe_load((source.parent / "robots/gr1t2.yaml").read_text())
    robot["joints"]["waist_yaw_joint"].update(joint_override)
    (tmp_path / "robots").mkdir()
    (tmp_path / "robots/gr1t2.yaml").write_text(yaml.safe_dump(robot))
    stack = tmp_path / "stack.yaml"
    stack.write_text(source.read_text())
    return stack


@pytest.mark.parametrize(
    "override, match",
    [
        ({"window": [2.0, 3.0]}, "does not overlap"),
        ({"max_velocity": 0}, "must be > 0"),
        ({"home": 1.0}, "outside the operating limits"),
        ({"max_velocity": "fast"}, "expected a number"),
    ],
)
def test_bad_joint_entries_are_clear_errors(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match):
        load_stack(_write_stack(tmp_path, override))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_stack(tmp_path / "nope.yaml")


def test_a_copy_of_a_packaged_stack_kept_elsewhere_finds_the_packaged_robot(tmp_path):
    """`robot: robots/gr1t2.yaml` is looked up beside the YAML, then in the installed config."""
    from gr00t_description.config import config_dir

    copy = tmp_path / "my_robot_stack.yaml"
    copy.write_text(load_stack("gr1t2_robot").path.read_text())
    stack = load_stack(copy)
    assert stack.path == copy and stack.robot.name == "gr1t2"
    assert len(stack.robot.joints) == len(load_stack().robot.joints)
    # A robot file beside the copy wins over the installed one.
    robot = yaml.safe_load((config_dir() / "robots/gr1t2.yaml").read_text())
    robot["name"] = "my_gr1"
    (tmp_path / "robots").mkdir()
    (tmp_path / "robots/gr1t2.yaml").write_text(yaml.safe_dump(robot))
    assert load_stack(copy).robot.name == "my_gr1"


def test_a_robot_found_nowhere_names_both_places(tmp_path):
    stack = tmp_path / "stack.yaml"
    stack.write_text(load_stack().path.read_text().replace("robots/gr1t2.yaml", "robots/nope.yaml"))
    with pytest.raises(ConfigError, match=r"robot 'robots/nope.yaml' not found \(looked in .*, .*\)"):
        load_stack(stack)


def test_an_unknown_installed_stack_lists_the_installed_ones():
    with pytest.raises(ConfigError, match="config file not found.*installed stacks: .*gr1t2_robot, gr1t2_sim"):
        load_stack("gr1t2_moon")


def test_respawn_policies_are_read_and_checked(tmp_path):
    assert load_stack().respawn["system2"].max_retries == 3
    source = load_stack().path.read_text()
    for bad, match in (
        ("system3: {delay_s: 1.0, max_retries: 2}", "no such section"),
        ("system2: {delay_s: -1.0, max_retries: 2}", "delay_s >= 0"),
        ("system2: {delay_s: 1.0, max_retries: yes}", "integer max_retries"),
        ("system2: {delay_s: 1.0}", "missing key 'max_retries'"),
    ):
        stack = tmp_path / "stack.yaml"
        stack.write_text(source.replace("system2: {delay_s: 2.0, max_retries: 3}", bad))
        with pytest.raises(ConfigError, match=match):
            load_stack(stack)
