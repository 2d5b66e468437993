"""Fixtures for the System 1 export/backend tests: one demo policy and one ONNX export per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # src/gr00t_policy
try:
    import gr00t_policy.export  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(PACKAGE_ROOT))


@pytest.fixture(scope="session")
def demo_policy():
    from gr00t_policy.policy import Gr00tPolicy

    return Gr00tPolicy.from_preset("demo", seed=0)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx_cache")


@pytest.fixture(scope="session")
def demo_export(demo_policy, onnx_cache: Path) -> Path:
    """The demo policy's export directory, made (and validated once) through the backend cache."""
    from gr00t_policy.export.cache import ensure_exported

    directory, _ = ensure_exported(demo_policy, onnx_cache)
    return directory
