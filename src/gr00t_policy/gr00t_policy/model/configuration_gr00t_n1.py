"""Configuration dataclasses for GR00T N1 (System 2 backbone + System 1 flow-matching action head).

The field names follow the original code (NVIDIA/Isaac-GR00T at b51a5e8) and the GR00T-N1-2B
``config.json`` wherever one exists, so that a reader can check a value against the reference
(NVIDIA/Isaac-GR00T ``gr00t/model``, arXiv:2503.14734).

Three sources can produce a :class:`Gr00tN1Config`:

* :func:`get_preset` -- ``gr00t_n1_2b`` (the real size) and ``demo`` (a few MB, CPU real time);
* :meth:`Gr00tN1Config.from_hf_dict` -- the ``config.json`` of a checkpoint directory. The original
  ``config.json`` does not describe the VLM (the original builds it from a vendored Eagle-2 config),
  so missing ``vision_cfg`` / ``llm_cfg`` sections fall back to the Eagle-2 shape; checkpoints we
  write carry them explicitly;
* :meth:`Gr00tN1Config.from_parity_dict` -- ``src/gr00t_policy/test/data/reference/parity/tiny_config.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Token and tokenizer names used by both tokenizers (Eagle-2 and our demo one).
TOKENIZER_EAGLE2 = "eagle2"
TOKENIZER_DEMO = "demo"
SUPPORTED_TOKENIZERS = (TOKENIZER_EAGLE2, TOKENIZER_DEMO)
SUPPORTED_ATTN_IMPLEMENTATIONS = ("eager", "sdpa")

# Identifies the tiny parity configuration format (src/gr00t_policy/test/data/reference/parity/tiny_config.json).
PARITY_CONFIG_SCHEMA = "gr00t_n1_tiny_parity_config/v1"


class ConfigError(ValueError):
    """A configuration value is missing, inconsistent or unsupported."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@dataclass
class VisionTowerConfig:
    """SigLIP vision tower (HF ``SiglipVisionModel``, attention-pool head removed).

    Defaults are the Eagle-2 / GR00T-N1-2B values (architecture doc §2.1).
    """

    hidden_size: int = 1152
    num_layers: int = 27
    num_heads: int = 16
    intermediate_size: int = 4304
    image_size: int = 224
    patch_size: int = 14
    num_channels: int = 3
    hidden_act: str = "gelu_pytorch_tanh"
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        _require(
            self.hidden_size % self.num_heads == 0,
            f"vision hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}",
        )
        _require(
            self.image_size % self.patch_size == 0,
            f"vision image_size {self.image_size} is not a multiple of patch_size {self.patch_size}",
        )

    @property
    def patch_grid(self) -> int:
        """Patches per side (16 for 224 px / 14 px patches)."""
        return self.image_size // self.patch_size


@dataclass
class LanguageModelConfig:
    """Llama LLM of the VLM (SmolLM2-1.7B shape in GR00T-N1-2B, architecture doc §2.4).

    Only the first ``BackboneConfig.select_layer`` decoder layers are built; the layer count of
    the original Eagle-2 config (24) is irrelevant because the other layers have no weights.
    """

    hidden_size: int = 2048
    num_heads: int = 32
    num_kv_heads: int = 32
    intermediate_size: int = 8192
    hidden_act: str = "silu"
    rms_norm_eps: float = 1e-5
    rope_theta: float = 130000.0
    max_position_embeddings: int = 8192
    vocab_size: int = 49164
    bos_token_id: int = 1
    eos_token_id: int = 2
    pad_token_id: int = 2

    def __post_init__(self) -> None:
        _require(
            self.hidden_size % self.num_heads == 0,
            f"llm hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}",
        )
        _require(
            self.num_heads % self.num_kv_heads == 0,
            f"llm num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}",
        )


