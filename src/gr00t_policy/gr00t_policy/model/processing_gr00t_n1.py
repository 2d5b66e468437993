"""System 2 input processing: tokenizers, the GR00T N1 prompt, and image preprocessing.

Prompt (``qwen2-chat`` template, doc §2.5), one 224 px tile per view, 64 ``<IMG_CONTEXT>`` per view::

    <|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n<|im_start|>user\\n
    [<image k>]<img>{64 x <IMG_CONTEXT>}</img>\\n ... {instruction}<|im_end|>\\n<|im_start|>assistant\\n

The ``<image k>`` prefix is dropped when there is exactly one view. With ``instruction_first`` (a
model option, off for GR00T N1 checkpoints) the user turn is ``{instruction}\n`` followed by the
image blocks, so that the causal LLM conditions every image token on the instruction.

Tokenizers are built with the ``tokenizers`` library (no Python slow tokenizer): the Eagle-2 files
(``vocab.json`` + ``merges.txt`` + the added tokens) give the same ids as the original slow
``GPT2Tokenizer``, including its quirk that ``assistant`` is an added token split out of any text
before BPE (so " assistant" -> 216, 49161). The ``demo`` tokenizer is a small byte-level BPE
trained by ``scripts/train_demo_tokenizer.py`` and shipped in ``assets/demo_tokenizer``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

from .configuration_gr00t_n1 import TOKENIZER_DEMO, TOKENIZER_EAGLE2, BackboneConfig

SYSTEM_MESSAGE = "You are a helpful assistant."  # DEFAULT_SYSTEM_MESSAGE in gr00t/model/transforms.py
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"
# Tokens the prompt builder relies on; both tokenizers must map each to a single id.
PROMPT_SPECIAL_TOKENS = (IM_START, IM_END, IMG_START, IMG_END, IMG_CONTEXT)
DEFAULT_INSTRUCTION = "Perform the default behavior."

DEMO_TOKENIZER_DIR = Path(__file__).parent / "assets" / "demo_tokenizer"
EAGLE2_TOKENIZER_FILES = ("vocab.json", "merges.txt", "added_tokens.json", "tokenizer_config.json")


class TokenizerLoadError(RuntimeError):
    """Tokenizer files are missing or inconsistent with the model."""


def build_prompt(
    instruction: str, num_views: int, num_image_tokens: int = 64, *, instruction_first: bool = False
) -> str:
    """The exact GR00T N1 prompt string for ``num_views`` views (doc §2.5), or its instruction-first variant."""
    if num_views < 1:
        raise ValueError(f"at least one view is needed, got {num_views}")
    image_block = IMG_START + IMG_CONTEXT * num_image_tokens + IMG_END
    if num_views == 1:
        images = image_block + "\n"
    else:
        images = "".join(f"<image {k + 1}>{image_block}\n" for k in range(num_views))
    user = f"{instruction}\n{images}" if instruction_first else f"{images}{instruction}"
    return f"{IM_START}system\n{SYSTEM_MESSAGE}{IM_END}\n{IM_START}user\n{user}{IM_END}\n{IM_START}assistant\n"


def load_eagle2_tokenizer(directory: str | Path) -> Tokenizer:
    """Byte-level BPE from the Eagle-2 ``vocab.json`` / ``merges.txt`` plus its added tokens.

    Special tokens (``added_tokens_decoder`` entries with ``special: true``) and the non-special
    added token ``assistant`` are registered in id order, so their ids are those of the files;
    this is checked, because a wrong id would silently corrupt every prompt.
    """
    directory = Path(directory)
    for name in EAGLE2_TOKENIZER_FILES:
        if not (directory / name).is_file():
            raise TokenizerLoadError(
                f"Eagle-2 tokenizer file {directory / name} is missing (expected "
                f"{', '.join(EAGLE2_TOKENIZER_FILES)} in {directory})"
            )
    try:
        config = json.loads((directory / "tokenizer_config.json").read_text())
        bpe = models.BPE.from_file(str(directory / "vocab.json"), str(directory / "merges.txt"))
    except Exception as exc:  # noqa: BLE001 - report any parse failure with the file names
        raise TokenizerLoadError(f"cannot read the Eagle-2 tokenizer in {directory}: {exc}") from exc
    tokenizer = Tokenizer(bpe)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    added = sorted(((int(i), d) for i, d in config.get("added_tokens_decoder", {}).items()), key=lambda item: item[0])
    for token_id, spec in added:
        token = AddedToken(
            spec["content"],
            single_word=spec.get("single_word", False),
            lstrip=spec.get("lstrip", False),
            rstrip=spec.get("rstrip", False),
            normalized=spec.get("normalized", False),
            special=spec.get("special", False),
        )
        if token.special:
            tokenizer.add_special_tokens([token])
        else:
            tokenizer.add_tokens([token])
        actual = tokenizer.token_to_id(spec["content"])
        if actual != token_id:
            raise TokenizerLoadError(
                f"{directory / 'tokenizer_config.json'}: added token {spec['content']!r} got id {actual}, "
                f"file says {token_id}"
            )
    return tokenizer


def load_demo_tokenizer(directory: str | Path = DEMO_TOKENIZER_DIR) -> Tokenizer:
    path = Path(directory) / "tokenizer.json"
    if not path.is_file():
        raise TokenizerLoadError(
            f"demo tokenizer {path} is missing; regenerate it with scripts/train_demo_tokenizer.py"
        )
    return Tokenizer.from_file(str(path))


@dataclass
class TokenizedPrompts:
    input_ids: torch.Tensor  # (B, T) int64, left padded
    attention_mask: torch.Tensor  # (B, T) int64, 0 on padding


class PromptTokenizer:
    """Tokenizes GR00T prompts and left-pads batches with the pad id (as the GR00T processor)."""

    def __init__(self, tokenizer: Tokenizer, pad_token: str = IM_END) -> None:
        self.tokenizer = tokenizer
        ids = {tok: tokenizer.token_to_id(tok) for tok in PROMPT_SPECIAL_TOKENS}
        missing = [tok for tok, i in ids.items() if i is None]
        if missing:
            raise TokenizerLoadError(f"tokenizer lacks the prompt tokens {missing}")
        self.special_ids = ids
        self.pad_token_id: int = ids[pad_token]
        self.image_context_token_id: int = ids[IMG_CONTEXT]

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    @classmethod
    def for_backbone(cls, config: BackboneConfig, tokenizer_dir: str | Path | None = None) -> PromptTokenizer:
        """Load the tokenizer family named by ``config.tokenizer`` and check it against the model."""
        if config.tokenizer == TOKENIZER_DEMO:
            tokenizer = load_demo_tokenizer(tokenizer_dir or DEMO_TOKENIZER_DIR)
        elif config.tokenizer == TOKENIZER_EAGLE2:
            if tokenizer_dir is None:
                raise TokenizerLoadError(
                    "this model uses the Eagle-2 tokenizer: pass tokenizer_dir=<directory with "
                    f"{', '.join(EAGLE2_TOKENIZER_FILES)}> (the files vendored in Isaac-GR00T "
                    "gr00t/model/backbone/eagle2_hg_model/)"
                )
            tokenizer = load_eagle2_tokenizer(tokenizer_dir)
        else:  # guarded by BackboneConfig, kept for clarity
            raise TokenizerLoadError(f"unknown tokenizer family {config.tokenizer!r}")
        prompt_tokenizer = cls(tokenizer)
        if prompt_tokenizer.image_context_token_id != config.image_context_token_id:
            raise TokenizerLoadError(
                f"tokenizer maps {IMG_CONTEXT} to {prompt_tokenizer.image_context_token_id}, the model "
                f"expects {config.image_context_token_id}"
            )
        if prompt_tokenizer.vocab_size > config.llm.vocab_size:
            raise TokenizerLoadError(
                f"tokenizer vocabulary ({prompt_tokenizer.vocab_size}) exceeds the LLM embedding "
                f"table ({config.llm.vocab_size})"
            )
        return prompt_tokenizer

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def __call__(self, prompts: Sequence[str]) -> TokenizedPrompts:
        encoded = [self.encode(p) for p in prompts]
        length = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), length), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), length), dtype=torch.long)
        for row, ids in enumerate(encoded):
            if ids:
                input_ids[row, length - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                attention_mask[row, length - len(ids) :] = 1
        return TokenizedPrompts(input_ids=input_ids, attention_mask=attention_mask)


# ---------------------------------------------------------------------------------- images
def _uint8_tensor(image: np.ndarray) -> torch.Tensor:
    """The image as a tensor sharing its memory, or sharing a copy when the array is read-only
    (a view of message bytes, a decoded video frame): torch cannot share a read-only buffer and
    warns "The given NumPy array is not writable" on every call otherwise."""
    array = np.ascontiguousarray(image)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array)


def crop_and_resize(image: np.ndarray, crop_scale: float = 0.95, size: int = 224) -> np.ndarray:
    """GR00T eval video transforms (doc §2.6 steps 2-6): HxWx3 uint8 -> size x size x 3 uint8.

    Center crop to ``int(scale*H) x int(scale*W)`` (torchvision CenterCrop offsets), bilinear
    antialiased resize (``F.interpolate(antialias=True)`` is the kernel torchvision uses for
    tensors), then x255 with a **truncating** cast, as the original ``VideoToNumpy``.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got shape {image.shape} dtype {image.dtype}")
    h, w = image.shape[:2]
    x = _uint8_tensor(image).permute(2, 0, 1).float().div(255.0)
    ch, cw = int(crop_scale * h), int(crop_scale * w)
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    x = x[:, top : top + ch, left : left + cw]
    x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
    return (x * 255.0).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def to_pixel_values(images: Sequence[np.ndarray], size: int = 224) -> torch.Tensor:
    """Eagle processor (doc §2.6 steps 7-9): uint8 tiles -> (N, 3, size, size) float32.

    SigLIP normalisation ``(x/255 - 0.5)/0.5`` and the round trip through bfloat16 that the
    original processor's output dtype imposes (part of the reference values, up to 1.9e-3).
    """
    tiles = []
    for image in images:
        if image.shape != (size, size, 3):
            raise ValueError(f"expected a {size}x{size}x3 tile, got {image.shape}; run crop_and_resize first")
        tiles.append(_uint8_tensor(image).permute(2, 0, 1))
    x = torch.stack(tiles).float().div(255.0)
    x = (x - 0.5) / 0.5
    return x.to(torch.bfloat16).to(torch.float32)


