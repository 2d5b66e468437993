"""The reference data in the repository are the originals, complete, and what the tests read.

A truncated or edited fixture, or a Git LFS pointer in its place, would change what the parity
tests compare with; the checksums were taken from the generator's files (test/data/reference/README.md).
"""

from __future__ import annotations

import hashlib

import pytest
from reference_data_paths import EAGLE2_TOKENIZER_DIR, PARITY_DIR, REFERENCE, STATE_DICT_LISTING

CHECKSUMS = REFERENCE / "SHA256SUMS"
DOCUMENTATION = {"README.md", "SHA256SUMS", ".gitattributes"}


def _listed() -> dict[str, str]:
    entries = {}
    for line in CHECKSUMS.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        entries[name] = digest
    return entries


def test_reference_data_are_in_the_repository_not_beside_it():
    for path in (PARITY_DIR, EAGLE2_TOKENIZER_DIR, STATE_DICT_LISTING):
        assert path.exists(), f"{path} is missing from the checkout"
        assert path.resolve().is_relative_to(REFERENCE.resolve())


@pytest.mark.parametrize("name", sorted(_listed()) if CHECKSUMS.is_file() else ["SHA256SUMS"])
def test_reference_file_matches_its_checksum(name):
    assert CHECKSUMS.is_file(), f"{CHECKSUMS} is missing from the checkout"
    path = REFERENCE / name
    assert path.is_file(), f"{path} is missing from the checkout"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == _listed()[name], f"{path} differs from the original"


def test_every_data_file_has_a_checksum():
    files = {
        str(path.relative_to(REFERENCE))
        for path in REFERENCE.rglob("*")
        if path.is_file() and path.name not in DOCUMENTATION
    }
    assert files == set(_listed())


def test_parity_readme_checksums_agree_with_the_repository_list():
    # The generator's README lists the sha256 of each parity file; the copies must be those files.
    listed = _listed()
    readme = (PARITY_DIR / "README.md").read_text()
    from_readme = {
        f"parity/{line.split()[1]}": line.split()[0]
        for line in readme.splitlines()
        if len(line.split()) == 2 and len(line.split()[0]) == 64
    }
    assert len(from_readme) == 8
    assert all(listed[name] == digest for name, digest in from_readme.items())
