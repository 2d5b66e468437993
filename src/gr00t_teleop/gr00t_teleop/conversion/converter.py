"""Episode bags → GR00T LeRobot v2 dataset.

Per episode (in a worker process): read the bag with rosbags, build the tick timeline
`t_k = t_0 + k / fps` over the span where joint states, commands and every camera have data,
sample each stream causally (`resampling.py`), map joints by name into the group layout, and
encode each camera's frames at the ticks into an MP4. The main process assigns task indices and
global frame indices, writes parquet and the meta files, computes stats.json and validates.

state = measured joint positions (`joint_states`), action = commanded joint positions
(`joint_command`, the stream System 1 or a teleop node actually sent through the safety layer),
language = the episode's task (episode.yaml), else the last recorded instruction, else `--task`.

Bags recorded by other tools (`ros2 bag record`, MCAP or sqlite3) are read through a mapping file
(`--mapping`, `bag_mapping.py`): its topics replace the stack's, the action may be the next frame's
state, the task is a fixed text or read from a topic, and a bag may hold several episodes (cut at
time gaps or marker messages, planned in the main process before the workers run).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import multiprocessing
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gr00t_description import StackConfig, load_stack

from ..recording.bag_metadata import METADATA_FILENAME
from ..recording.episode import EpisodeOutcome
from . import lerobot_dataset as ds
from .bag_mapping import BagMapping, load_mapping
from .episode_reader import EpisodeTopics, iter_camera_frames, read_episode_streams
from .resampling import latest_index, make_timeline, overlap, sample_and_hold
from .video import Mp4Writer, image_to_rgb

LOG = logging.getLogger(__name__)

GROUP_CHOICES = ("data_config", "all")
FORMATS = ("gr00t-v2", "lerobot-v3")  # Isaac-GR00T's LeRobot v2.1 flavour, or LeRobot's v3.0 layout


class ConversionError(RuntimeError):
    pass


@dataclass(frozen=True)
class ConversionConfig:
    """Options of `gr00t-convert` (see its --help for each)."""

    inputs: tuple[Path, ...]
    output_dir: Path
    stack: str | None = None  # stack YAML path or name; None = the default stack
    data_config: str | None = None  # GR00T data config; None = the stack's embodiment.data_config
    fps: float = 20.0  # the GR-1 data's rate: a 16-step chunk spans 0.8 s
    groups: str = "data_config"  # which joint groups to store: the data config's, or all robot groups
    include_failed: bool = False
    include_interrupted: bool = False
    task: str | None = None  # language for bags with neither episode.yaml nor instruction messages
    mapping: Path | None = None  # mapping file for bags not written by our recorder (bag_mapping.py)
    format: str = "gr00t-v2"  # one of FORMATS
    image_size: tuple[int, int] | None = None  # (width, height); None = as recorded
    time_source: str = "header"  # header stamps (acquisition time), or bag log (receive) time
    workers: int = 1
    overwrite: bool = False
    validate: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.groups not in GROUP_CHOICES:
            raise ValueError(f"groups must be one of {GROUP_CHOICES}, got {self.groups!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.format!r}")


@dataclass(frozen=True)
class _EpisodeJob:
    bag_dir: Path
    episode_index: int
    output_dir: Path
    topics: EpisodeTopics
    layout: ds.GroupLayout
    video_keys: tuple[str, ...]
    fps: float
    image_size: tuple[int, int] | None
    time_source: str
    task_override: str | None
    mapping: BagMapping | None = None
    window_ns: tuple[int, int] | None = None  # the episode's span in a bag holding several; None = all


@dataclass
class _EpisodeResult:
    episode_index: int
    bag_dir: Path
    task: str
    state: np.ndarray
    action: np.ndarray
    video_shapes: dict[str, tuple[int, int]]  # key -> (height, width)
    warnings: list[str] = field(default_factory=list)


@dataclass
class ConversionReport:
    output_dir: Path
    episodes: list[tuple[int, Path, int]]  # (dataset episode index, bag, length)
    skipped: list[tuple[Path, str]]
    warnings: list[str]
    total_frames: int

    def describe(self) -> str:
        lines = [f"{len(self.episodes)} episodes, {self.total_frames} frames -> {self.output_dir}"]
        lines += [f"skipped {bag}: {why}" for bag, why in self.skipped]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# ---------------------------------------------------------------------------- episode discovery
def find_episode_bags(inputs: Sequence[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Bag directories (those with metadata.yaml) among `inputs` and their sub-directories."""
    bags: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for root in inputs:
        root = Path(root)
        if not root.is_dir():
            raise ConversionError(f"input {root} is not a directory")
        candidates = (
            [root]
            if (root / METADATA_FILENAME).is_file() or _has_storage_files(root)
            else sorted(p for p in root.iterdir() if p.is_dir())
        )
        for candidate in candidates:
            if (candidate / METADATA_FILENAME).is_file():
                bags.append(candidate)
            elif _has_storage_files(candidate):
                skipped.append(
                    (
                        candidate,
                        "no metadata.yaml (recorder died?): run gr00t-reindex (or `ros2 bag reindex`) on it first",
                    )
                )
    return bags, skipped


