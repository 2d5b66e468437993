#!/usr/bin/env python3
"""Benchmark of the running stack (not a test): 120 Hz command-stream jitter while inference runs,
and GoalTokens transport latency between two processes.

    python src/gr00t_bringup/benchmarks/bench_stack.py --duration 60 --out docs/benchmarks/stack_cpu.json

1. Runs `gr00t-launch sim` for --duration seconds with an instruction (System 2 and System 1
   inferring the whole time) and reads the monitor's view of the `joint_command` stream: the
   receive-side period p50/p99/max, i.e. what a controller in another process sees.
2. Publishes GoalTokens of the demo size and of the real GR00T-N1-2B size (T x 1536, fp16) at
   10 Hz from a child process, stamped at publish time, and measures receive - stamp here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

PUBLISHER = r"""
import sys, time
import rclpy
from gr00t_interfaces.msg import GoalTokens
from gr00t_description.ros.qos import LATEST_RELIABLE_QOS
tokens, width, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rclpy.init()
node = rclpy.create_node("goal_token_bench_publisher")
pub = node.create_publisher(GoalTokens, "bench/goal_tokens", LATEST_RELIABLE_QOS)
msg = GoalTokens(dtype=GoalTokens.DTYPE_FLOAT16, token_count=tokens, width=width,
                 data=bytes(tokens * width * 2), attention_mask=[True] * tokens)
while pub.get_subscription_count() == 0:
    time.sleep(0.05)
time.sleep(0.5)
for i in range(count):
    msg.sequence = i
    msg.header.stamp = node.get_clock().now().to_msg()
    pub.publish(msg)
    time.sleep(0.1)
node.destroy_node()
rclpy.shutdown()
"""


def measure_stream(duration: float) -> dict:
    summary_path = Path(tempfile.mkdtemp()) / "summary.json"
    command = [
        sys.executable,
        shutil.which("gr00t-launch"),
        "sim",
        "--quiet",
        "--duration",
        str(duration),
        "--summary",
        str(summary_path),
    ]
    subprocess.run(command, check=True, timeout=duration + 180)
    summary = json.loads(summary_path.read_text())
    return {
        "duration_s": duration,
        "command_rate_hz": summary["rates_hz"]["joint_commands"],
        "command_period_ms": summary["command_period_ms"],
        "system2_rate_hz": summary["rates_hz"]["system2_goal_tokens"],
        "system2_latency_ms": summary["inference_latency_ms"]["system2"],
        "system1_chunk_rate_hz": summary["rates_hz"]["system1_action_chunks"],
        "system1_latency_ms": summary["inference_latency_ms"]["system1"],
        "controller_states": summary["controller_states"],
    }


def measure_transport(tokens: int, width: int, count: int) -> dict:
    import rclpy

    from gr00t_description.ros.qos import LATEST_RELIABLE_QOS
    from gr00t_interfaces.msg import GoalTokens

    rclpy.init()
    node = rclpy.create_node("goal_token_bench_subscriber")
    latencies: list[float] = []

    def on_goal(msg: GoalTokens) -> None:
        now = node.get_clock().now().nanoseconds
        latencies.append((now - (msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)) / 1e6)

    node.create_subscription(GoalTokens, "bench/goal_tokens", on_goal, LATEST_RELIABLE_QOS)
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(tokens), str(width), str(count)])
    stop = threading.Event()
    spinner = threading.Thread(
        target=lambda: [rclpy.spin_once(node, timeout_sec=0.05) for _ in iter(stop.is_set, True)]
    )
    spinner.start()
    publisher.wait(timeout=count * 0.1 + 60)
    time.sleep(0.5)
    stop.set()
    spinner.join()
    node.destroy_node()
    rclpy.shutdown()
    values = np.asarray(latencies)
    return {
        "tokens": tokens,
        "width": width,
        "bytes": tokens * width * 2,
        "received": int(values.size),
        "sent": count,
        "latency_ms": {
            "p50": float(np.percentile(values, 50)),
            "p99": float(np.percentile(values, 99)),
            "max": float(values.max()),
        }
        if values.size
        else {},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/stack_cpu.json"))
    args = parser.parse_args()
    from gr00t_policy.policy import Gr00tPolicy, resolve_model_path

    demo = Gr00tPolicy.from_pretrained(resolve_model_path(""))
    demo_tokens = demo.encode_goal([np.zeros((224, 224, 3), np.uint8)], "pick up the red cube").tokens.shape
    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg(),
        },
        "command_stream": measure_stream(args.duration),
        "goal_token_transport": [
            measure_transport(int(demo_tokens[1]), int(demo_tokens[2]), args.messages),
            measure_transport(99, 1536, args.messages),  # GR00T-N1-2B, one view
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
