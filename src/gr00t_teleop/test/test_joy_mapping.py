"""Joy -> palm-velocity mapping and the keyboard -> Joy front-end (pure; no ROS, no MuJoCo)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gr00t_description import load_stack
from gr00t_teleop.teleop.joy_mapping import (
    JoyMapping,
    JoyMappingConfig,
    JoyMappingError,
    apply_deadzone,
)
from gr00t_teleop.teleop.keyboard_mapping import (
    DEFAULT_AXES,
    DEFAULT_BUTTONS,
    QUIT_KEYS,
    KeyboardJoy,
    split_keys,
)

PAD_AXES = 8
PAD_BUTTONS = 11
# The shipped stack's layout (an Xbox pad); the mapping has no defaults of its own.
PAD = JoyMappingConfig.from_dict(load_stack().nodes["joy_teleop"])


def pad(axes: dict[int, float] | None = None, buttons: tuple[int, ...] = ()) -> tuple[list[float], list[int]]:
    """A Joy sample of the default (Xbox-style) layout with the given axes deflected and buttons held."""
    a = [0.0] * PAD_AXES
    for index, value in (axes or {}).items():
        a[index] = value
    b = [0] * PAD_BUTTONS
    for index in buttons:
        b[index] = 1
    return a, b


def test_deadzone_zeroes_small_deflections_and_is_continuous_at_its_edge():
    assert apply_deadzone(0.05, 0.1) == 0.0
    assert apply_deadzone(-0.1, 0.1) == 0.0
    assert apply_deadzone(0.1 + 1e-9, 0.1) == pytest.approx(0.0, abs=1e-8)
    assert apply_deadzone(-0.55, 0.1) == pytest.approx(-0.5)
    assert apply_deadzone(1.0, 0.1) == pytest.approx(1.0)
    assert apply_deadzone(1.7, 0.1) == pytest.approx(1.0)  # out-of-range drivers saturate


def test_default_layout_drives_x_y_z_from_the_sticks():
    mapping = JoyMapping(PAD)
    command = mapping.map(*pad({1: 1.0, 0: -1.0, 4: 0.5}))
    scale = PAD.axis_scales_m_s[0]
    # left stick up -> forward (+x), left stick right (-1) -> right (-y), right stick half up -> +z
    assert np.allclose(command.velocity_m_s, [scale, -scale, scale * (0.5 - 0.1) / 0.9])
    assert command.moving and not (command.switch_arm or command.open_hand or command.close_hand or command.home)


def test_small_deflections_inside_the_deadzone_do_not_move():
    command = JoyMapping(PAD).map(*pad({1: 0.08, 0: -0.05, 4: 0.1}))
    assert not command.moving
    assert np.array_equal(command.velocity_m_s, np.zeros(3))


def test_buttons_are_read_as_levels():
    config = PAD
    command = JoyMapping(config).map(*pad(buttons=(config.button_switch_arm, config.button_close_hand)))
    assert command.switch_arm and command.close_hand and not command.open_hand and not command.home
    command = JoyMapping(config).map(*pad(buttons=(config.button_open_hand, config.button_home)))
    assert command.open_hand and command.home


def test_configured_axes_scales_and_signs():
    section = {**load_stack().nodes["joy_teleop"], "axes": [3, 4, 7], "axis_scales_m_s": [-0.2, 0.1, 0.05]}
    config = JoyMappingConfig.from_dict({**section, "deadzone": 0.0, "button_home": 9, "unrelated": 1})
    assert config.axes == (3, 4, 7) and config.button_home == 9
    command = JoyMapping(config).map([0, 0, 0, 1.0, -1.0, 0, 0, 0.5], [0] * 10)
    assert np.allclose(command.velocity_m_s, [-0.2, -0.1, 0.025])


@pytest.mark.parametrize(
    "axes, buttons, match",
    [
        ([0.0] * 4, [0] * PAD_BUTTONS, "4 axes"),  # a different device: axis 4 (z) missing
        ([0.0] * PAD_AXES, [0] * 5, "5 buttons"),  # button 7 (home) missing
        ([0.0, math.nan] + [0.0] * 6, [0] * PAD_BUTTONS, "non-finite"),
        ([0.0, 0.0, 0.0, 0.0, math.inf, 0.0, 0.0, 0.0], [0] * PAD_BUTTONS, "non-finite"),
        ([0.0, 1e6] + [0.0] * 6, [0] * PAD_BUTTONS, "outside"),
        ([0.0, -1.5] + [0.0] * 6, [0] * PAD_BUTTONS, "outside"),
    ],
)
def test_bad_joy_samples_are_rejected(axes, buttons, match):
    with pytest.raises(JoyMappingError, match=match):
        JoyMapping(PAD).map(axes, buttons)


def test_nan_on_an_unused_axis_is_harmless():
    axes, buttons = pad({1: 1.0})
    axes[2] = math.nan  # a trigger the mapping does not read
    assert JoyMapping(PAD).map(axes, buttons).velocity_m_s[0] > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"axes": (1, 1, 4)}, "distinct"),
        ({"axes": (1, 0)}, "3 entries"),
        ({"axes": (-1, 0, 4)}, ">= 0"),
        ({"button_home": 0}, "distinct"),  # the same button as close_hand
        ({"deadzone": 1.0}, "deadzone"),
        ({"axis_scales_m_s": (0.1, math.nan, 0.1)}, "finite"),
    ],
)
def test_unusable_mapping_configs_are_refused(kwargs, match):
    """Each bad value on top of the stack's layout."""
    with pytest.raises(JoyMappingError, match=match):
        dataclasses.replace(PAD, **kwargs)