def _has_storage_files(directory: Path) -> bool:
    """rosbag2 storage files: MCAP (Iron and later's default) or sqlite3 (Humble's default)."""
    return any(directory.glob("*.mcap")) or any(directory.glob("*.db3"))


def select_episodes(bags: list[Path], config: ConversionConfig) -> tuple[list[Path], list[tuple[Path, str]]]:
    from ..recording.episode import EPISODE_FILENAME, read_episode_metadata

    selected, skipped = [], []
    for bag in bags:
        if not (bag / EPISODE_FILENAME).is_file():
            selected.append(bag)  # a bag from elsewhere (ros2 bag record): no label to filter on
            continue
        outcome = read_episode_metadata(bag).outcome
        if outcome is EpisodeOutcome.SUCCESS:
            selected.append(bag)
        elif outcome is EpisodeOutcome.FAILURE and config.include_failed:
            selected.append(bag)
        elif outcome is EpisodeOutcome.INTERRUPTED and config.include_interrupted:
            selected.append(bag)
        else:
            hint = {
                EpisodeOutcome.FAILURE: " (--include-failed to keep)",
                EpisodeOutcome.INTERRUPTED: " (--include-interrupted to keep)",
                EpisodeOutcome.RECORDING: " (recorder died: run gr00t-reindex first)",
            }.get(outcome, "")
            skipped.append((bag, f"episode outcome {outcome.value}{hint}"))
    return selected, skipped


def group_layout(stack: StackConfig, data_config: Any, groups: str) -> ds.GroupLayout:
    robot = stack.robot
    if groups == "all":
        names = list(robot.groups)
    else:
        names = []
        for group, _dim in (*data_config.state_groups, *data_config.action_groups):
            if group not in names:
                names.append(group)
    layout = ds.GroupLayout(tuple((g, tuple(robot.group_joints([g]))) for g in names))
    ranges = layout.ranges()
    for group, dim in (*data_config.state_groups, *data_config.action_groups):
        if group not in ranges:
            raise ConversionError(
                f"data config {data_config.name!r} needs group {group!r}; robot {robot.name!r} lacks it"
            )
        start, end = ranges[group]
        if end - start != dim:
            raise ConversionError(
                f"group {group!r}: robot config {robot.name!r} has {end - start} joints, "
                f"data config {data_config.name!r} expects {dim}"
            )
    return layout


# ---------------------------------------------------------------------------- one episode (worker)
def _fill_leading_nan(values: np.ndarray) -> np.ndarray:
    """A joint first reported after t_0 takes its first reported value before that."""
    values = values.copy()
    for column in range(values.shape[1]):
        valid = np.flatnonzero(~np.isnan(values[:, column]))
        if len(valid) and valid[0] > 0:
            values[: valid[0], column] = values[valid[0], column]
    return values