class Gr00tN1Processor:
    """Raw views + instruction -> model inputs (pixel_values, input_ids, attention_mask)."""

    def __init__(self, config: BackboneConfig, tokenizer: PromptTokenizer) -> None:
        self.config = config
        self.tokenizer = tokenizer

    def preprocess_views(self, views: Sequence[np.ndarray]) -> list[np.ndarray]:
        size = self.config.vision.image_size
        return [crop_and_resize(v, self.config.image_crop_scale, size) for v in views]

    def __call__(
        self, batch_views: Sequence[Sequence[np.ndarray]], instructions: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        """One list of HxWx3 uint8 RGB views per sample (same view count per sample not required)."""
        if len(batch_views) != len(instructions):
            raise ValueError(f"{len(batch_views)} samples of views but {len(instructions)} instructions")
        tiles: list[np.ndarray] = []
        prompts: list[str] = []
        for views, instruction in zip(batch_views, instructions, strict=True):
            tiles.extend(self.preprocess_views(views))
            prompts.append(
                build_prompt(
                    instruction,
                    len(views),
                    self.config.num_image_tokens,
                    instruction_first=self.config.instruction_first,
                )
            )
        tokens = self.tokenizer(prompts)
        return {
            "pixel_values": to_pixel_values(tiles, self.config.vision.image_size),
            "input_ids": tokens.input_ids,
            "attention_mask": tokens.attention_mask,
        }
