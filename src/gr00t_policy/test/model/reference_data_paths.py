"""Where the model tests' reference data live in the repository (provenance in its README.md).

A uniquely named module rather than conftest.py, so that `from … import` cannot pick up another test
directory's conftest when several are collected in one run.
"""

from __future__ import annotations

from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"  # src/gr00t_policy/test/data/reference
PARITY_DIR = REFERENCE / "parity"
EAGLE2_TOKENIZER_DIR = REFERENCE / "eagle2_tokenizer"
STATE_DICT_LISTING = REFERENCE / "gr00t_n1_2b_state_dict.json"