def convert_episode(job: _EpisodeJob) -> _EpisodeResult:
    if job.mapping is not None:
        return convert_mapped_episode(job)
    joints = job.layout.joint_names
    streams = read_episode_streams(job.bag_dir, job.topics, joints, job.time_source)
    warnings: list[str] = []
    where = job.bag_dir.name
    if streams.states.unreported_joints:
        raise ConversionError(
            f"{where}: joints {streams.states.unreported_joints} never appear in {job.topics.joint_states}; "
            "check the robot config and the recorded joint states"
        )
    if not len(streams.commands.times_ns):
        raise ConversionError(
            f"{where}: no messages on {job.topics.joint_command}; actions are the commanded positions"
        )
    missing_cameras = [k for k in job.video_keys if not len(streams.camera_times_ns.get(k, []))]
    if missing_cameras:
        raise ConversionError(
            f"{where}: no frames for cameras {missing_cameras} ({[job.topics.cameras[k] for k in missing_cameras]})"
        )

    camera_orders = {k: np.argsort(streams.camera_times_ns[k], kind="stable") for k in job.video_keys}
    camera_sorted = {k: streams.camera_times_ns[k][camera_orders[k]] for k in job.video_keys}
    start, end = overlap(streams.states.times_ns, streams.commands.times_ns, *camera_sorted.values())
    ticks = make_timeline(start, end, job.fps)
    if len(ticks) < 2:
        raise ConversionError(
            f"{where}: the streams overlap for {(end - start) * 1e-9:.3f} s only, less than two frames at {job.fps} Hz"
        )

    state = _fill_leading_nan(sample_and_hold(streams.states.times_ns, streams.states.positions, ticks))
    action = _fill_leading_nan(sample_and_hold(streams.commands.times_ns, streams.commands.positions, ticks))
    never_commanded = streams.commands.unreported_joints
    if never_commanded:
        columns = [joints.index(n) for n in never_commanded]
        action[:, columns] = state[:, columns]
        warnings.append(
            f"{where}: joints {never_commanded} were never commanded; their action is the measured position"
        )

    task = (streams.metadata.task if streams.metadata else "") or (
        streams.instructions[-1] if streams.instructions else ""
    )
    task = task or (job.task_override or "")
    if not task:
        raise ConversionError(f"{where}: no task instruction (no episode.yaml, no instruction messages); pass --task")

    video_shapes: dict[str, tuple[int, int]] = {}
    for key in job.video_keys:
        # Frame shown at tick k = the newest frame stamped at or before it (bag order index).
        wanted = camera_orders[key][latest_index(camera_sorted[key], ticks)]
        video_shapes[key] = _encode_camera(job, key, wanted)
    return _EpisodeResult(job.episode_index, job.bag_dir, task, state, action, video_shapes, warnings)


def _in_window(times: np.ndarray, window: tuple[int, int] | None) -> np.ndarray:
    if window is None:
        return np.ones(len(times), dtype=bool)
    return (times >= window[0]) & (times <= window[1])


def _episode_task(
    job: _EpisodeJob, task_times: np.ndarray, task_texts: list[str], ticks: np.ndarray, where: str, warnings: list[str]
) -> str:
    """The mapping's fixed text, else the task in effect at the first frame (the latest message at or
    before it), else the first one sent during the episode."""
    mapping = job.mapping
    assert mapping is not None
    if mapping.task_text:
        return mapping.task_text
    during = [text for t, text in zip(task_times, task_texts, strict=True) if ticks[0] < t <= ticks[-1]]
    before = int(np.searchsorted(task_times, ticks[0], side="right")) - 1
    if before >= 0:
        task = task_texts[before]
    elif during:
        task = during[0]
    else:
        raise ConversionError(
            f"{where}: no message on the task topic {mapping.task_topic} before or during the episode "
            f"({ticks[0] * 1e-9:.3f}-{ticks[-1] * 1e-9:.3f} s); give task: {{text: ...}} in the mapping instead"
        )
    others = sorted(set(during) - {task})
    if others:
        warnings.append(f"{where}: the task topic changed during the episode to {others}; the episode keeps {task!r}")
    return task.strip()