@dataclass
class BackboneConfig:
    """System 2: Eagle-2 VLM cut at ``select_layer`` plus ``backbone.linear`` (doc §2)."""

    vision: VisionTowerConfig = field(default_factory=VisionTowerConfig)
    llm: LanguageModelConfig = field(default_factory=LanguageModelConfig)
    # Number of LLM decoder layers kept (GR00T pops the others). Not SigLIP's select_layer (-1).
    select_layer: int = 12
    # Pixel shuffle (InternVL "v2" order): 0.5 folds 2x2 patches into one token -> 64 per view.
    downsample_ratio: float = 0.5
    mlp1_layernorm_eps: float = 1e-5
    # Input width of backbone.linear; the original requires it to equal the LLM hidden size.
    projector_dim: int = 2048
    # Output width of backbone.linear. The original hard-codes 1536; it must equal the action
    # head's input_embedding_dim because the DiT K/V projections take inner_dim-wide input.
    output_dim: int = 1536
    # Token id whose embeddings are replaced by image tokens (<IMG_CONTEXT>).
    image_context_token_id: int = 49154
    # Which tokenizer family the LLM vocabulary belongs to (see processing_gr00t_n1.py).
    tokenizer: str = TOKENIZER_EAGLE2
    # Training transform `VideoCrop(scale=0.95)` (center crop at inference), doc §2.6.
    image_crop_scale: float = 0.95
    # HF attention kernel for SigLIP and Llama. "eager" reproduces the reference values at
    # left-padded positions (uniform attention over a fully masked row); "sdpa" is faster.
    attn_implementation: str = "eager"
    # GR00T N1 puts the instruction after the image tokens; the LLM is causal, so the image tokens
    # (almost all that the DiT cross-attends to) cannot see it. A model trained from scratch on a
    # little data learns to ignore the few text positions entirely (docs/experiments/demo_policy.md);
    # the instruction first makes every image token instruction-conditioned. Pretrained Eagle-2
    # weights expect the original order.
    instruction_first: bool = False

    def __post_init__(self) -> None:
        _require(self.select_layer >= 1, f"select_layer must be >= 1, got {self.select_layer}")
        _require(
            self.projector_dim == self.llm.hidden_size,
            f"projector_dim {self.projector_dim} must equal the LLM hidden size {self.llm.hidden_size}",
        )
        grid = self.vision.patch_grid
        merged = grid * self.downsample_ratio
        _require(
            merged == int(merged) and self.downsample_ratio > 0,
            f"downsample_ratio {self.downsample_ratio} does not divide the {grid}x{grid} patch grid",
        )
        _require(
            self.tokenizer in SUPPORTED_TOKENIZERS,
            f"tokenizer must be one of {SUPPORTED_TOKENIZERS}, got {self.tokenizer!r}",
        )
        _require(
            self.attn_implementation in SUPPORTED_ATTN_IMPLEMENTATIONS,
            f"attn_implementation must be one of {SUPPORTED_ATTN_IMPLEMENTATIONS}, got {self.attn_implementation!r}",
        )
        _require(
            0 < self.image_crop_scale <= 1,
            f"image_crop_scale must be in (0, 1], got {self.image_crop_scale}",
        )

    @property
    def num_image_tokens(self) -> int:
        """Tokens per view after pixel shuffle (64 for 224 px)."""
        return int(self.vision.patch_grid * self.downsample_ratio) ** 2

    @property
    def shuffled_vision_dim(self) -> int:
        """Channel width after pixel shuffle (4 x vision hidden for ratio 0.5)."""
        return int(self.vision.hidden_size / (self.downsample_ratio**2))


@dataclass
class DiTConfig:
    """Cross-attention DiT of the action head (doc §3.4; config.json ``diffusion_model_cfg``)."""

    num_layers: int = 16
    num_attention_heads: int = 32
    attention_head_dim: int = 48
    output_dim: int = 1024
    norm_type: str = "ada_norm"
    interleave_self_attention: bool = True
    dropout: float = 0.2
    final_dropout: bool = True
    # diffusers Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=1)
    timestep_embedding_dim: int = 256
    ff_mult: int = 4
    norm_eps: float = 1e-5
    output_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        _require(
            self.norm_type == "ada_norm",
            f"only norm_type 'ada_norm' (GR00T N1) is implemented, got {self.norm_type!r}",
        )
        _require(
            self.interleave_self_attention,
            "only interleave_self_attention=True (GR00T N1) is implemented",
        )
        _require(self.num_layers >= 1, f"DiT num_layers must be >= 1, got {self.num_layers}")

    @property
    def inner_dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    @property
    def ff_inner_dim(self) -> int:
        return self.inner_dim * self.ff_mult


