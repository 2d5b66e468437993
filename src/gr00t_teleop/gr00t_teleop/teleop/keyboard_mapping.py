"""Keys -> `sensor_msgs/Joy` axes and buttons, so a terminal keyboard drives the same Joy path as
a gamepad (pure; no ROS, no terminal).

A terminal reports key presses, never releases: a held key arrives as one press, a pause (the
auto-repeat delay, 250-660 ms depending on the desktop) and then repeats at ~30 Hz. So every press
holds its axis or button for `hold_s`; a tap moves a little, a held key keeps moving (with one
pause before the repeats start), and letting go stops within `hold_s`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gr00t_teleop.teleop.joy_mapping import JoyMappingConfig

# Sizes of the published Joy: those of the Xbox-style layout `JoyMappingConfig` defaults to, so
# a Joy from the keyboard and from a pad look the same to the teleop node.
DEFAULT_AXES = 8
DEFAULT_BUTTONS = 11

QUIT_KEYS = frozenset({"q", "Q", "\x03", "\x04"})  # q, Ctrl-C, Ctrl-D

# ANSI escape sequences of the arrow keys, aliases of w/s/a/d.
ARROW_KEYS = {"\x1b[A": "w", "\x1b[B": "s", "\x1b[D": "a", "\x1b[C": "d"}

HELP = """keyboard_joy: palm teleop from the keyboard (publishes sensor_msgs/Joy)
  w / s   palm forward / back (+x / -x)      arrows: same as w/s/a/d
  a / d   palm left / right   (+y / -y)
  r / f   palm up / down      (+z / -z)
  tab     switch arm (left / right)
  o / c   open / close the active hand (hold)
  h       home (both arms and hands)
  q       quit"""


@dataclass(frozen=True)
class AxisKey:
    axis: int  # index in Joy.axes
    value: float  # deflection while held (-1 or +1)


@dataclass(frozen=True)
class ButtonKey:
    button: int  # index in Joy.buttons


def key_bindings(config: JoyMappingConfig) -> dict[str, AxisKey | ButtonKey]:
    """Key -> Joy axis deflection or button, following `config` so the keys keep their meaning
    (w = forward) whatever axes and signs the mapping uses."""
    sign = [1.0 if s >= 0 else -1.0 for s in config.axis_scales_m_s]
    x, y, z = config.axes
    return {
        "w": AxisKey(x, sign[0]),
        "s": AxisKey(x, -sign[0]),
        "a": AxisKey(y, sign[1]),
        "d": AxisKey(y, -sign[1]),
        "r": AxisKey(z, sign[2]),
        "f": AxisKey(z, -sign[2]),
        "\t": ButtonKey(config.button_switch_arm),
        "o": ButtonKey(config.button_open_hand),
        "c": ButtonKey(config.button_close_hand),
        "h": ButtonKey(config.button_home),
    }


def split_keys(data: str) -> list[str]:
    """Split terminal input into keys; an escape sequence (arrow keys, F-keys) is one key."""
    keys: list[str] = []
    i = 0
    while i < len(data):
        if data[i] == "\x1b" and i + 2 < len(data) and data[i + 1] in "[O":
            j = i + 2
            while j < len(data) and not (data[j].isalpha() or data[j] == "~"):
                j += 1
            keys.append(data[i : j + 1])
            i = j + 1
        else:
            keys.append(data[i])
            i += 1
    return keys


class KeyboardJoy:
    """Key presses in, Joy (axes, buttons) samples out. Time is an argument (seconds, any clock)."""

    def __init__(
        self,
        config: JoyMappingConfig,
        hold_s: float = 0.25,
        num_axes: int = DEFAULT_AXES,
        num_buttons: int = DEFAULT_BUTTONS,
    ) -> None:
        self.config = config
        if hold_s <= 0:
            raise ValueError(f"hold_s must be > 0, got {hold_s}")
        self.hold_s = hold_s
        self.num_axes = max(num_axes, self.config.min_axes)
        self.num_buttons = max(num_buttons, self.config.min_buttons)
        self.bindings = key_bindings(self.config)
        self._axes: dict[int, tuple[float, float]] = {}  # axis -> (value, held until)
        self._buttons: dict[int, float] = {}  # button -> held until

    def press(self, key: str, now: float) -> bool:
        """Register one key press; False for a key with no binding (ignored)."""
        key = ARROW_KEYS.get(key, key)
        if len(key) == 1 and key.isalpha():
            key = key.lower()  # caps lock on
        binding = self.bindings.get(key)
        if binding is None:
            return False
        if isinstance(binding, AxisKey):
            # The newest press on an axis wins: 's' right after 'w' reverses at once.
            self._axes[binding.axis] = (binding.value, now + self.hold_s)
        else:
            self._buttons[binding.button] = now + self.hold_s
        return True

    def release_all(self) -> None:
        self._axes.clear()
        self._buttons.clear()

    def sample(self, now: float) -> tuple[list[float], list[int]]:
        """(axes, buttons) of the Joy to publish at `now`."""
        axes = [0.0] * self.num_axes
        buttons = [0] * self.num_buttons
        for axis, (value, until) in self._axes.items():
            if now < until:
                axes[axis] = value
        for button, until in self._buttons.items():
            if now < until:
                buttons[button] = 1
        return axes, buttons