def convert_mapped_episode(job: _EpisodeJob) -> _EpisodeResult:
    """One episode of a bag recorded by another tool, read through the mapping (see bag_mapping.py)."""
    from .foreign_bag import read_mapped_streams

    mapping = job.mapping
    assert mapping is not None
    joints = job.layout.joint_names
    streams = read_mapped_streams(job.bag_dir, mapping, joints)
    where = job.bag_dir.name
    if job.window_ns is not None:
        where += f" [{job.window_ns[0] * 1e-9:.3f}-{job.window_ns[1] * 1e-9:.3f} s]"
    warnings: list[str] = []
    if streams.states.unreported_joints:
        raise ConversionError(
            f"{where}: joints {streams.states.unreported_joints} of the dataset layout never appear on the state topic "
            f"{mapping.state.topic} (it names {streams.state_names_seen}); rename them under joint_names in "
            f"{mapping.source}, or choose a data config / --groups that matches the robot"
        )
    state_keep = _in_window(streams.states.times_ns, job.window_ns)
    state_times, state_values = streams.states.times_ns[state_keep], streams.states.positions[state_keep]
    streams_to_overlap = {"state": state_times}
    if streams.commands is not None:
        if not len(streams.commands.times_ns):
            raise ConversionError(f"{where}: no joint positions on the action topic {mapping.action.topic}")
        command_keep = _in_window(streams.commands.times_ns, job.window_ns)
        command_times, command_values = (
            streams.commands.times_ns[command_keep],
            streams.commands.positions[command_keep],
        )
        streams_to_overlap["action"] = command_times
    camera_orders, camera_sorted = {}, {}
    for key in job.video_keys:
        all_times = streams.camera_times_ns[key]
        order = np.argsort(all_times, kind="stable")
        order = order[_in_window(all_times[order], job.window_ns)]
        camera_orders[key], camera_sorted[key] = order, all_times[order]
        streams_to_overlap[f"camera {key}"] = camera_sorted[key]
    empty = [name for name, times in streams_to_overlap.items() if not len(times)]
    if empty:
        raise ConversionError(f"{where}: no messages from {empty} in this episode")
    start, end = overlap(*streams_to_overlap.values())
    late = {name: (int(times[0]) - int(state_times[0])) * 1e-9 for name, times in streams_to_overlap.items()}
    latest = max(late, key=late.get)
    if late[latest] > mapping.max_camera_gap_s:
        warnings.append(
            f"{where}: {latest} starts {late[latest]:.2f} s after the joint states; the episode starts there"
        )
    ticks = make_timeline(start, end, job.fps)
    minimum = 3 if streams.commands is None else 2
    if len(ticks) < minimum:
        raise ConversionError(
            f"{where}: the streams overlap for {(end - start) * 1e-9:.3f} s only, "
            f"less than {minimum} frames at {job.fps} Hz"
        )

    state = _fill_leading_nan(sample_and_hold(state_times, state_values, ticks))
    if streams.commands is None:
        # No commands recorded: the action at frame k is where the robot was at frame k + 1.
        action, state, ticks = state[1:], state[:-1], ticks[:-1]
    else:
        action = _fill_leading_nan(sample_and_hold(command_times, command_values, ticks))
        never_commanded = [n for n in streams.commands.unreported_joints]
        if never_commanded:
            columns = [joints.index(n) for n in never_commanded]
            action[:, columns] = state[:, columns]
            warnings.append(
                f"{where}: joints {never_commanded} "
                f"are not on {mapping.action.topic}; their action is the measured position"
            )

    task = _episode_task(job, streams.task_times_ns, streams.task_texts, ticks, where, warnings)
    video_shapes: dict[str, tuple[int, int]] = {}
    for key in job.video_keys:
        used = latest_index(camera_sorted[key], ticks)
        age_s = (ticks - camera_sorted[key][used]) * 1e-9
        stale = age_s > mapping.max_camera_gap_s
        if stale.any():
            warnings.append(
                f"{where}: camera {key} ({mapping.cameras[key]}) had no new frame for up to {age_s.max():.2f} s; "
                f"{int(stale.sum())} of {len(ticks)} frames repeat an older image"
            )
        video_shapes[key] = _encode_camera(job, key, camera_orders[key][used])
    return _EpisodeResult(job.episode_index, job.bag_dir, task, state, action, video_shapes, warnings)


def _encode_camera(job: _EpisodeJob, key: str, wanted: np.ndarray) -> tuple[int, int]:
    """Write frames `wanted[k]` (indices in bag order) to the episode's MP4; returns (height, width)."""
    path = ds.video_path(job.output_dir, job.episode_index, key)
    writer: Mp4Writer | None = None
    monotone = bool(np.all(np.diff(wanted) >= 0))
    cache: dict[int, np.ndarray] = {}
    needed = set(wanted.tolist())
    position = 0
    try:
        for bag_index, msg in enumerate(iter_camera_frames(job.bag_dir, job.topics.cameras[key])):
            if bag_index not in needed:
                continue
            rgb = image_to_rgb(msg)
            if writer is None:
                width, height = job.image_size or (rgb.shape[1], rgb.shape[0])
                writer = Mp4Writer(path, job.fps, width, height)
            if monotone:  # stream: each frame is used by a run of consecutive ticks
                while position < len(wanted) and wanted[position] == bag_index:
                    writer.add(rgb)
                    position += 1
            else:
                cache[bag_index] = rgb
        if writer is None:
            raise ConversionError(f"{job.bag_dir.name}: camera {key!r} yielded no frames")
        if not monotone:
            for bag_index in wanted:
                writer.add(cache[int(bag_index)])
    finally:
        if writer is not None:
            writer.close()
    return writer.height, writer.width


