"""Embodiment registry, GR-1 data configs, state encoding and action (un)normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gr00t_policy.model.embodiments import (
    EmbodimentStats,
    MinMaxStats,
    decode_actions,
    embodiment_id,
    encode_state,
    get_data_config,
    make_metadata,
)


def test_reference_embodiment_ids():
    assert embodiment_id("gr1") == 24
    assert embodiment_id("new_embodiment") == 31
    with pytest.raises(KeyError, match="Did you mean 'gr1'"):
        embodiment_id("gr2")


@pytest.mark.parametrize(
    "name, groups, dims, encoding",
    [
        ("gr1_arms_only", ["left_arm", "right_arm", "left_hand", "right_hand"], 26, "sin_cos"),
        ("gr1_arms_waist", ["left_arm", "right_arm", "left_hand", "right_hand", "waist"], 29, "sin_cos"),
        (
            "gr1_full_upper_body",
            ["left_arm", "right_arm", "left_hand", "right_hand", "waist", "neck"],
            32,
            "min_max",
        ),
    ],
)
def test_gr1_data_configs_list_groups_in_model_order(name, groups, dims, encoding):
    cfg = get_data_config(name)
    assert [g for g, _ in cfg.state_groups] == groups == [g for g, _ in cfg.action_groups]
    assert cfg.action_dim == dims and cfg.state_encoding == encoding
    assert cfg.embodiment_tag == "gr1" and cfg.embodiment_id == 24
    assert get_data_config(name, "new_embodiment").embodiment_id == 31


def _stats(cfg, lo=-2.0, hi=3.0):
    groups = {g: {"min": [lo] * d, "max": [hi] * d} for g, d in cfg.action_groups}
    return EmbodimentStats.from_metadata(make_metadata(cfg.embodiment_tag, cfg, groups, groups), cfg)


def test_sin_cos_state_layout_for_arms_only():
    cfg = get_data_config("gr1_arms_only")
    state = {g: np.linspace(0.1, 0.7, d) + i for i, (g, d) in enumerate(cfg.state_groups)}
    vector = encode_state(state, cfg, _stats(cfg))
    assert vector.shape == (64,)
    np.testing.assert_allclose(vector[0:7], np.sin(state["left_arm"]))
    np.testing.assert_allclose(vector[7:14], np.cos(state["left_arm"]))
    np.testing.assert_allclose(vector[14:21], np.sin(state["right_arm"]))
    np.testing.assert_allclose(vector[46:52], np.cos(state["right_hand"]))
    assert np.all(vector[52:] == 0)


def test_min_max_state_for_full_upper_body():
    cfg = get_data_config("gr1_full_upper_body")
    state = {g: np.full(d, 0.5) for g, d in cfg.state_groups}
    vector = encode_state(state, cfg, _stats(cfg))
    np.testing.assert_allclose(vector[:32], 2 * (0.5 + 2) / 5 - 1)
    assert np.all(vector[32:] == 0)


def test_state_errors_name_the_group():
    cfg = get_data_config("gr1_arms_only")
    state = {g: np.zeros(d) for g, d in cfg.state_groups}
    with pytest.raises(KeyError, match="left_hand"):
        encode_state({k: v for k, v in state.items() if k != "left_hand"}, cfg, _stats(cfg))
    with pytest.raises(ValueError, match="right_arm.*7 values"):
        encode_state({**state, "right_arm": np.zeros(6)}, cfg, _stats(cfg))
    with pytest.raises(ValueError, match="non-finite"):
        encode_state({**state, "left_arm": np.full(7, np.nan)}, cfg, _stats(cfg))


@settings(max_examples=50, deadline=None)
@given(
    lo=st.floats(-10, 10),
    span=st.floats(1e-3, 10),
    x=st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3),
)
def test_min_max_unnormalize_inverts_normalize(lo, span, x):
    stats = MinMaxStats(np.full(3, lo), np.full(3, lo + span))
    y = np.asarray(x)
    np.testing.assert_allclose(stats.normalize(stats.unnormalize(y)), y, atol=1e-9)


def test_degenerate_min_max_maps_to_zero():
    stats = MinMaxStats(np.array([1.0, 0.0]), np.array([1.0, 2.0]))
    np.testing.assert_allclose(stats.normalize(np.array([5.0, 2.0])), [0.0, 1.0])


def test_decode_actions_splits_groups_and_unnormalises():
    cfg = get_data_config("gr1_arms_waist")
    actions = np.zeros((16, 32))
    actions[:, 26:29] = 1.0  # waist at +1 -> max
    out = decode_actions(actions, cfg, _stats(cfg))
    assert list(out) == [g for g, _ in cfg.action_groups]
    assert out["waist"].shape == (16, 3) and out["waist"].dtype == np.float64
    np.testing.assert_allclose(out["waist"], 3.0)
    np.testing.assert_allclose(out["left_arm"], 0.5)  # y = 0 -> midpoint of [-2, 3]


def test_make_metadata_has_the_reference_layout():
    cfg = get_data_config("gr1_arms_only")
    groups = {g: {"min": [-1.0] * d, "max": [1.0] * d} for g, d in cfg.action_groups}
    meta = make_metadata("gr1", "gr1_arms_only", groups, groups, video_resolution={"ego_view": (640, 480)})
    entry = meta["gr1"]
    assert set(entry["statistics"]["action"]["left_arm"]) == {"min", "max", "mean", "std", "q01", "q99"}
    assert entry["modalities"]["video"]["ego_view"]["resolution"] == [640, 480]
    assert entry["modalities"]["state"]["left_hand"]["shape"] == [6]
    assert entry["embodiment_tag"] == "gr1"
    with pytest.raises(KeyError, match="right_hand"):
        make_metadata("gr1", "gr1_arms_only", groups, {k: v for k, v in groups.items() if k != "right_hand"})


def test_missing_embodiment_in_metadata_is_explained():
    cfg = get_data_config("gr1_arms_only", "new_embodiment")
    groups = {g: {"min": [0.0] * d, "max": [1.0] * d} for g, d in cfg.action_groups}
    with pytest.raises(KeyError, match="no metadata for embodiment tag 'new_embodiment'"):
        EmbodimentStats.from_metadata(make_metadata("gr1", "gr1_arms_only", groups, groups), cfg)