@dataclass
class ActionHeadConfig:
    """System 1 flow-matching action head (doc §3, §4; config.json ``action_head_cfg``)."""

    action_dim: int = 32  # max_action_dim: actions are zero-padded to this width
    action_horizon: int = 16
    max_state_dim: int = 64
    hidden_size: int = 1024
    input_embedding_dim: int = 1536
    max_num_embodiments: int = 32
    max_seq_len: int = 1024  # rows of the position embedding (only 0..horizon-1 are used)
    add_pos_embed: bool = True
    noise_beta_alpha: float = 1.5
    noise_beta_beta: float = 1.0
    noise_s: float = 0.999
    num_timestep_buckets: int = 1000
    # 16 in the GR00T-N1-2B config.json; NVIDIA's deployment scripts override it to 4.
    num_inference_timesteps: int = 16
    dit: DiTConfig = field(default_factory=DiTConfig)

    def __post_init__(self) -> None:
        _require(
            self.dit.inner_dim == self.input_embedding_dim,
            f"DiT inner dim {self.dit.inner_dim} (= heads x head_dim) must equal "
            f"input_embedding_dim {self.input_embedding_dim}",
        )
        _require(
            self.dit.output_dim == self.hidden_size,
            f"DiT output_dim {self.dit.output_dim} must equal hidden_size {self.hidden_size} "
            "(the action decoder's input width)",
        )
        _require(
            self.action_horizon <= self.max_seq_len,
            f"action_horizon {self.action_horizon} exceeds max_seq_len {self.max_seq_len}",
        )
        _require(
            self.num_inference_timesteps >= 1,
            f"num_inference_timesteps must be >= 1, got {self.num_inference_timesteps}",
        )


