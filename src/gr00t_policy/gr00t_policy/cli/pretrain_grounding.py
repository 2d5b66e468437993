"""``gr00t-pretrain-grounding``: train a checkpoint's System 2 to say where the named object is.

Example (the bundled demo policy's first stage)::

    python -m gr00t_sim.grounding_scenes --episodes 2000 --output out/grounding/train.npz
    python -m gr00t_sim.grounding_scenes --episodes 200 --seed-start 8000 --output out/grounding/validation.npz
    gr00t-pretrain-grounding --scenes out/grounding/train.npz --validation out/grounding/validation.npz \\
        --base-model models/gr00t_demo --output-dir out/grounding/model --max-steps 4000

The output loads with ``Gr00tPolicy.from_pretrained`` (action head unchanged); the held-out
accuracy is in ``<output-dir>/grounding_log.jsonl``, settings and result in
``grounding_pretraining.json``. Exit status: 0 done, 2 bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..model.checkpoint import CheckpointError
from ..model.configuration_gr00t_n1 import ConfigError
from ..model.hub import resolve_model
from ..training.grounding import GroundingConfig, pretrain_grounding

EXIT_OK, EXIT_BAD_INPUT = 0, 2
_DEFAULTS = GroundingConfig(scenes=Path("."), validation=Path("."), base_model=Path("."), output_dir=Path("."))


def build_parser() -> argparse.ArgumentParser:
    d = _DEFAULTS
    parser = argparse.ArgumentParser(
        prog="gr00t-pretrain-grounding",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--scenes", required=True, type=Path, help="training scenes (.npz, gr00t_sim.grounding_scenes)")
    parser.add_argument("--validation", required=True, type=Path, help="held-out scenes (.npz, other seeds)")
    parser.add_argument(
        "--base-model",
        required=True,
        help="checkpoint to start from: a directory or a Hugging Face repo id org/name[@revision]",
    )
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--max-steps", type=int, default=d.max_steps)
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--learning-rate", type=float, default=d.learning_rate)
    parser.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    parser.add_argument("--tune-visual", action=argparse.BooleanOptionalAction, default=d.tune_visual)
    parser.add_argument("--tune-llm", action=argparse.BooleanOptionalAction, default=d.tune_llm)
    parser.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between held-out evaluations")
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default=d.device, help="auto | cpu | cuda[:N]")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    log = logging.getLogger("gr00t-pretrain-grounding")
    try:
        config = GroundingConfig(
            scenes=args.scenes,
            validation=args.validation,
            base_model=resolve_model(args.base_model),
            output_dir=args.output_dir,
            max_steps=args.max_steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            warmup_steps=args.warmup_steps,
            tune_visual=args.tune_visual,
            tune_llm=args.tune_llm,
            eval_every=args.eval_every,
            seed=args.seed,
            device=args.device,
        )
        result = pretrain_grounding(config)
    except (ValueError, OSError, CheckpointError, ConfigError) as exc:
        log.error("%s", exc)
        return EXIT_BAD_INPUT
    log.info(
        "done: held-out named side %.1f%%, position error %.1f cm -> %s",
        100 * result["side_accuracy"],
        result["target_error_cm"],
        args.output_dir,
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