# ---------------------------------------------------------------------------- whole dataset
def convert(config: ConversionConfig) -> ConversionReport:
    from gr00t_policy.model.embodiments import get_data_config  # torch import: only when converting

    stack = load_stack(config.stack)
    data_config = get_data_config(config.data_config or stack.data_config)
    layout = group_layout(stack, data_config, config.groups)
    mapping = load_mapping(config.mapping) if config.mapping is not None else None
    if mapping is not None:
        topics = _mapped_topics(mapping, data_config, config)
    else:
        cameras = stack.camera_topics()
        unknown = [k for k in data_config.video_keys if k not in cameras]
        if unknown:
            raise ConversionError(
                f"data config {data_config.name!r} needs cameras {unknown}; stack {stack.path} has {sorted(cameras)}"
            )
        topics = EpisodeTopics(
            joint_states=stack.topics["joint_states"],
            joint_command=stack.topics["joint_command"],
            instruction=stack.topics["instruction"],
            cameras={k: cameras[k]["image"] for k in data_config.video_keys},
        )
    annotation_keys = [ds.TASK_DESCRIPTION_COLUMN, ds.VALIDITY_COLUMN]
    if data_config.language_key not in annotation_keys:
        annotation_keys.append(data_config.language_key)

    bags, skipped = find_episode_bags(config.inputs)
    selected, not_selected = select_episodes(bags, config)
    skipped += not_selected
    if not selected:
        raise ConversionError(f"no episodes to convert in {[str(p) for p in config.inputs]}; skipped: {skipped}")

    final_output = Path(config.output_dir)
    if final_output.exists() and any(final_output.iterdir()):
        if not config.overwrite:
            raise ConversionError(f"output {final_output} is not empty; pass --overwrite to replace it")
        shutil.rmtree(final_output)
    # v3 packs the episodes into shared files once all are written: the episodes go to a v2.1
    # staging directory first (the workers write one MP4 per episode), then are repacked.
    output = final_output if config.format == "gr00t-v2" else final_output.with_name(final_output.name + ".v2-staging")
    if output != final_output and output.exists():
        shutil.rmtree(output)
    (output / "meta").mkdir(parents=True, exist_ok=True)

    episodes: list[tuple[Path, tuple[int, int] | None]] = []
    for bag in selected:
        if mapping is None:
            episodes.append((bag, None))
            continue
        windows, pieces_skipped = _plan_mapped_bag(bag, mapping)
        skipped += [(bag, why) for why in pieces_skipped]
        episodes += [(bag, window) for window in windows]
    if not episodes:
        raise ConversionError(f"no episodes to convert in {[str(p) for p in config.inputs]}; skipped: {skipped}")
    time_source = mapping.time_source if mapping is not None else config.time_source
    jobs = [
        _EpisodeJob(
            bag,
            i,
            output,
            topics,
            layout,
            tuple(data_config.video_keys),
            config.fps,
            config.image_size,
            time_source,
            config.task,
            mapping,
            window,
        )
        for i, (bag, window) in enumerate(episodes)
    ]
    results = _run_jobs(jobs, config)

    # Main process: tasks, global indices, parquet, meta, stats.
    tasks: list[str] = []
    for result in results:
        if result.task not in tasks:
            tasks.append(result.task)
    tasks.append(ds.VALID_TASK)
    valid_index = len(tasks) - 1
    shapes = {key: results[0].video_shapes[key] for key in data_config.video_keys}
    warnings = [w for r in results for w in r.warnings]
    first_index = 0
    episodes_rows, episodes_stats, all_states, all_actions = [], [], [], []
    for result in results:
        if result.video_shapes != shapes:
            raise ConversionError(
                f"{result.bag_dir.name}: frame sizes {result.video_shapes} differ from the first episode's {shapes}; "
                "GR00T needs one resolution per camera: pass --image-size WxH"
            )
        task_index = tasks.index(result.task)
        table = ds.episode_table(
            result.state,
            result.action,
            config.fps,
            result.episode_index,
            first_index,
            task_index,
            valid_index,
            annotation_keys,
        )
        ds.write_table(ds.data_path(output, result.episode_index), table)
        length = len(result.state)
        frames = np.arange(length)
        episodes_stats.append(
            {
                "episode_index": result.episode_index,
                "stats": ds.compute_stats(
                    {
                        ds.STATE_COLUMN: result.state,
                        ds.ACTION_COLUMN: result.action,
                        "timestamp": frames / config.fps,
                        "frame_index": frames,
                        "episode_index": np.full(length, result.episode_index),
                        "index": first_index + frames,
                        "task_index": np.full(length, task_index),
                    }
                ),
            }
        )
        episodes_rows.append(
            {"episode_index": result.episode_index, "tasks": [result.task, ds.VALID_TASK], "length": length}
        )
        all_states.append(result.state)
        all_actions.append(result.action)
        first_index += length

    total_frames = first_index
    meta = output / "meta"
    ds.write_jsonl(meta / "episodes.jsonl", episodes_rows)
    ds.write_jsonl(meta / "episodes_stats.jsonl", episodes_stats)  # LeRobot v2.1's per-episode statistics
    ds.write_jsonl(meta / "tasks.jsonl", ({"task_index": i, "task": t} for i, t in enumerate(tasks)))
    info = ds.info_json(
        stack.robot.name, config.fps, layout, shapes, len(results), total_frames, len(tasks), annotation_keys
    )
    (meta / "info.json").write_text(json.dumps(info, indent=2))
    (meta / "modality.json").write_text(
        json.dumps(ds.modality_json(layout, data_config.video_keys, annotation_keys), indent=2)
    )
    timestamps = np.concatenate([np.arange(len(s)) / config.fps for s in all_states])
    stats = ds.compute_stats(
        {
            ds.STATE_COLUMN: np.concatenate(all_states),
            ds.ACTION_COLUMN: np.concatenate(all_actions),
            "timestamp": timestamps,
        }
    )
    (meta / "stats.json").write_text(json.dumps(stats, indent=2))

    if config.validate:
        ds.validate_dataset(
            output,
            required_groups={"state": data_config.state_groups, "action": data_config.action_groups},
            required_video_keys=data_config.video_keys,
        )
    if output != final_output:
        from .lerobot_v3 import write_v3

        write_v3(output, final_output)
        shutil.rmtree(output)
    report = ConversionReport(
        final_output, [(r.episode_index, r.bag_dir, len(r.state)) for r in results], skipped, warnings, total_frames
    )
    LOG.info(report.describe())
    return report