@dataclass
class Gr00tN1Config:
    """The whole GR00T N1 model."""

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    action_head: ActionHeadConfig = field(default_factory=ActionHeadConfig)
    # The original runs in bf16; only used as the default when a caller gives no dtype.
    compute_dtype: str = "bfloat16"

    def __post_init__(self) -> None:
        _require(
            self.backbone.output_dim == self.action_head.input_embedding_dim,
            f"backbone output_dim {self.backbone.output_dim} must equal action head "
            f"input_embedding_dim {self.action_head.input_embedding_dim} (goal tokens feed the "
            "DiT cross-attention K/V projections)",
        )

    def copy(self, **changes: Any) -> Gr00tN1Config:
        return dataclasses.replace(copy.deepcopy(self), **changes)

    # ------------------------------------------------------------------ HF config.json layout
    def to_hf_dict(self) -> dict[str, Any]:
        """``config.json`` in the GR00T-N1-2B layout, plus our explicit VLM sections."""
        head, dit, bb = self.action_head, self.action_head.dit, self.backbone
        return {
            "architectures": ["GR00T_N1"],
            "model_type": "gr00t_n1",
            "action_dim": head.action_dim,
            "action_horizon": head.action_horizon,
            "hidden_size": bb.output_dim,
            "compute_dtype": self.compute_dtype,
            "model_dtype": "float32",
            "action_head_cfg": {
                "action_dim": head.action_dim,
                "action_horizon": head.action_horizon,
                "add_pos_embed": head.add_pos_embed,
                "diffusion_model_cfg": {
                    "num_layers": dit.num_layers,
                    "num_attention_heads": dit.num_attention_heads,
                    "attention_head_dim": dit.attention_head_dim,
                    "output_dim": dit.output_dim,
                    "norm_type": dit.norm_type,
                    "interleave_self_attention": dit.interleave_self_attention,
                    "positional_embeddings": None,
                    "dropout": dit.dropout,
                    "final_dropout": dit.final_dropout,
                },
                "hidden_size": head.hidden_size,
                "input_embedding_dim": head.input_embedding_dim,
                "max_action_dim": head.action_dim,
                "max_state_dim": head.max_state_dim,
                "max_num_embodiments": head.max_num_embodiments,
                "max_seq_len": head.max_seq_len,
                "model_dtype": "float32",
                "noise_beta_alpha": head.noise_beta_alpha,
                "noise_beta_beta": head.noise_beta_beta,
                "noise_s": head.noise_s,
                "num_inference_timesteps": head.num_inference_timesteps,
                "num_timestep_buckets": head.num_timestep_buckets,
            },
            "backbone_cfg": {
                "select_layer": bb.select_layer,
                "projector_dim": bb.projector_dim,
                "reproject_vision": False,
                "remove_llm": False,
                "scale_image_resolution": 1,
                "processor_cfg": {
                    "max_input_tiles": 1,
                    "model_spec": {"template": "qwen2-chat", "num_image_token": bb.num_image_tokens},
                },
                # Extensions (absent from the original config.json, which relies on a vendored
                # Eagle-2 config): they let small models round-trip through the same layout.
                "projector_output_dim": bb.output_dim,
                "downsample_ratio": bb.downsample_ratio,
                "image_context_token_id": bb.image_context_token_id,
                "tokenizer": bb.tokenizer,
                "image_crop_scale": bb.image_crop_scale,
                "attn_implementation": bb.attn_implementation,
                "instruction_first": bb.instruction_first,
                "vision_cfg": dataclasses.asdict(bb.vision),
                "llm_cfg": dataclasses.asdict(bb.llm),
            },
        }

    @classmethod
    def from_hf_dict(cls, data: dict[str, Any]) -> Gr00tN1Config:
        """Parse a checkpoint ``config.json`` (GR00T-N1-2B layout)."""
        _require(isinstance(data, dict), "config.json must hold a JSON object")
        _require(
            "action_head_cfg" in data and "backbone_cfg" in data,
            "config.json lacks 'action_head_cfg' / 'backbone_cfg' (not a GR00T N1 config)",
        )
        model_type = data.get("model_type", "gr00t_n1")
        _require(
            model_type == "gr00t_n1",
            f"model_type {model_type!r} is not 'gr00t_n1' (N1.5+ checkpoints have another layout)",
        )
        head_d = dict(data["action_head_cfg"])
        dit_d = dict(head_d.pop("diffusion_model_cfg", {}) or {})
        dit_fields = {f.name for f in dataclasses.fields(DiTConfig)}
        dit = DiTConfig(**{k: v for k, v in dit_d.items() if k in dit_fields})
        _require(
            dit_d.get("positional_embeddings") in (None, "null"),
            f"DiT positional_embeddings must be null in GR00T N1, got {dit_d.get('positional_embeddings')!r}",
        )
        head_fields = {f.name for f in dataclasses.fields(ActionHeadConfig)} - {"dit"}
        head_kwargs = {k: v for k, v in head_d.items() if k in head_fields}
        if "max_action_dim" in head_d:
            head_kwargs["action_dim"] = head_d["max_action_dim"]
        head = ActionHeadConfig(dit=dit, **head_kwargs)

        bb_d = dict(data["backbone_cfg"])
        vision = VisionTowerConfig(**bb_d.get("vision_cfg", {}))
        llm = LanguageModelConfig(**bb_d.get("llm_cfg", {}))
        _require(
            not bb_d.get("reproject_vision", False) and not bb_d.get("remove_llm", False),
            "reproject_vision / remove_llm are not used by GR00T-N1-2B and are not implemented",
        )
        bb_kwargs: dict[str, Any] = {
            k: bb_d[k]
            for k in (
                "select_layer",
                "projector_dim",
                "downsample_ratio",
                "image_context_token_id",
                "tokenizer",
                "image_crop_scale",
                "attn_implementation",
                "instruction_first",
            )
            if k in bb_d
        }
        # The original hard-codes backbone.linear to 1536 = the DiT width.
        bb_kwargs["output_dim"] = bb_d.get("projector_output_dim", head.input_embedding_dim)
        backbone = BackboneConfig(vision=vision, llm=llm, **bb_kwargs)
        return cls(
            backbone=backbone,
            action_head=head,
            compute_dtype=str(data.get("compute_dtype", "bfloat16")),
        )

    # ------------------------------------------------------------------ tiny parity layout
    @classmethod
    def from_parity_dict(cls, data: dict[str, Any]) -> Gr00tN1Config:
        """Parse ``src/gr00t_policy/test/data/reference/parity/tiny_config.json``
        (schema gr00t_n1_tiny_parity_config/v1)."""
        _require(
            data.get("schema") == PARITY_CONFIG_SCHEMA,
            f"expected schema {PARITY_CONFIG_SCHEMA!r}, got {data.get('schema')!r}",
        )
        v, conn, llm_d = data["vision"], data["connector"], data["llm"]
        head_d, dit_d, tok = data["action_head"], data["dit"], data["tokenizer"]
        vision = VisionTowerConfig(
            hidden_size=v["hidden_size"],
            num_layers=v["num_layers"],
            num_heads=v["num_heads"],
            intermediate_size=v["intermediate_size"],
            image_size=v["image_size"],
            patch_size=v["patch_size"],
            num_channels=v["num_channels"],
            hidden_act=v["hidden_act"],
            layer_norm_eps=v["layer_norm_eps"],
        )
        llm = LanguageModelConfig(
            hidden_size=llm_d["hidden_size"],
            num_heads=llm_d["num_heads"],
            num_kv_heads=llm_d["num_kv_heads"],
            intermediate_size=llm_d["intermediate_size"],
            hidden_act=llm_d["hidden_act"],
            rms_norm_eps=llm_d["rms_norm_eps"],
            rope_theta=llm_d["rope_theta"],
            max_position_embeddings=llm_d["max_position_embeddings"],
            vocab_size=llm_d["vocab_size"],
            pad_token_id=tok["pad_token_id"],
        )
        backbone = BackboneConfig(
            vision=vision,
            llm=llm,
            select_layer=llm_d["num_layers_kept"],
            downsample_ratio=conn["pixel_shuffle"]["downsample_ratio"],
            mlp1_layernorm_eps=conn["mlp1"]["layernorm_eps"],
            projector_dim=data["projector"]["in_features"],
            output_dim=data["projector"]["out_features"],
            image_context_token_id=llm_d["img_context_token_id"],
            tokenizer=TOKENIZER_EAGLE2,
            attn_implementation="eager",  # the reference data were made with eager attention
        )
        dit = DiTConfig(
            num_layers=dit_d["num_layers"],
            num_attention_heads=dit_d["num_attention_heads"],
            attention_head_dim=dit_d["attention_head_dim"],
            output_dim=dit_d["output_dim"],
            norm_type=dit_d["norm_type"],
            interleave_self_attention=dit_d["interleave_self_attention"],
            dropout=dit_d["dropout"],
            final_dropout=dit_d["final_dropout"],
            ff_mult=dit_d["ff_inner_dim"] // dit_d["inner_dim"],
            norm_eps=dit_d["norm_eps"],
            output_norm_eps=dit_d["output_norm_eps"],
        )
        head = ActionHeadConfig(
            action_dim=head_d["action_dim"],
            action_horizon=head_d["action_horizon"],
            max_state_dim=head_d["max_state_dim"],
            hidden_size=head_d["hidden_size"],
            input_embedding_dim=head_d["input_embedding_dim"],
            max_num_embodiments=head_d["max_num_embodiments"],
            max_seq_len=head_d["max_seq_len"],
            add_pos_embed=head_d["add_pos_embed"],
            noise_beta_alpha=head_d["noise_beta_alpha"],
            noise_beta_beta=head_d["noise_beta_beta"],
            noise_s=head_d["noise_s"],
            num_timestep_buckets=head_d["num_timestep_buckets"],
            num_inference_timesteps=data["inference"]["num_inference_timesteps"],
            dit=dit,
        )
        return cls(backbone=backbone, action_head=head, compute_dtype=data.get("dtype", "float32"))

    @classmethod
    def from_json_file(cls, path: str | Path) -> Gr00tN1Config:
        """Load either layout, detected from its content."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
        try:
            if isinstance(data, dict) and data.get("schema") == PARITY_CONFIG_SCHEMA:
                return cls.from_parity_dict(data)
            return cls.from_hf_dict(data)
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: missing or malformed field ({exc!r})") from None
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


# ---------------------------------------------------------------------------------- presets
def _gr00t_n1_2b() -> Gr00tN1Config:
    # Every default above is the real value; written out here to make the preset self-evident.
    return Gr00tN1Config(
        backbone=BackboneConfig(
            vision=VisionTowerConfig(),
            llm=LanguageModelConfig(),
            select_layer=12,
            projector_dim=2048,
            output_dim=1536,
            tokenizer=TOKENIZER_EAGLE2,
            # Single-sample inference has no padding, where eager and SDPA agree; SDPA is faster.
            attn_implementation="sdpa",
        ),
        action_head=ActionHeadConfig(num_inference_timesteps=16),
        compute_dtype="bfloat16",
    )


# Demo vocabulary size; must match assets/demo_tokenizer (scripts/train_demo_tokenizer.py).
DEMO_VOCAB_SIZE = 2048
DEMO_IMAGE_CONTEXT_TOKEN_ID = 5
DEMO_PAD_TOKEN_ID = 2


def _demo() -> Gr00tN1Config:
    """A few-MB model with the real wiring, sized for 2 CPU cores.

    System 1 (4 Euler steps) runs in a few ms and System 2 (one 224 px view) well above 10 Hz.
    The token geometry (224 px, 64 tokens per view, 16 x 32 chunks, 64-d state, 32 embodiment
    slots) is the real one so that everything around the model is exercised unchanged.
    """
    return Gr00tN1Config(
        backbone=BackboneConfig(
            vision=VisionTowerConfig(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=128),
            llm=LanguageModelConfig(
                hidden_size=128,
                num_heads=4,
                num_kv_heads=4,
                intermediate_size=256,
                vocab_size=DEMO_VOCAB_SIZE,
                max_position_embeddings=1024,
                bos_token_id=1,
                eos_token_id=2,
                pad_token_id=DEMO_PAD_TOKEN_ID,
            ),
            select_layer=2,
            projector_dim=128,
            output_dim=128,
            image_context_token_id=DEMO_IMAGE_CONTEXT_TOKEN_ID,
            tokenizer=TOKENIZER_DEMO,
            attn_implementation="sdpa",
        ),
        action_head=ActionHeadConfig(
            hidden_size=64,
            input_embedding_dim=128,
            num_inference_timesteps=4,
            # Two blocks keep the interleaving (one cross-, one self-attention block). On the
            # 2-core dev machine System 1 is bound by per-kernel latency (~250 small ops per
            # chunk), not FLOPs: 4 blocks measured 6.6-8.2 ms per chunk, 2 blocks 3.6-4.5 ms.
            dit=DiTConfig(num_layers=2, num_attention_heads=4, attention_head_dim=32, output_dim=64),
        ),
        compute_dtype="float32",
    )


_PRESETS = {"gr00t_n1_2b": _gr00t_n1_2b, "demo": _demo}


def preset_names() -> list[str]:
    return sorted(_PRESETS)


def get_preset(name: str) -> Gr00tN1Config:
    """Return a fresh config for a named preset; unknown names list the choices."""
    try:
        return _PRESETS[name]()
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, _PRESETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown preset {name!r}; available: {preset_names()}.{hint}") from None