# ------------------------------------------------------------------ keyboard -> Joy
def test_keyboard_publishes_the_pad_layout():
    axes, buttons = KeyboardJoy(PAD).sample(0.0)
    assert (len(axes), len(buttons)) == (DEFAULT_AXES, DEFAULT_BUTTONS) == (PAD_AXES, PAD_BUTTONS)
    assert not JoyMapping(PAD).map(axes, buttons).moving


@pytest.mark.parametrize(
    "key, expected",
    [("w", [1, 0, 0]), ("s", [-1, 0, 0]), ("a", [0, 1, 0]), ("d", [0, -1, 0]), ("r", [0, 0, 1]), ("f", [0, 0, -1])],
)
def test_each_motion_key_drives_its_palm_direction_through_the_joy_mapping(key, expected):
    keyboard = KeyboardJoy(PAD)
    assert keyboard.press(key, 10.0)
    velocity = JoyMapping(PAD).map(*keyboard.sample(10.1)).velocity_m_s
    assert np.array_equal(np.sign(velocity), expected)


def test_keys_keep_their_meaning_under_an_inverted_axis():
    config = dataclasses.replace(PAD, axis_scales_m_s=(-0.15, 0.15, 0.15))
    keyboard = KeyboardJoy(config)
    keyboard.press("w", 0.0)
    assert JoyMapping(config).map(*keyboard.sample(0.0)).velocity_m_s[0] > 0


def test_a_key_press_holds_for_hold_s_then_releases():
    keyboard = KeyboardJoy(PAD, hold_s=0.25)
    keyboard.press("w", 1.0)
    assert keyboard.sample(1.2)[0][1] == 1.0
    assert keyboard.sample(1.26)[0][1] == 0.0
    keyboard.press("w", 2.0)
    keyboard.press("w", 2.2)  # auto-repeat keeps it held
    assert keyboard.sample(2.4)[0][1] == 1.0


def test_the_newest_key_on_an_axis_wins():
    keyboard = KeyboardJoy(PAD)
    keyboard.press("w", 0.0)
    keyboard.press("s", 0.05)
    assert keyboard.sample(0.1)[0][1] == -1.0


def test_button_keys_and_unknown_keys():
    config = PAD
    keyboard = KeyboardJoy(config)
    for key in ("\t", "o", "c", "h"):
        assert keyboard.press(key, 0.0)
    command = JoyMapping(config).map(*keyboard.sample(0.1))
    assert command.switch_arm and command.open_hand and command.close_hand and command.home
    assert not keyboard.press("x", 0.0)
    assert not keyboard.press("\x1b[5~", 0.0)  # page up: unbound
    keyboard.release_all()
    assert not any(keyboard.sample(0.1)[1])


def test_capital_letters_and_arrow_keys():
    keyboard = KeyboardJoy(PAD)
    keys = split_keys("W\x1b[D\x1b[Bq")
    assert keys == ["W", "\x1b[D", "\x1b[B", "q"]
    for key in keys[:3]:
        assert keyboard.press(key, 0.0)
    velocity = JoyMapping(PAD).map(*keyboard.sample(0.0)).velocity_m_s
    # W (forward) then down arrow (= s, back) on the same axis: back wins; left arrow = a (+y)
    assert velocity[0] < 0 and velocity[1] > 0
    assert "q" in QUIT_KEYS and split_keys("\x1b") == ["\x1b"]


def test_keyboard_joy_follows_the_stack_mapping(tmp_path):
    """keyboard_joy reads the joy teleop's mapping from the stack YAML: with the forward axis moved
    and inverted there, w still drives the palm forward through that mapping."""
    import yaml

    from gr00t_teleop.keyboard_joy import keyboard_for, parse_args

    stack = yaml.safe_load(load_stack().path.read_text())
    stack["nodes"]["joy_teleop"].update(axes=[3, 0, 4], axis_scales_m_s=[-0.2, 0.15, 0.15], button_home=9)
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(stack))
    keyboard = keyboard_for(parse_args(["--stack", str(path)]))
    mapping = JoyMapping(JoyMappingConfig.from_dict(stack["nodes"]["joy_teleop"]))
    keyboard.press("w", 0.0)
    keyboard.press("h", 0.0)
    axes, buttons = keyboard.sample(0.0)
    assert axes[3] == -1.0 and axes[1] == 0.0 and buttons[9] == 1
    command = mapping.map(axes, buttons)
    assert command.velocity_m_s[0] > 0 and command.home


def test_a_mapping_without_every_field_is_refused():
    section = dict(load_stack().nodes["joy_teleop"])
    del section["button_home"]
    with pytest.raises(JoyMappingError, match="button_home"):
        JoyMappingConfig.from_dict(section)
