#!/usr/bin/env python3
"""Train the small byte-level BPE tokenizer shipped with the ``demo`` model preset.

The real GR00T-N1-2B uses the 49,164-token Eagle-2 vocabulary, whose embedding table alone is
100 M parameters. The ``demo`` preset (random weights, for the simulator and tests) needs only a
tokenizer with the same prompt machinery: the special tokens the GR00T prompt uses, byte-level
BPE (so any instruction encodes), and a small vocabulary. This script trains one on a synthetic
corpus of tabletop-manipulation instructions plus the prompt template text, deterministically.

Output: ``gr00t_policy/model/assets/demo_tokenizer/tokenizer.json`` (committed; rerun this script
only to change the vocabulary, and keep ``DEMO_VOCAB_SIZE`` / ``DEMO_IMAGE_CONTEXT_TOKEN_ID`` in
``configuration_gr00t_n1.py`` in step).

Usage: python scripts/train_demo_tokenizer.py [--output DIR] [--vocab-size 2048]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = PACKAGE_ROOT / "gr00t_policy" / "model" / "assets" / "demo_tokenizer"

# Order fixes the ids: pad/eos <|im_end|> = 2 and <IMG_CONTEXT> = 5 are what the demo config expects.
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>"]

VERBS = [
    "pick",
    "place",
    "put",
    "move",
    "push",
    "pull",
    "open",
    "close",
    "grab",
    "lift",
    "stack",
    "pour",
    "turn",
    "rotate",
    "slide",
    "hand",
    "wipe",
    "drop",
    "insert",
    "remove",
    "take",
    "fold",
    "press",
]
OBJECTS = [
    "pear",
    "apple",
    "banana",
    "orange",
    "cup",
    "mug",
    "bottle",
    "can",
    "box",
    "cube",
    "block",
    "bowl",
    "plate",
    "drawer",
    "door",
    "lid",
    "sponge",
    "towel",
    "marker",
    "pen",
    "book",
    "phone",
    "spoon",
    "fork",
    "knife",
    "basket",
    "tray",
    "jar",
    "kettle",
    "cabinet",
    "microwave",
    "faucet",
]
ADJECTIVES = [
    "red",
    "blue",
    "green",
    "yellow",
    "white",
    "black",
    "small",
    "large",
    "wooden",
    "metal",
    "plastic",
    "empty",
    "full",
    "left",
    "right",
    "top",
    "bottom",
    "front",
    "back",
    "middle",
]
PLACES = [
    "counter",
    "table",
    "shelf",
    "plate",
    "bowl",
    "basket",
    "tray",
    "sink",
    "drawer",
    "box",
    "cabinet",
    "bin",
    "stove",
    "floor",
    "desk",
]
PREPOSITIONS = [
    "in",
    "on",
    "into",
    "onto",
    "from",
    "to",
    "next to",
    "behind",
    "in front of",
    "under",
    "above",
]
EXTRA_TEXT = [
    "You are a helpful assistant.",
    "Perform the default behavior.",
    "system",
    "user",
    "assistant",
    "<image 1>",
    "<image 2>",
    "<image 3>",
    "<image 4>",
    "the robot should carefully use both hands and then return to the home position",
    "with the left hand",
    "with the right hand",
    "slowly",
    "quickly",
    "then",
    "and",
    "it",
    "the",
    "a",
]
COMMON_WORDS = (
    "a about above across after again against all almost along also always am an and another any are "
    "around as at away back be because been before behind being below beside between both but by can "
    "carefully center clean close closer corner could count do does done down during each edge else "
    "end enough every far few first for forward from gently get give go gripper grasp half handle have "
    "he her here high him his hold how if inside is its just keep last leave less let level like low "
    "make many me more most much must near new next no not now of off old once one only or other our "
    "out outside over part pick position put reach ready release rest right same see set she should "
    "side so some start still stop such than that their them there these they thing this those through "
    "tight to together too toward two up upright use very wait was way we well were what when where "
    "which while who will with within without would yes you your zero one two three four five six "
    "seven eight nine ten robot arm hand finger thumb wrist elbow shoulder waist neck head camera view "
    "object target goal task episode success failure human person kitchen room home"
).split()


def corpus() -> list[str]:
    """Deterministic synthetic instructions (a few thousand lines)."""
    # Repeated so that every template word reaches the merge frequency threshold.
    lines = list(EXTRA_TEXT) * 4
    for a, b in itertools.product(COMMON_WORDS, repeat=2):
        lines.append(f"{a} {b}")
    for verb, adj, obj in itertools.product(VERBS, ADJECTIVES, OBJECTS):
        lines.append(f"{verb} the {adj} {obj}")
    for verb, obj, prep, place in itertools.product(VERBS[:8], OBJECTS, PREPOSITIONS, PLACES):
        lines.append(f"{verb} the {obj} {prep} the {place}")
    for word in VERBS + OBJECTS + ADJECTIVES + PLACES:
        lines.extend([word, word.capitalize(), f"{word}s", f"{word}."])
    return lines


def train(vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus(), trainer=trainer)
    for index, token in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(token) != index:
            raise RuntimeError(f"special token {token!r} got id {tokenizer.token_to_id(token)}, expected {index}")
    return tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="directory for tokenizer.json")
    parser.add_argument("--vocab-size", type=int, default=2048, help="upper bound on the vocabulary")
    args = parser.parse_args(argv)
    tokenizer = train(args.vocab_size)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "tokenizer.json"
    tokenizer.save(str(path), pretty=False)
    print(f"wrote {path}: vocabulary {tokenizer.get_vocab_size()} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
