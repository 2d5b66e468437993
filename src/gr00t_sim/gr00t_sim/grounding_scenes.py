"""Rendered task scenes with where-is-what answers, for grounding System 2 before action training.

Each row is one episode start of the tabletop suite: the head-camera image after the objects settle,
the episode's instruction, and answers read from the episode spec: the named object's table position
and side (left = +y, the robot's left) and every catalogue object's position and whether it is on
the table. Touch-one-of-two seed pairs share a scene, so the pair's two rows have the same image and
different answers — only the instruction tells them apart, which is what teaches the binding of a
name to a place. ``gr00t-pretrain-grounding`` (gr00t_policy) trains on these files.

    python -m gr00t_sim.grounding_scenes --tasks reach touch_one_of_two push_to_region \\
        --episodes 2000 --seed-start 0 --output out/grounding/train.npz

Seeds must be training seeds (below ``EVAL_SEED_START``): evaluation scenes are never rendered here.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gr00t_description import StackConfig, load_stack
from gr00t_sim.configuration_sim import SimConfig
from gr00t_sim.tabletop_sim import GR1TabletopSim
from gr00t_sim.tasks import EVAL_SEED_START, EpisodeSpec, get_task
from gr00t_sim.tasks.sim_binding import layout_of, render_episode_start

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass
class GroundingScenes:
    """Rows of (image, instruction, answers); arrays share the first axis (rows)."""

    images: np.ndarray  # (N, H, W, 3) uint8 head-camera RGB
    instructions: np.ndarray  # (N,) str
    tasks: np.ndarray  # (N,) str
    seeds: np.ndarray  # (N,) int64
    target_xy: np.ndarray  # (N, 2) float32, the named object's table position (m, base frame)
    target_left: np.ndarray  # (N,) bool, the named object lies on the robot's left (y > 0)
    object_names: np.ndarray  # (K,) str, the scene catalogue
    object_xy: np.ndarray  # (N, K, 2) float32, every object's position (parked ones too)
    object_on_table: np.ndarray  # (N, K) bool

    def __len__(self) -> int:
        return len(self.instructions)

    def save(self, path: str | Path) -> None:
        """Write a compressed ``.npz`` atomically (a partial file never has the final name)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.tmp.npz")
        np.savez_compressed(staging, format_version=np.int64(FORMAT_VERSION), **vars(self))
        os.replace(staging, path)

    @classmethod
    def load(cls, path: str | Path) -> GroundingScenes:
        with np.load(path, allow_pickle=False) as data:
            version = int(data["format_version"]) if "format_version" in data.files else None
            if version != FORMAT_VERSION:
                raise ValueError(f"{path}: grounding scenes format {version}, expected {FORMAT_VERSION}")
            missing = [name for name in cls.__dataclass_fields__ if name not in data.files]
            if missing:
                raise ValueError(f"{path}: missing arrays {missing}")
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def _answers(spec: EpisodeSpec, names: Sequence[str], table_top_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) positions and (K,) on-table flags of the catalogue objects in ``spec``'s scene."""
    xy = np.zeros((len(names), 2), np.float32)
    on_table = np.zeros(len(names), bool)
    for k, name in enumerate(names):
        position = spec.placements[name].position
        xy[k] = position[:2]
        on_table[k] = position[2] >= table_top_m  # parked objects lie on the floor behind the robot
    return xy, on_table


def render_scenes(
    stack: StackConfig, tasks: Sequence[str], episodes: int, seed_start: int = 0, progress: bool = False
) -> GroundingScenes:
    """``episodes`` rows per task, seeds ``seed_start`` onwards, rendered on a fresh simulator."""
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if seed_start < 0 or seed_start + episodes > EVAL_SEED_START:
        raise ValueError(
            f"seeds {seed_start}..{seed_start + episodes - 1} reach the evaluation seeds (from {EVAL_SEED_START})"
        )
    sim_config = SimConfig.from_node_parameters(stack.node_parameters("sim"))
    rows: dict[str, list] = {name: [] for name in GroundingScenes.__dataclass_fields__ if name != "object_names"}
    with GR1TabletopSim(stack.robot, sim_config) as sim:
        layout = layout_of(sim)
        names = [spec.name for spec in layout.objects]
        iterator = [(task, seed) for task in tasks for seed in range(seed_start, seed_start + episodes)]
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, unit="scene")
        for task_name, seed in iterator:
            spec = get_task(task_name).sample(seed, layout)
            image = render_episode_start(sim, spec)
            xy, on_table = _answers(spec, names, layout.table_top_height_m)
            target = spec.placements[spec.target_object].position
            rows["images"].append(image)
            rows["instructions"].append(spec.instruction)
            rows["tasks"].append(task_name)
            rows["seeds"].append(seed)
            rows["target_xy"].append(np.asarray(target[:2], np.float32))
            rows["target_left"].append(target[1] > 0)
            rows["object_xy"].append(xy)
            rows["object_on_table"].append(on_table)
    return GroundingScenes(object_names=np.array(names), **{name: np.array(values) for name, values in rows.items()})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["reach", "touch_one_of_two", "push_to_region"])
    parser.add_argument("--episodes", type=int, required=True, help="scenes per task")
    parser.add_argument("--seed-start", type=int, default=0, help="first seed (training seeds only)")
    parser.add_argument("--output", type=Path, required=True, help=".npz file to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    try:
        for task in args.tasks:
            get_task(task)
        scenes = render_scenes(load_stack(), args.tasks, args.episodes, args.seed_start, progress=True)
    except ValueError as exc:
        parser.error(str(exc))
    scenes.save(args.output)
    logger.info("%d scenes (%s) -> %s", len(scenes), ", ".join(args.tasks), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
