"""`keyboard_joy`: drive the palm teleop from a terminal. Reads keys (termios cbreak mode) and
publishes `sensor_msgs/Joy` in the gamepad layout `joy_teleop_node` expects, so the keyboard and a
pad share one path. The keys follow the stack YAML's `nodes.joy_teleop` axes, signs and buttons
(the mapping the teleop node runs). The key -> Joy logic is `teleop/keyboard_mapping.py`; this is
the terminal loop.

    ros2 run gr00t_teleop keyboard_joy [--topic joy] [--rate-hz 30] [--hold-s 0.25] [--stack gr1t2_sim]
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import termios
import threading
import time
import tty

from gr00t_teleop.teleop.joy_mapping import JoyMappingConfig
from gr00t_teleop.teleop.keyboard_mapping import HELP, QUIT_KEYS, KeyboardJoy, split_keys


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="keyboard_joy", description="Publish sensor_msgs/Joy from the keyboard.")
    parser.add_argument("--topic", default="joy", help="Joy topic (default: joy, what joy_teleop_node reads)")
    parser.add_argument("--rate-hz", type=float, default=30.0, help="publishing rate (default: 30)")
    parser.add_argument(
        "--hold-s",
        type=float,
        default=0.25,
        help="how long one key press holds its axis or button (default: 0.25; terminals report no key releases)",
    )
    parser.add_argument(
        "--stack",
        default="",
        help="stack YAML (name or path) whose nodes.joy_teleop mapping the keys follow (default: the simulated GR-1)",
    )
    args = parser.parse_args(argv)
    if args.rate_hz <= 0 or args.hold_s <= 0:
        parser.error(f"--rate-hz and --hold-s must be > 0, got {args.rate_hz}, {args.hold_s}")
    return args


def keyboard_for(args: argparse.Namespace) -> KeyboardJoy:
    """The keyboard in the Joy layout of the stack's joy teleop (its axes, signs and buttons), so a
    key keeps its meaning (w = forward) whatever pad mapping the deployment uses."""
    from gr00t_description import load_stack

    section = load_stack(args.stack or None).nodes.get("joy_teleop", {})
    return KeyboardJoy(JoyMappingConfig.from_dict(section), hold_s=args.hold_s)


def main(argv: list[str] | None = None) -> None:
    from rclpy.utilities import remove_ros_args

    from gr00t_description.ros.node_main import init_without_signal_handlers, install_stop_handlers, shutdown_context

    args = parse_args(remove_ros_args(sys.argv)[1:] if argv is None else argv)
    if not sys.stdin.isatty():
        print("keyboard_joy: stdin is not a terminal (run it in its own terminal)", file=sys.stderr)
        raise SystemExit(2)
    keyboard = keyboard_for(args)
    # Ctrl-C and SIGTERM only set `stop`: the context stays valid, so the all-released Joy goes out.
    stop = install_stop_handlers()
    init_without_signal_handlers()
    try:
        _publish_keys(keyboard, args, stop)
    finally:
        shutdown_context()


def _publish_keys(keyboard: KeyboardJoy, args: argparse.Namespace, stop: threading.Event) -> None:
    import rclpy
    from sensor_msgs.msg import Joy

    node = rclpy.create_node("keyboard_joy")
    publisher = node.create_publisher(Joy, args.topic, 10)
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    print(HELP + f"\npublishing on {publisher.topic_name} at {args.rate_hz:.0f} Hz", flush=True)
    period = 1.0 / args.rate_hz
    try:
        tty.setcbreak(fd)  # keys arrive one by one, unechoed; Ctrl-C stays a signal
        next_publish = time.monotonic()
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], max(0.0, next_publish - time.monotonic()))
            now = time.monotonic()
            if ready:
                data = os.read(fd, 64).decode(errors="ignore")
                if not data:  # end of input
                    break
                keys = split_keys(data)
                if any(key in QUIT_KEYS for key in keys):
                    break
                for key in keys:
                    keyboard.press(key, now)
            if now >= next_publish:
                axes, buttons = keyboard.sample(now)
                msg = Joy(axes=axes, buttons=buttons)
                msg.header.stamp = node.get_clock().now().to_msg()
                publisher.publish(msg)
                next_publish = max(next_publish + period, now)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        # Leave the teleop with everything released rather than with the last key held.
        keyboard.release_all()
        axes, buttons = keyboard.sample(time.monotonic())
        publisher.publish(Joy(axes=axes, buttons=buttons))
        node.destroy_node()


if __name__ == "__main__":
    main()
