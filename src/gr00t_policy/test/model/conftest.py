"""Shared fixtures for the GR00T N1 model tests (no ROS needed).

The reference data (parity fixtures, Eagle-2 tokenizer, GR00T-N1-2B state-dict listing) are part of
the repository, in ``test/data/reference`` (provenance in its README.md). A missing file fails the
tests that need it: it is never a reason to skip a parity or layout check.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # src/gr00t_policy
try:
    import gr00t_policy.model  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(PACKAGE_ROOT))

from reference_data_paths import EAGLE2_TOKENIZER_DIR, PARITY_DIR, REFERENCE, STATE_DICT_LISTING  # noqa: E402


def require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"reference data {path} is missing from the checkout (see {REFERENCE / 'README.md'})")
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
