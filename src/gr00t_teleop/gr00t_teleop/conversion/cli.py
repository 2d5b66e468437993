"""`gr00t-convert`: recorded episode bags → GR00T LeRobot v2 dataset."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .converter import FORMATS, GROUP_CHOICES, ConversionConfig, ConversionError, convert
from .episode_reader import TIME_SOURCES
from .lerobot_dataset import DatasetValidationError


def _image_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 224x224, got {text!r}") from None
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"width and height must be positive and even (H.264 yuv420p), got {text!r}")
    return width, height


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gr00t-convert",
        description="Convert episode bags recorded by the gr00t_teleop recorder into a GR00T LeRobot v2 dataset "
        "(only successful episodes unless asked otherwise), or bags recorded by `ros2 bag record` (MCAP or sqlite3) "
        "with --mapping FILE saying which topics are the state, action, cameras and task and how to split episodes "
        "(docs/bag_mapping.md).",
        epilog="examples: gr00t-convert ~/gr00t_episodes -o ~/datasets/gr1_pick_pear --fps 20 --workers 2; "
        "gr00t-convert ~/bags -o ~/datasets/mine --mapping my_robot.yaml",
    )
    parser.add_argument("inputs", nargs="+", type=Path, help="episode bag directories, or folders holding them")
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset directory to create")
    parser.add_argument("--stack", default=None, help="stack YAML (path or installed name; default: gr1t2_sim)")
    parser.add_argument(
        "--data-config", default=None, help="GR00T data config (default: the stack's embodiment.data_config)"
    )
    parser.add_argument("--fps", type=float, default=20.0, help="dataset frame rate (default 20, the GR-1 data's)")
    parser.add_argument(
        "--groups",
        choices=GROUP_CHOICES,
        default="data_config",
        help="joint groups to store: those of the data config (default) or all robot groups",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="gr00t-v2",
        help="gr00t-v2: the LeRobot v2.1 layout with GR00T's modality.json (Isaac-GR00T, default); "
        "lerobot-v3: LeRobot's v3.0 layout (LeRobot >= 0.4 and its GR00T integration); "
        "both load in LeRobot and in gr00t-finetune",
    )
    parser.add_argument("--include-failed", action="store_true", help="also convert episodes stopped as failures")
    parser.add_argument(
        "--include-interrupted", action="store_true", help="also convert interrupted/recovered episodes"
    )
    parser.add_argument("--task", default=None, help="language instruction for bags that carry none")
    parser.add_argument(
        "--mapping",
        type=Path,
        default=None,
        metavar="YAML",
        help="mapping file for bags not written by our recorder: state/action/camera/task topics, "
        "episode split, joint renames (docs/bag_mapping.md)",
    )
    parser.add_argument("--image-size", type=_image_size, default=None, metavar="WxH", help="resize camera frames")
    parser.add_argument(
        "--time-source",
        choices=TIME_SOURCES,
        default="header",
        help="align streams by header stamps (default) or by bag receive times "
        "(with --mapping: the mapping file's time_source)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=max(1, min(4, (os.cpu_count() or 2) - 1)),
        help="episodes converted in parallel (processes)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    parser.add_argument("--no-validate", action="store_true", help="skip the final validation of the dataset")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    config = ConversionConfig(
        inputs=tuple(args.inputs),
        output_dir=args.output,
        stack=args.stack,
        data_config=args.data_config,
        fps=args.fps,
        groups=args.groups,
        include_failed=args.include_failed,
        include_interrupted=args.include_interrupted,
        task=args.task,
        mapping=args.mapping,
        format=args.format,
        image_size=args.image_size,
        time_source=args.time_source,
        workers=args.workers,
        overwrite=args.overwrite,
        validate=not args.no_validate,
        progress=not args.quiet,
    )
    try:
        report = convert(config)
    except (ConversionError, DatasetValidationError, ValueError) as exc:
        print(f"gr00t-convert: {exc}", file=sys.stderr)
        return 1
    print(report.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
