"""Someone else's recordings and a Hub model, end to end (issue 25): bags written the way
`ros2 bag record` writes them on another robot's stack — their topic and joint names, JPEG-compressed
camera, commands as JointTrajectory, several demonstrations in one MCAP bag with pauses between them
and one in a sqlite3 bag, messages out of order — are converted with a mapping file into LeRobot's
v3.0 layout, fine-tuned from
a base model given as a Hugging Face repo id (offline, from a Hub cache the test builds), and the
result, again as a repo id, runs in the System 2 / System 1 nodes on the simulator.

The demonstrations are the scripted demonstrator's reach episodes on the simulator library, sampled
as a robot driver would publish them (joint states 100 Hz, commands 20 Hz, camera 20 Hz) and written
with rosbags' writer, not with our recorder. Same machinery and sizes as test_demo_pipeline.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "src" / "gr00t_teleop" / "test"))  # the foreign-bag writer of the conversion tests

pytestmark = pytest.mark.slow

SECOND = 1_000_000_000
STATE_SUBSTEPS = 5  # joint states per 20 Hz policy step: 100 Hz
BAG_START_NS = 1_760_000_000 * SECOND
PAUSE_S = 3.0  # between demonstrations in one bag (the mapping splits at gaps > 1 s)


def their_name(joint: str) -> str:
    return "gr1t2/" + joint


def demonstrations(seeds: list[int], start_s: float) -> tuple[list, list[str], float]:
    """Messages of scripted reach demonstrations back to back from `start_s` (bag seconds), with a
    pause between them; returns (messages, their instructions, end time)."""
    from foreign_bag_support import Message, compressed_image, joint_state, joint_trajectory, text

    from gr00t_description import load_stack
    from gr00t_sim import GR1TabletopSim, SimConfig
    from gr00t_sim.scripted import ScriptedDemonstrator
    from gr00t_sim.tasks import get_task
    from gr00t_sim.tasks.sim_binding import apply_episode, layout_of, observe

    stack = load_stack()
    config = SimConfig.from_stack(stack.rates, stack.node_parameters("sim"))
    messages: list = []
    instructions: list[str] = []
    clock = start_s
    task = get_task("reach")
    with GR1TabletopSim(stack.robot, config) as sim:
        demonstrator = ScriptedDemonstrator.for_sim(sim)
        physics_steps = max(1, round(0.05 / sim.timestep))
        for seed in seeds:
            spec = task.sample(seed, layout_of(sim))
            apply_episode(sim, spec)
            tracker = task.tracker(spec, layout_of(sim))
            demonstrator.reset(spec, sim.data.qpos.copy())
            begin = sim.time
            instructions.append(spec.instruction)
            messages.append(
                Message(
                    "/operator/task",
                    "std_msgs/msg/String",
                    round((clock - 0.5) * SECOND) + BAG_START_NS,
                    text(spec.instruction),
                )
            )
            for _step in range(int(spec.max_duration_s / 0.05)):
                now_ns = BAG_START_NS + round((clock + sim.time - begin) * SECOND)
                frame = sim.render("head")  # the sim node's camera size, which the nodes will feed the model
                messages.append(
                    Message(
                        "/head_cam/image/compressed",
                        "sensor_msgs/msg/CompressedImage",
                        now_ns + 25_000_000,
                        compressed_image(frame, now_ns),
                    )
                )
                names, positions = demonstrator.act(observe(sim))
                messages.append(
                    Message(
                        "/arm_controller/joint_trajectory",
                        "trajectory_msgs/msg/JointTrajectory",
                        now_ns + 1_000_000,
                        joint_trajectory([their_name(n) for n in names], positions, now_ns),
                    )
                )
                sim.set_position_targets(names, positions)
                for _ in range(STATE_SUBSTEPS):
                    joint_names, q, _v, _e = sim.joint_state()
                    t_ns = BAG_START_NS + round((clock + sim.time - begin) * SECOND)
                    messages.append(
                        Message(
                            "/robot/joint_states",
                            "sensor_msgs/msg/JointState",
                            t_ns + 2_000_000,
                            joint_state([their_name(n) for n in joint_names], q, t_ns),
                        )
                    )
                    sim.step(physics_steps // STATE_SUBSTEPS)
                tracker.update(observe(sim))
                if tracker.succeeded and tracker.elapsed_s >= tracker.success_time_s + 0.5:
                    break
            clock += sim.time - begin + PAUSE_S
    return messages, instructions, clock


def run_tool(tool: str, *args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    executable = shutil.which(tool)
    assert executable, f"{tool} not on PATH: build the workspace and source install/setup.bash"
    result = subprocess.run(
        [sys.executable, executable, *args], capture_output=True, text=True, timeout=timeout, env=env
    )
    assert result.returncode == 0, f"{tool} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def add_to_hub_cache(cache: Path, repo_id: str, checkpoint: Path, commit: str) -> None:
    """huggingface_hub's cache layout: snapshots/<commit>/ holds the files, refs/main the commit."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


