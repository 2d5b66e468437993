"""``gr00t-finetune``: fine-tune GR00T N1 on a GR00T LeRobot dataset with the flow-matching loss.

Examples::

    # the reference recipe on a real checkpoint (new_embodiment slot, LLM frozen)
    gr00t-finetune --dataset data/gr1_pick --base-model checkpoints/GR00T-N1-2B \\
        --tokenizer-dir src/gr00t_policy/test/data/reference/eagle2_tokenizer --output-dir runs/gr1_pick
    # the small demo model on CPU, projector + DiT only, no video decoding
    gr00t-finetune --dataset data/gr1_pick --preset demo --output-dir runs/demo \\
        --no-tune-visual --no-video --max-steps 200 --batch-size 8
    # continue after an interruption
    gr00t-finetune ... --output-dir runs/gr1_pick --resume
    # 4 GPUs on one machine (DDP): effective batch = 16 per GPU x 4 = 64 samples per step
    torchrun --nproc_per_node 4 $(which gr00t-finetune) --dataset data/gr1_pick \\
        --base-model checkpoints/GR00T-N1-2B --output-dir runs/gr1_pick --batch-size 16

The result (``<output-dir>``, and every ``<output-dir>/checkpoint-<step>``) loads with
``Gr00tPolicy.from_pretrained``; losses are in ``<output-dir>/train_log.jsonl``.
Under torchrun ``--batch-size`` is per process (device): an optimizer step sees
batch size x gradient accumulation steps x processes samples. Only rank 0 writes files and logs
at INFO level; the other ranks log warnings and errors only.
Exit status: 0 done, 2 bad input (dataset, checkpoint, settings).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..model.checkpoint import CheckpointError
from ..model.configuration_gr00t_n1 import ConfigError, preset_names
from ..model.embodiments import DATA_CONFIGS, EMBODIMENT_IDS
from ..model.hub import ModelNotFoundError
from ..model.processing_gr00t_n1 import TokenizerLoadError
from ..training.config import NORMALIZATION_STATS, SAVE_DTYPES, FinetuneConfig
from ..training.dataset_meta import DatasetError
from ..training.distributed import env_rank
from ..training.trainer import finetune

EXIT_OK, EXIT_BAD_INPUT = 0, 2
_DEFAULTS = FinetuneConfig(dataset_dir=Path("."), output_dir=Path("."), preset="demo")


def build_parser() -> argparse.ArgumentParser:
    d = _DEFAULTS
    parser = argparse.ArgumentParser(
        prog="gr00t-finetune",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    io = parser.add_argument_group("data and model")
    io.add_argument(
        "--dataset",
        required=True,
        type=Path,
        help="dataset directory: GR00T LeRobot v2 (modality.json) or LeRobot v3.0 with modality.json",
    )
    io.add_argument("--output-dir", required=True, type=Path, help="checkpoints, logs and the final model")
    base = io.add_mutually_exclusive_group(required=True)
    base.add_argument(
        "--base-model",
        help="checkpoint to start from: a directory (HF layout) or a Hugging Face "
        "repo id, org/name[@revision], from the Hub cache (HF_HUB_OFFLINE=1: cache only)",
    )
    base.add_argument("--preset", choices=preset_names(), help="start from random weights of a preset")
    io.add_argument("--preset-seed", type=int, default=d.preset_seed, help="seed of the preset's weights")
    io.add_argument(
        "--instruction-first",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="prompt order: instruction before the images (default: the base model's; GR00T N1: after)",
    )
    io.add_argument("--tokenizer-dir", type=Path, help="Eagle-2 tokenizer files (default <base-model>/tokenizer)")
    io.add_argument(
        "--embodiment",
        default=d.embodiment_tag,
        choices=sorted(EMBODIMENT_IDS),
        help="embodiment tag: projector slot and metadata key",
    )
    io.add_argument(
        "--normalization-stats",
        default=d.normalization_stats,
        choices=NORMALIZATION_STATS,
        help="min/max normalisation: the dataset's (the original runner), or the base checkpoint's "
        "for this embodiment (continuing a policy on more data of the same robot)",
    )
    io.add_argument(
        "--data-config", default=d.data_config, choices=sorted(DATA_CONFIGS), help="state/action groups and cameras"
    )
    io.add_argument(
        "--no-video",
        dest="use_video",
        action="store_false",
        help="feed blank frames instead of decoding videos (state + language only)",
    )
    io.add_argument("--num-workers", type=int, default=d.num_workers, help="DataLoader worker processes")
    io.add_argument(
        "--video-cache-episodes",
        type=int,
        default=d.video_cache_episodes,
        help="decoded episode videos kept per worker (LRU); samples are drawn across all episodes, "
        "so a small dataset trains fastest with all of them cached (~150 KB per frame)",
    )
    io.add_argument(
        "--opening-seconds",
        dest="opening_s",
        type=float,
        default=d.opening_s,
        help="with --opening-repeat: how much of each episode's start is oversampled",
    )
    io.add_argument(
        "--opening-repeat",
        type=int,
        default=d.opening_repeat,
        help="draw the frames of each episode's first --opening-seconds this many times per epoch "
        "(where a demonstration commits to its target; default 1 = no oversampling)",
    )

    tune = parser.add_argument_group("what to train (reference defaults: LLM frozen, rest trains)")
    for name, helptext in (
        ("llm", "the language model"),
        ("visual", "the SigLIP tower and mlp1"),
        ("projector", "state/action encoders, action decoder, position embedding"),
        ("diffusion-model", "the DiT"),
    ):
        attr = f"tune_{name.replace('-', '_')}"
        tune.add_argument(
            f"--tune-{name}",
            dest=attr,
            action=argparse.BooleanOptionalAction,
            default=getattr(d, attr),
            help=f"train {helptext}",
        )

    opt = parser.add_argument_group("optimisation")
    opt.add_argument(
        "--batch-size",
        type=int,
        default=d.batch_size,
        help="samples per micro-batch per process (effective batch: x accumulation x processes)",
    )
    opt.add_argument("--gradient-accumulation-steps", type=int, default=d.gradient_accumulation_steps)
    opt.add_argument("--max-steps", type=int, default=d.max_steps, help="optimizer steps")
    opt.add_argument("--learning-rate", type=float, default=d.learning_rate)
    opt.add_argument("--weight-decay", type=float, default=d.weight_decay)
    opt.add_argument("--warmup-ratio", type=float, default=d.warmup_ratio)
    opt.add_argument(
        "--goal-readout-weight",
        type=float,
        default=d.goal_readout_weight,
        help="auxiliary loss, training only: a linear readout of the chunk's motion from the mean goal "
        "token, so System 2 must say where to move (default 0 = off, the reference recipe)",
    )
    opt.add_argument("--max-grad-norm", type=float, default=d.max_grad_norm, help="clipping; 0 disables")

    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, default=d.seed)
    run.add_argument("--device", default=d.device, help="auto (cuda if available), cpu, cuda, cuda:1")
    run.add_argument("--no-bf16", dest="bf16", action="store_false", help="fp32 on CUDA too")
    run.add_argument("--save-steps", type=int, default=d.save_steps, help="checkpoint period (steps)")
    run.add_argument("--save-total-limit", type=int, default=d.save_total_limit, help="checkpoints kept")
    run.add_argument("--save-dtype", default=d.save_dtype, choices=sorted(SAVE_DTYPES))
    run.add_argument("--log-every", type=int, default=d.log_every, help="steps per train_log.jsonl line")
    run.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output-dir")
    run.add_argument("--no-progress", dest="progress_bar", action="store_false", help="no tqdm bar")
    run.add_argument(
        "--ddp-find-unused-parameters",
        action=argparse.BooleanOptionalAction,
        default=d.ddp_find_unused_parameters,
        help="under torchrun: DDP's find_unused_parameters (default: on only if a trainable "
        "parameter gets no gradient in a probe step)",
    )
    return parser


def config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    return FinetuneConfig(
        dataset_dir=args.dataset,
        output_dir=args.output_dir,
        base_model=args.base_model,
        preset=args.preset,
        preset_seed=args.preset_seed,
        tokenizer_dir=args.tokenizer_dir,
        instruction_first=args.instruction_first,
        embodiment_tag=args.embodiment,
        normalization_stats=args.normalization_stats,
        data_config=args.data_config,
        tune_llm=args.tune_llm,
        tune_visual=args.tune_visual,
        tune_projector=args.tune_projector,
        tune_diffusion_model=args.tune_diffusion_model,
        batch_size=args.batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        warmup_ratio=args.warmup_ratio,
        max_grad_norm=args.max_grad_norm,
        use_video=args.use_video,
        num_workers=args.num_workers,
        video_cache_episodes=args.video_cache_episodes,
        opening_s=args.opening_s,
        opening_repeat=args.opening_repeat,
        goal_readout_weight=args.goal_readout_weight,
        seed=args.seed,
        device=args.device,
        bf16=args.bf16,
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        save_dtype=args.save_dtype,
        log_every=args.log_every,
        resume=args.resume,
        progress_bar=args.progress_bar,
        ddp_find_unused_parameters=args.ddp_find_unused_parameters,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rank = env_rank()  # 0 unless launched by torchrun
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s"
        if rank == 0
        else f"%(levelname)s [rank {rank}] %(name)s: %(message)s",
    )
    try:
        result = finetune(config_from_args(args))
    except (
        DatasetError,
        CheckpointError,
        ConfigError,
        TokenizerLoadError,
        FileExistsError,
        ModelNotFoundError,
        ValueError,
        KeyError,
    ) as exc:
        print(f"error: {exc}" if rank == 0 else f"error [rank {rank}]: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if rank == 0:
        last = f", last loss {result.losses[-1][1]:.4f}" if result.losses else ""
        print(f"done: step {result.final_step}{last}; model in {result.output_dir}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
