"""Numerical parity with the original GR00T N1 on the tiny reference data.

Used by the tests and by ``gr00t-checkpoint parity``. A fixtures directory holds
``tiny_config.json``, ``tiny_model.safetensors``, ``case_*.npz`` and ``tokenizer_cases.json``
(layout in the parity README; the repository's copy is ``src/gr00t_policy/test/data/reference/parity``),
and the Eagle-2 tokenizer files are found next to it in ``../eagle2_tokenizer`` unless given.

The tokenizer stage (prompt -> ``input_ids`` / ``attention_mask`` of every inference case, and
``tokenizer_cases.json``) needs those extra inputs. Missing inputs are an error
(:class:`MissingStageInput`), never a silently shorter check: a caller that cannot provide them
names the stage in ``skip_stages``, and the report says what was skipped.

Each case is compared stage by stage (``vit_last_hidden_state`` ... ``action_pred`` / ``loss``) with
``|ours - ref| <= atol + rtol |ref|`` (atol 1e-5, rtol 1e-4, the README's tolerances). The action
head is checked *head-only* (fed the stored ``backbone_features``) so a backbone error does not
hide a head error; ``action_pred_end_to_end`` and ``action_pred_cached`` add the full pipeline and
the fast sampler.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_safetensors_file
from .configuration_gr00t_n1 import Gr00tN1Config
from .modeling_gr00t_n1 import Gr00tN1Model
from .processing_gr00t_n1 import PromptTokenizer, build_prompt, load_eagle2_tokenizer, to_pixel_values

PARITY_ATOL = 1e-5
PARITY_RTOL = 1e-4
CONFIG_FILE = "tiny_config.json"
WEIGHTS_FILE = "tiny_model.safetensors"
TOKENIZER_CASES_FILE = "tokenizer_cases.json"
TOKENIZER_DIR_NAME = "eagle2_tokenizer"  # next to the fixtures directory in the reference layout

TOKENIZER_STAGE = "tokenizer"
# Stages a caller may leave out on purpose, with what each one checks.
SKIPPABLE_STAGES = {
    TOKENIZER_STAGE: "prompt -> token ids: input_ids / attention_mask of every inference case and "
    f"the prompts of {TOKENIZER_CASES_FILE}",
}
# Per-case comparisons that belong to the tokenizer stage.
TOKENIZER_CASE_STAGES = ("input_ids", "attention_mask")


class MissingStageInput(FileNotFoundError):
    """An input a parity stage needs is absent; the message names the stage and the missing path."""

    def __init__(self, stage: str, path: Path, what: str) -> None:
        self.stage = stage
        self.path = Path(path)
        self.what = what
        super().__init__(f"the {stage} stage needs {what}: {self.path} does not exist")


@dataclass
class StageResult:
    name: str
    max_abs_error: float
    ok: bool
    note: str = ""


@dataclass
class CaseResult:
    case: str
    stages: list[StageResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # comparisons of this case left out on request

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stages)

    def add(
        self, name: str, ours: torch.Tensor | np.ndarray, ref: np.ndarray, note: str = "", exact: bool = False
    ) -> None:
        a = (
            ours.detach().cpu().double().numpy()
            if isinstance(ours, torch.Tensor)
            else np.asarray(ours, dtype=np.float64)
        )
        b = np.asarray(ref, dtype=np.float64)
        if a.shape != b.shape:
            self.stages.append(StageResult(name, float("inf"), False, f"shape {a.shape} vs reference {b.shape}"))
            return
        err = float(np.max(np.abs(a - b))) if a.size else 0.0
        ok = bool(np.array_equal(a, b)) if exact else bool(np.allclose(a, b, atol=PARITY_ATOL, rtol=PARITY_RTOL))
        self.stages.append(StageResult(name, err, ok, note))

    def stage(self, name: str) -> StageResult:
        return next(s for s in self.stages if s.name == name)


def load_parity_model(fixtures: str | Path) -> Gr00tN1Model:
    fixtures = Path(fixtures)
    config = Gr00tN1Config.from_json_file(fixtures / CONFIG_FILE)
    return load_safetensors_file(config, fixtures / WEIGHTS_FILE, dtype=torch.float32)


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))


@dataclass
class ParityReport:
    """Every case run, and what was left out on request (never because an input was missing)."""

    cases: list[CaseResult]
    skipped_stages: tuple[str, ...] = ()  # names from SKIPPABLE_STAGES
    skipped_cases: list[str] = field(default_factory=list)  # whole cases those stages would have run

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.cases)

    @property
    def stages_checked(self) -> int:
        return sum(len(c.stages) for c in self.cases)

    @property
    def stages_skipped(self) -> int:
        return sum(len(c.skipped) for c in self.cases)


def default_tokenizer_dir(fixtures: str | Path) -> Path:
    """Where the reference layout keeps the Eagle-2 tokenizer: ``<fixtures>/../eagle2_tokenizer``."""
    return Path(fixtures).parent / TOKENIZER_DIR_NAME


@torch.no_grad()
def run_inference_case(
    model: Gr00tN1Model, data: dict[str, np.ndarray], name: str, tokenizer: PromptTokenizer | None = None
) -> CaseResult:
    result = CaseResult(name)
    mask = data["attention_mask"]
    padded = bool((mask == 0).any())
    result.add(
        "pixel_values_from_uint8",
        to_pixel_values(list(data["image_uint8"])),
        data["pixel_values"],
        exact=True,
    )
    if tokenizer is not None:
        b = mask.shape[0]
        views = data["pixel_values"].shape[0] // b
        prompts = [build_prompt(str(instr), views) for instr in data["instruction"]]
        tokens = tokenizer(prompts)
        result.add("input_ids", tokens.input_ids, data["input_ids"], exact=True)
        result.add("attention_mask", tokens.attention_mask, mask, exact=True)
    else:
        result.skipped.extend(TOKENIZER_CASE_STAGES)

    out = model.backbone(_t(data["pixel_values"]), _t(data["input_ids"]), _t(mask), return_intermediates=True)
    for stage, tensor in (
        ("vit_last_hidden_state", out.vit_last_hidden_state),
        ("vit_pixel_shuffled", out.vit_pixel_shuffled),
        ("image_embeds", out.image_embeds),
        ("llm_inputs_embeds", out.llm_inputs_embeds),
    ):
        result.add(stage, tensor, data[stage])
    for stage, tensor in (
        ("llm_last_hidden_state", out.llm_last_hidden_state),
        ("backbone_features", out.features),
    ):
        if padded:
            # Values at left-pad positions are implementation-defined (parity README, "Padding").
            valid = mask.astype(bool)
            result.add(stage, tensor.numpy()[valid], data[stage][valid], note="valid positions only")
            result.add(f"{stage}_all_positions", tensor, data[stage], note="uniform-attention rule at pads")
        else:
            result.add(stage, tensor, data[stage])
    result.add("backbone_attention_mask", out.attention_mask, data["backbone_attention_mask"], exact=True)

    # Head-only: feed the stored backbone features.
    head = model.action_head
    ref_features = _t(data["backbone_features"])
    state, ids, x0 = _t(data["state"]), _t(data["embodiment_id"]), _t(data["x0"])
    steps = int(data["euler_timestep_bucket"].shape[0])
    sampled = head.sample_naive(ref_features, state, ids, num_steps=steps, noise=x0, record_steps=True)
    result.add("state_features", sampled.state_features, data["state_features"])
    result.add(
        "euler_timestep_bucket",
        np.array([r.bucket for r in sampled.steps]),
        data["euler_timestep_bucket"],
        exact=True,
    )
    for stage, attr in (
        ("dit_temb", "temb"),
        ("action_encoder_out", "action_encoder_out"),
        ("dit_input_sa_embs", "dit_input"),
        ("dit_output", "dit_output"),
        ("euler_velocity", "velocity"),
        ("euler_x_after", "x_after"),
    ):
        result.add(stage, torch.stack([getattr(r, attr) for r in sampled.steps]), data[stage])
    result.add("action_pred", sampled.actions, data["action_pred"])

    # Fast sampler (one embodiment per call), from the same stored features.
    cached = []
    for i in range(state.shape[0]):
        plan = head.build_plan(steps, int(ids[i]))
        goal_kv = head.prepare_goal_kv(ref_features[i : i + 1])
        cached.append(head.sample_cached(goal_kv, state[i : i + 1], plan, noise=x0[i : i + 1]).actions)
    result.add("action_pred_cached", torch.cat(cached), data["action_pred"])

    # End to end from our own backbone features.
    e2e = head.sample_naive(out.features, state, ids, num_steps=steps, noise=x0).actions
    result.add("action_pred_end_to_end", e2e, data["action_pred"])
    return result


@torch.no_grad()
def run_train_loss_case(model: Gr00tN1Model, data: dict[str, np.ndarray], name: str) -> CaseResult:
    result = CaseResult(name)
    out = model(
        _t(data["pixel_values"]),
        _t(data["input_ids"]),
        _t(data["attention_mask"]),
        _t(data["state"]),
        _t(data["action"]),
        _t(data["action_mask"]),
        _t(data["embodiment_id"]),
        noise=_t(data["noise"]),
        tau=_t(data["tau"]),
    )
    result.add("t_bucket", out["t_bucket"], data["t_bucket"], exact=True)
    for stage in (
        "noisy_trajectory",
        "target_velocity",
        "backbone_features",
        "action_decoder_output_full",
        "pred_velocity",
        "loss",
    ):
        result.add(stage, out[stage], data[stage])
    return result


def run_tokenizer_cases(tokenizer: PromptTokenizer, cases_path: Path) -> CaseResult:
    result = CaseResult(cases_path.stem)
    spec = json.loads(cases_path.read_text())
    for case in spec["cases"]:
        prompt = build_prompt(case["instruction"], case["num_views"])
        ids = tokenizer.encode(prompt)
        result.stages.append(
            StageResult(
                f"{case['name']} ({len(case['input_ids'])} ids)",
                0.0 if ids == case["input_ids"] else float("inf"),
                prompt == case["prompt"] and ids == case["input_ids"],
            )
        )
    return result


def _check_skip_stages(skip_stages: tuple[str, ...]) -> None:
    unknown = sorted(set(skip_stages) - set(SKIPPABLE_STAGES))
    if unknown:
        raise ValueError(f"unknown parity stage(s) to skip: {unknown}; skippable: {sorted(SKIPPABLE_STAGES)}")


def run_parity(
    fixtures: str | Path,
    tokenizer_dir: str | Path | None = None,
    skip_stages: Sequence[str] = (),
) -> ParityReport:
    """Run every ``case_*.npz`` and the tokenizer stage, unless ``skip_stages`` names it.

    ``tokenizer_dir`` defaults to :func:`default_tokenizer_dir`. Raises :class:`MissingStageInput`
    before any model is built when a stage that is not skipped lacks an input, so a missing
    tokenizer never turns into a shorter check that still passes.
    """
    fixtures = Path(fixtures)
    skip_stages = tuple(dict.fromkeys(skip_stages))
    _check_skip_stages(skip_stages)
    check_tokenizer = TOKENIZER_STAGE not in skip_stages
    if not check_tokenizer and tokenizer_dir is not None:
        raise ValueError("a tokenizer directory was given but the tokenizer stage is skipped")

    cases = sorted(fixtures.glob("case_*.npz"))
    if not cases:
        raise FileNotFoundError(f"no case_*.npz in {fixtures}")
    tokenizer = None
    if check_tokenizer:
        directory = Path(tokenizer_dir) if tokenizer_dir is not None else default_tokenizer_dir(fixtures)
        if not directory.is_dir():
            raise MissingStageInput(TOKENIZER_STAGE, directory, "the Eagle-2 tokenizer files")
        if not (fixtures / TOKENIZER_CASES_FILE).is_file():
            raise MissingStageInput(TOKENIZER_STAGE, fixtures / TOKENIZER_CASES_FILE, "the tokenizer cases")
        tokenizer = PromptTokenizer(load_eagle2_tokenizer(directory))

    model = load_parity_model(fixtures)
    report = ParityReport([], skipped_stages=skip_stages)
    for path in cases:
        with np.load(path) as npz:
            data = {k: npz[k] for k in npz.files}
        if "loss" in data:
            report.cases.append(run_train_loss_case(model, data, path.stem))
        else:
            report.cases.append(run_inference_case(model, data, path.stem, tokenizer))
    if tokenizer is not None:
        report.cases.append(run_tokenizer_cases(tokenizer, fixtures / TOKENIZER_CASES_FILE))
    elif (fixtures / TOKENIZER_CASES_FILE).is_file():
        report.skipped_cases.append(Path(TOKENIZER_CASES_FILE).stem)
    return report
