"""What trains in fine-tuning, as Isaac-GR00T's ``set_trainable_parameters``:

* ``tune_llm`` off freezes the LLM; ``tune_visual`` off freezes the SigLIP tower **and** mlp1;
  ``backbone.linear`` (the projection into the action head's width) always trains.
* ``tune_projector`` off freezes the state/action encoders, the action decoder and the position
  embedding; ``tune_diffusion_model`` off freezes the DiT.
* Frozen modules run in eval mode (``set_frozen_modules_to_eval_mode``), so their dropout is off.
"""

from __future__ import annotations

from ..model.modeling_gr00t_n1 import Gr00tN1Model


def set_trainable_modules(
    model: Gr00tN1Model, *, tune_llm: bool, tune_visual: bool, tune_projector: bool, tune_diffusion_model: bool
) -> int:
    """Set ``requires_grad`` as the original's ``set_trainable_parameters``; returns trainable params."""
    model.requires_grad_(True)
    vlm = model.backbone.model
    if not tune_llm:
        vlm.language_model.requires_grad_(False)
    if not tune_visual:
        vlm.vision_model.requires_grad_(False)
        vlm.mlp1.requires_grad_(False)
    head = model.action_head
    if not tune_projector:
        for module in (head.state_encoder, head.action_encoder, head.action_decoder, head.position_embedding):
            module.requires_grad_(False)
    if not tune_diffusion_model:
        head.model.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def frozen_modules_to_eval(
    model: Gr00tN1Model, *, tune_llm: bool, tune_visual: bool, tune_projector: bool, tune_diffusion_model: bool
) -> None:
    """After ``model.train()``: frozen parts back to eval mode (original ``set_frozen_modules_to_eval_mode``)."""
    vlm, head = model.backbone.model, model.action_head
    if not tune_llm:
        vlm.language_model.eval()
    if not tune_visual:
        vlm.vision_model.eval()
        vlm.mlp1.eval()
    if not tune_projector:
        for module in (head.state_encoder, head.action_encoder, head.action_decoder):
            module.eval()
    if not tune_diffusion_model:
        head.model.eval()
