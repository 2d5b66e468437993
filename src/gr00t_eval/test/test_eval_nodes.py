"""gr00t-eval --policy node: short reach episodes through the running stack (sim + System 2 +
System 1 processes): that an episode ran through the nodes and the report has the library path's
structure (real time; the paced mode, `--sim-realtime-factor`, has no end-to-end test yet)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gr00t_eval.cli import main
from gr00t_eval.evaluation import EvalConfig


def test_node_only_options_are_refused_for_the_scripted_policy() -> None:
    with pytest.raises(ValueError, match="policies 'model' and 'node' only"):
        EvalConfig(policy="scripted", blank_instruction=True)
    with pytest.raises(ValueError, match="episode_seconds"):
        EvalConfig(policy="node", episode_seconds=0.0)
    with pytest.raises(ValueError, match="policy 'node' only"):
        EvalConfig(policy="model", sim_realtime_factor=0.5)
    with pytest.raises(ValueError, match="sim_realtime_factor must be > 0"):
        EvalConfig(policy="node", sim_realtime_factor=0.0)


def test_one_reach_episode_through_the_nodes(tmp_path: Path) -> None:
    report_path = tmp_path / "nodes.json"
    code = main(
        [
            "--policy",
            "node",
            "--tasks",
            "reach",
            "--episodes",
            "1",
            "--episode-seconds",
            "2",
            "--output",
            str(report_path),
            "--quiet",
        ]
    )
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["policy"] == "node" and report["path"].startswith("nodes")
    assert report["config"]["episode_seconds"] == 2.0 and report["config"]["blank_instruction"] is False
    assert set(report["tasks"]) == {"reach"}
    summary = report["tasks"]["reach"]
    assert summary["episodes"] == 1 and 0.0 <= summary["success_rate"] <= 1.0
    assert {"success_ci95", "safety_interventions", "wrong_object_touched_rate"} <= set(summary)
    (episode,) = report["episodes"]
    assert episode["task"] == "reach" and episode["seed"] == 10_000
    assert episode["instruction"]  # the episode's instruction, from ~/reset_episode
    # It ran: scene states were tracked for (about) the episode's length.
    assert 1.5 <= episode["duration_s"] <= 4.0
    assert len(episode["final_target_position"]) == 3
    assert all(code in (0, -2, -15) for code in report["node_exit_codes"].values()), report["node_exit_codes"]
    assert (tmp_path / "nodes.png").stat().st_size > 1000
    # Head-camera frames of the episode, taken from the camera topic, are in the PNG.
    (example,) = report["example_frames"]["reach"].values()
    assert example["seed"] == 10_000 and len(example["frame_times_s"]) >= 2
