"""Fixtures for the fine-tuning tests: tiny synthetic datasets (helpers in training_test_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_test_support import make_synthetic_dataset


@pytest.fixture(scope="session")
def video_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("av")
    pytest.importorskip("pyarrow")
    return make_synthetic_dataset(tmp_path_factory.mktemp("video_dataset"))


@pytest.fixture(scope="session")
def blank_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same data without videos (trained with use_video=False)."""
    pytest.importorskip("pyarrow")
    return make_synthetic_dataset(tmp_path_factory.mktemp("blank_dataset"), with_video=False)