def _mapped_topics(mapping: BagMapping, data_config: Any, config: ConversionConfig) -> EpisodeTopics:
    if config.task is not None:
        raise ConversionError(
            f"--task is for our recorder's bags; with --mapping give the task in {mapping.source} (task: {{text: ...}})"
        )
    missing = [k for k in data_config.video_keys if k not in mapping.cameras]
    extra = [k for k in mapping.cameras if k not in data_config.video_keys]
    if missing or extra:
        raise ConversionError(
            f"data config {data_config.name!r} takes cameras {list(data_config.video_keys)}; mapping {mapping.source} "
            f"maps {sorted(mapping.cameras)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (not used: {extra})" if extra else "")
        )
    return EpisodeTopics(
        joint_states=mapping.state.topic,
        joint_command=mapping.action.topic if mapping.action else "",
        instruction=mapping.task_topic or "",
        cameras={k: mapping.cameras[k] for k in data_config.video_keys},
    )


def _plan_mapped_bag(bag: Path, mapping: BagMapping) -> tuple[list[tuple[int, int] | None], list[str]]:
    """The episodes of one foreign bag (windows; [None] = the whole bag) and the pieces skipped."""
    from .episode_reader import EpisodeReadError
    from .foreign_bag import plan_bag_episodes

    try:
        windows, skipped = plan_bag_episodes(bag, mapping)
    except EpisodeReadError as exc:
        raise ConversionError(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - rosbags raises its own errors for damaged bags
        raise ConversionError(f"{bag}: cannot read the bag ({type(exc).__name__}: {exc})") from exc
    return ([None] if windows is None else list(windows)), skipped


def _run_jobs(jobs: list[_EpisodeJob], config: ConversionConfig) -> list[_EpisodeResult]:
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="episodes", unit="ep", disable=not config.progress)
    results: dict[int, _EpisodeResult] = {}
    try:
        if config.workers == 1 or len(jobs) == 1:
            for job in jobs:
                results[job.episode_index] = convert_episode(job)
                bar.update()
        else:
            # spawn, not fork: the parent may hold threads (rclpy, tqdm) that fork would copy mid-lock.
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(min(config.workers, len(jobs)), mp_context=context) as pool:
                futures = {pool.submit(convert_episode, job): job for job in jobs}
                for future in concurrent.futures.as_completed(futures):
                    job = futures[future]
                    try:
                        results[job.episode_index] = future.result()
                    except Exception as exc:
                        for other in futures:
                            other.cancel()
                        raise ConversionError(f"episode {job.bag_dir}: {exc}") from exc
                    bar.update()
    finally:
        bar.close()
    return [results[i] for i in sorted(results)]
