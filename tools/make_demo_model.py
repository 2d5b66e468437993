#!/usr/bin/env python3
"""Write the random-weights demo-size model (`models/gr00t_random/`), reproducibly.

The GR00T N1 architecture at the `demo` preset size, seeded random weights, with the embodiment
statistics taken from the robot's operating joint limits (so un-normalised actions stay in range).
It is the starting point of the bundled demo policy (`tools/train_demo_policy.sh` fine-tunes it into
`models/gr00t_demo/`) and the random-weights baseline of the benchmark.

    python tools/make_demo_model.py --out models/gr00t_random --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gr00t_description import load_stack
from gr00t_policy.model.embodiments import get_data_config, make_metadata
from gr00t_policy.policy import Gr00tPolicy


def limit_statistics(stack, groups) -> dict[str, dict[str, list[float]]]:
    robot = stack.robot
    return {
        group: {
            "min": [robot.joints[n].lower for n in robot.groups[group]],
            "max": [robot.joints[n].upper for n in robot.groups[group]],
        }
        for group, _ in groups
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("models/gr00t_random"))
    parser.add_argument("--stack", default="", help="stack YAML (default gr1t2_sim)")
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    stack = load_stack(args.stack or None)
    data_config = get_data_config(stack.data_config, stack.embodiment_tag)
    sim = stack.node_parameters("sim")
    resolution = (int(sim.get("render_width", 224)), int(sim.get("render_height", 224)))
    metadata = make_metadata(
        stack.embodiment_tag,
        data_config,
        state_stats=limit_statistics(stack, data_config.state_groups),
        action_stats=limit_statistics(stack, data_config.action_groups),
        video_resolution={key: resolution for key in data_config.video_keys},
    )
    policy = Gr00tPolicy.from_preset(
        args.preset,
        seed=args.seed,
        embodiment=stack.embodiment_tag,
        data_config=stack.data_config,
        metadata=metadata,
    )
    # bf16 on disk halves the bundle; the nodes load it into float32.
    files = policy.save_pretrained(args.out, dtype=torch.bfloat16)
    card = {
        "name": args.out.name,
        "architecture": "GR00T N1",
        "preset": args.preset,
        "weights": f"random (torch.manual_seed({args.seed})); not trained",
        "embodiment": stack.embodiment_tag,
        "data_config": stack.data_config,
        "statistics": f"operating joint limits of robot {stack.robot.name!r}",
        "parameters": sum(p.numel() for p in policy.model.parameters()),
    }
    (args.out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {[str(f) for f in files]} ({card['parameters']:,} parameters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