@pytest.fixture(scope="module")
def foreign_recordings(tmp_path_factory) -> Path:
    from foreign_bag_support import write_bag

    root = tmp_path_factory.mktemp("foreign_pipeline")
    rng = np.random.default_rng(0)
    session, instructions, end_s = demonstrations([0, 1], start_s=1.0)
    # A bag order that is not time order (neighbours swapped), as a busy recorder interleaves topics.
    session.sort(key=lambda m: m.log_time_ns)
    for i in rng.choice(len(session) - 1, size=len(session) // 10, replace=False):
        session[i], session[i + 1] = session[i + 1], session[i]
    write_bag(root / "bags" / "rosbag2_session_1", session, storage="mcap", version=9)
    single, more_instructions, _ = demonstrations([2], start_s=end_s + 60.0)
    (root / "instructions.json").write_text(json.dumps(instructions + more_instructions))
    write_bag(
        root / "bags" / "rosbag2_session_2", sorted(single, key=lambda m: m.log_time_ns), storage="sqlite3", version=8
    )

    from gr00t_description import load_stack

    robot = load_stack().robot
    mapping = {
        "state": {"topic": "/robot/joint_states"},
        "action": {"topic": "/arm_controller/joint_trajectory"},
        "cameras": {"ego_view": {"topic": "/head_cam/image/compressed"}},
        "task": {"topic": "/operator/task"},
        "episodes": {"split": "gap", "gap_s": 1.0},
        "joint_names": {their_name(n): n for n in robot.joint_names},
    }
    (root / "mapping.yaml").write_text(yaml.safe_dump(mapping))
    return root


def test_foreign_bags_convert_finetune_from_a_hub_id_and_run_in_the_nodes(foreign_recordings: Path):
    root = foreign_recordings
    env = dict(os.environ, HF_HUB_CACHE=str(root / "hf_cache"), HF_HUB_OFFLINE="1")
    add_to_hub_cache(root / "hf_cache", "acme/gr00t-random", REPO / "models" / "gr00t_random", "a" * 40)

    dataset = root / "dataset"
    # LeRobot's v3.0 layout (test_demo_pipeline.py fine-tunes on the default GR00T v2.1 one).
    convert = run_tool(
        "gr00t-convert",
        str(root / "bags"),
        "-o",
        str(dataset),
        "--mapping",
        str(root / "mapping.yaml"),
        "--format",
        "lerobot-v3",
        "--workers",
        "2",
        "--quiet",
        env=env,
        timeout=300,
    )
    import pyarrow.parquet as pq

    info = json.loads((dataset / "meta" / "info.json").read_text())
    episodes = pq.read_table(dataset / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    # Two demonstrations from the MCAP session (split at the pause), one from the sqlite3 bag.
    assert info["total_episodes"] == 3 and info["codebase_version"] == "v3.0", convert.stdout
    # Each demonstration's task is the one the operator's task topic carried when it started.
    assert [e["tasks"][0] for e in episodes] == json.loads((root / "instructions.json").read_text())
    assert info["features"]["observation.images.ego_view"]["shape"] == [224, 224, 3]

    run = root / "finetune"
    run_tool(
        "gr00t-finetune",
        "--dataset",
        str(dataset),
        "--output-dir",
        str(run),
        "--base-model",
        "acme/gr00t-random",
        "--embodiment",
        "gr1",
        "--max-steps",
        "40",
        "--batch-size",
        "8",
        "--learning-rate",
        "1e-3",
        "--warmup-ratio",
        "0.1",
        "--num-workers",
        "0",
        "--log-every",
        "5",
        "--save-steps",
        "40",
        "--no-progress",
        env=env,
        timeout=600,
    )
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 40
    losses = [entry["loss"] for entry in log]
    assert np.mean(losses[-2:]) < np.mean(losses[:2]), [round(loss, 4) for loss in losses]

    # The fine-tuned model, published to the Hub (here: put in the cache), runs by its repo id.
    add_to_hub_cache(root / "hf_cache", "acme/gr00t-foreign-ft", run, "b" * 40)
    inspect = run_tool("gr00t-checkpoint", "inspect", "acme/gr00t-foreign-ft", env=env, timeout=120)
    assert "metadata[gr1]" in inspect.stdout and "  action.left_arm: " in inspect.stdout, inspect.stdout
    summary_path = root / "run.json"
    run_tool(
        "gr00t-launch",
        "sim",
        "--quiet",
        "--model",
        "acme/gr00t-foreign-ft@main",
        "--duration",
        "10",
        "--instruction",
        "put your right hand on the red cube",
        "--summary",
        str(summary_path),
        env=env,
        timeout=300,
    )
    summary = json.loads(summary_path.read_text())
    assert summary["action"]["outcome"] == "timeout_reached", summary["action"]
    assert summary["action"]["chunks_executed"] > 5, summary["action"]
