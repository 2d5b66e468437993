"""System 2: pixel shuffle order, image preprocessing, prompts, shapes for 1/2 views and batches."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from gr00t_policy.model.configuration_gr00t_n1 import get_preset
from gr00t_policy.model.modeling_backbone import EagleBackbone, pixel_shuffle
from gr00t_policy.model.processing_gr00t_n1 import (
    Gr00tN1Processor,
    PromptTokenizer,
    build_prompt,
    crop_and_resize,
    load_demo_tokenizer,
    to_pixel_values,
)


def test_pixel_shuffle_follows_the_internvl_v2_order():
    # out[n, q*8+p, k*2C + l*C + c] = vit[n, (2q+k)*16 + (2p+l), c]
    c = 3
    vit = torch.arange(256 * c, dtype=torch.float32).view(1, 256, c)
    out = pixel_shuffle(vit, 16, 0.5)
    assert out.shape == (1, 64, 4 * c)
    for q, p, k, ell in [(0, 0, 0, 1), (3, 5, 1, 0), (7, 7, 1, 1), (2, 6, 0, 0)]:
        patch = (2 * q + k) * 16 + (2 * p + ell)
        block = out[0, q * 8 + p, k * 2 * c + ell * c : k * 2 * c + ell * c + c]
        assert torch.equal(block, vit[0, patch])


def test_prompt_drops_the_image_prefix_for_one_view_only():
    one = build_prompt("go", 1, num_image_tokens=2)
    two = build_prompt("go", 2, num_image_tokens=2)
    assert "<image 1>" not in one and one.count("<IMG_CONTEXT>") == 2
    assert "<image 1><img>" in two and "<image 2><img>" in two and two.count("<IMG_CONTEXT>") == 4
    assert one.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<img>")
    assert one.endswith("</img>\ngo<|im_end|>\n<|im_start|>assistant\n")


def test_instruction_first_prompt_puts_the_instruction_before_every_image():
    prompt = build_prompt("go", 2, num_image_tokens=2, instruction_first=True)
    assert prompt.startswith(
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\ngo\n<image 1><img>"
    )
    assert prompt.endswith("</img>\n<|im_end|>\n<|im_start|>assistant\n")
    assert prompt.count("<IMG_CONTEXT>") == 4


def test_crop_and_resize_center_crops_then_resizes_to_224():
    image = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    out = crop_and_resize(image, 0.95, 224)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    # A constant image stays constant up to the reference's truncating float->uint8 cast.
    flat = np.full((480, 640, 3), 200, dtype=np.uint8)
    assert set(np.unique(crop_and_resize(flat)).tolist()) <= {199, 200}
    # The 5 % border is cropped away: a frame that differs only there gives the same tile.
    framed = np.full((480, 640, 3), 50, dtype=np.uint8)
    framed[:10], framed[-10:], framed[:, :15], framed[:, -15:] = 255, 255, 255, 255
    assert set(np.unique(crop_and_resize(framed)).tolist()) <= {49, 50}
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        crop_and_resize(image.astype(np.float32))


def test_pixel_values_use_siglip_normalisation_with_bf16_rounding():
    image = np.array([[[0, 128, 255]]], dtype=np.uint8).repeat(224, 0).repeat(224, 1)
    pv = to_pixel_values([image])
    assert pv.shape == (1, 3, 224, 224)
    expected = torch.tensor([-1.0, 128 / 255 * 2 - 1, 1.0]).to(torch.bfloat16).float()
    torch.testing.assert_close(pv[0, :, 0, 0], expected, atol=0, rtol=0)


@pytest.fixture(scope="module")
def demo_backbone():
    torch.manual_seed(0)
    config = get_preset("demo").backbone
    return EagleBackbone(config).eval(), Gr00tN1Processor(config, PromptTokenizer(load_demo_tokenizer()))


@pytest.mark.parametrize("views", [1, 2])
def test_goal_token_shapes_for_one_and_two_views(demo_backbone, views):
    backbone, processor = demo_backbone
    frames = [np.full((240, 320, 3), 10 * v, dtype=np.uint8) for v in range(views)]
    inputs = processor([frames], ["pick up the red cube"])
    assert inputs["pixel_values"].shape == (views, 3, 224, 224)
    assert int((inputs["input_ids"] == backbone.config.image_context_token_id).sum()) == 64 * views
    with torch.no_grad():
        out = backbone(**inputs)
    t = inputs["input_ids"].shape[1]
    assert out.features.shape == (1, t, backbone.config.output_dim)
    assert out.attention_mask.shape == (1, t)


def test_batch_with_different_prompt_lengths_is_left_padded_and_rows_are_independent(demo_backbone):
    backbone, processor = demo_backbone
    frame = np.full((224, 224, 3), 90, dtype=np.uint8)
    batch = processor([[frame], [frame]], ["open", "open the top drawer of the wooden cabinet slowly"])
    single = processor([[frame]], ["open the top drawer of the wooden cabinet slowly"])
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][1].all()
    with torch.no_grad():
        out_batch = backbone(**batch)
        out_single = backbone(**single)
    assert out_batch.features.shape[0] == 2
    torch.testing.assert_close(out_batch.features[1], out_single.features[0], atol=1e-5, rtol=1e-4)


def test_only_instruction_first_lets_the_instruction_reach_the_image_tokens():
    # The LLM is causal: with the GR00T N1 order the image tokens (what the DiT mostly reads)
    # cannot depend on the instruction; with the instruction first they all do.
    torch.manual_seed(0)
    frame = np.full((224, 224, 3), 90, dtype=np.uint8)
    image_id = get_preset("demo").backbone.image_context_token_id
    for instruction_first in (False, True):
        config = replace(get_preset("demo").backbone, instruction_first=instruction_first)
        backbone = EagleBackbone(config).eval()
        processor = Gr00tN1Processor(config, PromptTokenizer(load_demo_tokenizer()))
        red, blue = (processor([[frame]], [f"touch the {c} cube"]) for c in ("red", "blue"))
        with torch.no_grad():
            image_tokens = [backbone(**x).features[0, x["input_ids"][0] == image_id] for x in (red, blue)]
        change = (image_tokens[0] - image_tokens[1]).abs().max().item()
        if instruction_first:
            assert change > 1e-3
        else:
            assert change == 0.0


def test_image_count_mismatch_is_reported(demo_backbone):
    backbone, processor = demo_backbone
    inputs = processor([[np.zeros((224, 224, 3), dtype=np.uint8)]], ["x"])
    with pytest.raises(ValueError, match="image-context tokens"):
        backbone(torch.cat([inputs["pixel_values"]] * 2), inputs["input_ids"], inputs["attention_mask"])


def test_demo_tokenizer_has_the_prompt_tokens_and_a_small_vocabulary():
    tokenizer = PromptTokenizer(load_demo_tokenizer())
    assert tokenizer.vocab_size <= get_preset("demo").backbone.llm.vocab_size
    assert tokenizer.image_context_token_id == get_preset("demo").backbone.image_context_token_id
    assert tokenizer.pad_token_id == 2
    ids = tokenizer.encode(build_prompt("pick the pear", 2))
    assert ids.count(tokenizer.image_context_token_id) == 128
    assert tokenizer.encode("unseen wörds ☃") != []  # byte-level: anything encodes
