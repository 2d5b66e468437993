"""Reading and decimating the GR-1's STL meshes (pure NumPy + fast-simplification).

Fourier's GR1T2 meshes total 684 k faces; rendering them on a CPU runs at ~35 fps at 224x224,
decimated 10x at ~167 fps (measured on a CPU when the scene was built). Decimation runs once per
cold build; the compiled model is cached (see `model_cache`).
"""

from __future__ import annotations

from pathlib import Path

import fast_simplification
import numpy as np

_STL_HEADER_BYTES = 80
_STL_TRIANGLE = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])


class MeshFormatError(ValueError):
    """A mesh file is not a binary STL this module can read."""


def read_binary_stl(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) float64 and faces (F, 3) int64 of a binary STL, with shared vertices merged.

    STL stores every triangle's corners separately; merging identical corners restores the
    connectivity the decimator needs to collapse edges.
    """
    raw = Path(path).read_bytes()
    if len(raw) < _STL_HEADER_BYTES + 4:
        raise MeshFormatError(f"{path}: too short for a binary STL ({len(raw)} bytes)")
    count = int(np.frombuffer(raw, "<u4", 1, _STL_HEADER_BYTES)[0])
    expected = _STL_HEADER_BYTES + 4 + count * _STL_TRIANGLE.itemsize
    if len(raw) != expected:
        raise MeshFormatError(f"{path}: {len(raw)} bytes, a binary STL with {count} triangles has {expected}")
    corners = np.frombuffer(raw, _STL_TRIANGLE, count, _STL_HEADER_BYTES + 4)["vertices"].reshape(-1, 3)
    vertices, corner_to_vertex = np.unique(corners, axis=0, return_inverse=True)
    return vertices.astype(np.float64), corner_to_vertex.reshape(-1, 3).astype(np.int64)


def decimate(
    vertices: np.ndarray, faces: np.ndarray, keep_ratio: float, min_faces: int
) -> tuple[np.ndarray, np.ndarray]:
    """Quadric edge-collapse decimation to about `keep_ratio` of the faces, never below `min_faces`."""
    target_faces = max(int(len(faces) * keep_ratio), min_faces)
    if target_faces >= len(faces):
        return vertices, faces
    reduction = 1.0 - target_faces / len(faces)
    new_vertices, new_faces = fast_simplification.simplify(vertices, faces, target_reduction=reduction)
    return np.asarray(new_vertices, np.float64), np.asarray(new_faces, np.int64)
