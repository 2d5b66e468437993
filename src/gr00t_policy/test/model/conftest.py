"""Shared fixtures for the GR00T N1 model tests (no ROS needed).

Reference data are found through ``GR00T_SHARED`` (default: ``<repo>/../shared``); tests that need
them are skipped with a message when the directory is absent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # src/gr00t_policy
REPO_ROOT = Path(__file__).resolve().parents[4]
try:
    import gr00t_policy.model  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(PACKAGE_ROOT))

SHARED = Path(os.environ.get("GR00T_SHARED", REPO_ROOT.parent / "shared"))
REFERENCE = SHARED / "reference"
PARITY_DIR = REFERENCE / "parity"
EAGLE2_TOKENIZER_DIR = REFERENCE / "eagle2_tokenizer"
STATE_DICT_LISTING = REFERENCE / "gr00t_n1_2b_state_dict.json"


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference data {path} not found (set GR00T_SHARED)")
    return path


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    return require(PARITY_DIR)


@pytest.fixture(scope="session")
def eagle2_tokenizer_dir() -> Path:
    return require(EAGLE2_TOKENIZER_DIR)


@pytest.fixture(scope="session")
def state_dict_listing() -> Path:
    return require(STATE_DICT_LISTING)


@pytest.fixture(scope="session")
def parity_model(parity_dir: Path):
    from gr00t_policy.model.parity import load_parity_model

    return load_parity_model(parity_dir)


@pytest.fixture(scope="session")
def demo_policy():
    from gr00t_policy.policy import Gr00tPolicy

    return Gr00tPolicy.from_preset("demo", seed=0)
