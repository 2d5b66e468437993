"""sensor_msgs/Image -> RGB uint8 array without cv_bridge.

cv_bridge's Python module is built against NumPy 1.x and fails to import beside NumPy 2 (which torch
and transformers pull in), so the default path converts with NumPy, honouring `step` (row stride,
possibly padded) and `is_bigendian`. Where a ROS install provides a cv_bridge that imports and
converts correctly, `ImageConverter(prefer_cv_bridge=True)` uses it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


class ImageConversionError(ValueError):
    """The image cannot be converted (unsupported encoding, inconsistent sizes)."""


@dataclass(frozen=True)
class _Encoding:
    channels: int
    dtype: np.dtype
    to_rgb: Callable[[np.ndarray], np.ndarray]


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def _drop_alpha(a: np.ndarray) -> np.ndarray:
    return a[..., :3]


def _bgr(a: np.ndarray) -> np.ndarray:
    return a[..., 2::-1]


def _gray(a: np.ndarray) -> np.ndarray:
    return np.repeat(a, 3, axis=-1)


_ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(3, np.dtype(np.uint8), _identity),
    "rgba8": _Encoding(4, np.dtype(np.uint8), _drop_alpha),
    "bgr8": _Encoding(3, np.dtype(np.uint8), _bgr),
    "bgra8": _Encoding(4, np.dtype(np.uint8), _bgr),
    "mono8": _Encoding(1, np.dtype(np.uint8), _gray),
    "8UC1": _Encoding(1, np.dtype(np.uint8), _gray),
    "8UC3": _Encoding(3, np.dtype(np.uint8), _identity),
    "rgb16": _Encoding(3, np.dtype(np.uint16), _identity),
    "rgba16": _Encoding(4, np.dtype(np.uint16), _drop_alpha),
    "bgr16": _Encoding(3, np.dtype(np.uint16), _bgr),
    "bgra16": _Encoding(4, np.dtype(np.uint16), _bgr),
    "mono16": _Encoding(1, np.dtype(np.uint16), _gray),
}

SUPPORTED_ENCODINGS = tuple(_ENCODINGS)


def check_image_layout(msg: Any, max_bytes: int | None = None) -> None:
    """Raise ImageConversionError unless ``msg``'s encoding, sizes, ``step`` and data length agree
    and the frame holds at most ``max_bytes`` bytes (None = no bound).

    Reads only the fields and ``len(msg.data)``: a rejected frame is never copied (rclpy hands
    ``data`` over as an array.array; a 4000x4000 frame copied once is 48 MB).
    """
    encoding = _ENCODINGS.get(msg.encoding)
    if encoding is None:
        raise ImageConversionError(
            f"unsupported image encoding {msg.encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    row_bytes = width * encoding.channels * encoding.dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(f"step {step} is smaller than a row ({row_bytes} bytes)")
    if max_bytes is not None and step * height > max_bytes:
        raise ImageConversionError(
            f"{width}x{height} frame of step {step} is {step * height} bytes, over the {max_bytes}-byte bound"
        )
    size = _byte_length(msg.data)
    # The last row's padding may be omitted; more data than `step` x `height` contradicts the header.
    if not step * (height - 1) + row_bytes <= size <= step * height:
        raise ImageConversionError(f"data has {size} bytes, expected {step * height} for {height} rows of step {step}")


def _byte_length(data: Any) -> int:
    """Bytes in ``data`` without copying it: ndarray / memoryview (nbytes), array.array, bytes, list."""
    nbytes = getattr(data, "nbytes", None)
    return int(nbytes) if nbytes is not None else len(data) * getattr(data, "itemsize", 1)


def image_msg_to_rgb(msg: Any, max_bytes: int | None = None) -> np.ndarray:
    """Convert a sensor_msgs/Image (or anything with its fields) to an (H, W, 3) uint8 RGB array.

    Raises ImageConversionError for unknown encodings, zero sizes, a `data`/`step` mismatch or a
    frame over ``max_bytes`` (see ``check_image_layout``), before copying anything. The result is
    a fresh, writable, contiguous array that owns its memory (safe to keep after the message is
    gone, and torch can share it without a read-only-buffer warning).
    """
    check_image_layout(msg, max_bytes)
    encoding = _ENCODINGS[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * encoding.channels * encoding.dtype.itemsize
    raw = msg.data
    if isinstance(raw, (list, tuple)):
        raw = bytes(raw)  # plain sequences from hand-built messages; rclpy gives a buffer
    data = np.frombuffer(raw, dtype=np.uint8)  # a view: array.array, bytes and ndarray are buffers
    if data.size < step * height:  # the last row's padding may be omitted
        data = np.concatenate([data, np.zeros(step * height - data.size, np.uint8)])
    rows = data[: step * height].reshape(height, step)[:, :row_bytes]
    dtype = encoding.dtype
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width, encoding.channels)
    if encoding.dtype == np.uint16:
        pixels = (pixels.astype(np.uint32) >> 8).astype(np.uint8)
    return np.array(encoding.to_rgb(pixels), dtype=np.uint8, order="C")  # np.array copies: owned


def rgb_to_image_fields(rgb: np.ndarray) -> dict[str, Any]:
    """Fields of an rgb8 sensor_msgs/Image for an (H, W, 3) uint8 array (no header)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ImageConversionError(f"expected (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    height, width, _ = rgb.shape
    return {
        "height": height,
        "width": width,
        "encoding": "rgb8",
        "is_bigendian": 0,
        "step": width * 3,
        "data": np.ascontiguousarray(rgb).tobytes(),
    }


class ImageConverter:
    """Picks cv_bridge when it imports and round-trips correctly, NumPy otherwise.

    ``max_bytes`` bounds the frames converted (None = no bound); larger or inconsistent frames
    are rejected before either path copies them.
    """

    def __init__(self, prefer_cv_bridge: bool = True, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.backend = "numpy"
        self._bridge = None
        if prefer_cv_bridge:
            self._bridge = _working_cv_bridge()
            if self._bridge is not None:
                self.backend = "cv_bridge"

    def to_rgb(self, msg: Any) -> np.ndarray:
        check_image_layout(msg, self.max_bytes)
        if self._bridge is not None and msg.encoding in ("rgb8", "bgr8", "rgba8", "bgra8", "mono8"):
            try:
                return np.array(self._bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8"), order="C")
            except Exception:  # noqa: BLE001 - fall back to the NumPy path, which raises clearly
                pass
        return image_msg_to_rgb(msg, self.max_bytes)


def _working_cv_bridge() -> Any | None:
    try:
        from cv_bridge import CvBridge  # type: ignore[import-not-found]
        from sensor_msgs.msg import Image

        bridge = CvBridge()
        probe = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
        msg = Image(**rgb_to_image_fields(probe))
        if np.array_equal(bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8"), probe):
            return bridge
    except Exception:  # noqa: BLE001 - cv_bridge missing or broken by NumPy 2: use NumPy
        return None
    return None
