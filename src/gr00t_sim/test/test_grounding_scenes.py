"""Rendered grounding scenes: answers from the episode spec, seed pairs sharing a scene, the file format."""

from __future__ import annotations

import numpy as np
import pytest

from gr00t_description import StackConfig
from gr00t_sim.grounding_scenes import GroundingScenes, main, render_scenes
from gr00t_sim.tasks import EVAL_SEED_START


@pytest.fixture(scope="module")
def scenes(stack: StackConfig) -> GroundingScenes:
    return render_scenes(stack, ["touch_one_of_two", "reach"], episodes=4, seed_start=0)


def test_rows_hold_an_image_the_instruction_and_the_named_objects_place(scenes):
    assert len(scenes) == 8 and scenes.images.dtype == np.uint8 and scenes.images.shape[-1] == 3
    assert list(scenes.tasks) == ["touch_one_of_two"] * 4 + ["reach"] * 4
    assert list(scenes.seeds) == [0, 1, 2, 3, 0, 1, 2, 3]
    assert (scenes.target_left == (scenes.target_xy[:, 1] > 0)).all()
    # The named object is one of the objects on the table, at the same place.
    for row in range(len(scenes)):
        on_table = scenes.object_xy[row][scenes.object_on_table[row]]
        assert np.isclose(on_table, scenes.target_xy[row]).all(-1).any()
    assert scenes.object_on_table[:4].sum(-1).tolist() == [2, 2, 2, 2]  # touch: two objects, the rest parked


def test_a_touch_seed_pair_is_one_image_with_the_other_object_named(scenes):
    np.testing.assert_array_equal(scenes.images[0], scenes.images[1])
    assert scenes.instructions[0] != scenes.instructions[1]
    assert scenes.target_left[0] != scenes.target_left[1]
    assert not np.array_equal(scenes.images[0], scenes.images[2])


def test_evaluation_seeds_are_never_rendered(stack):
    with pytest.raises(ValueError, match="evaluation seeds"):
        render_scenes(stack, ["reach"], episodes=2, seed_start=EVAL_SEED_START - 1)


def test_save_and_load_round_trip_and_reject_other_files(scenes, tmp_path):
    path = tmp_path / "scenes.npz"
    scenes.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["scenes.npz"]  # no staging file left
    loaded = GroundingScenes.load(path)
    for name in GroundingScenes.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(scenes, name))
    np.savez(tmp_path / "other.npz", images=scenes.images)
    with pytest.raises(ValueError, match="format"):
        GroundingScenes.load(tmp_path / "other.npz")


def test_cli_writes_the_file_and_rejects_unknown_tasks(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["--tasks", "push_to_region", "--episodes", "2", "--output", str(out)]) == 0
    assert len(GroundingScenes.load(out)) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["--tasks", "rech", "--episodes", "2", "--output", str(out)])
    assert exit_info.value.code == 2
    assert "Did you mean 'reach'" in capsys.readouterr().err
