"""Camera frames (sensor_msgs/Image) as the JPEG the console page shows."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sensor_msgs.msg import Image

ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


def encode_jpeg(msg: Image, quality: int, max_bytes: int) -> bytes:
    """The frame as JPEG; ValueError for frames that are not what their header says."""
    import numpy as np
    from PIL import Image as PilImage

    channels = ENCODINGS.get(msg.encoding)
    if channels is None:
        raise ValueError(f"encoding {msg.encoding!r} not shown (one of {', '.join(ENCODINGS)})")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    size = len(msg.data)
    if (
        not (0 < width <= 8192 and 0 < height <= 8192)
        or step < width * channels
        or size < height * step
        or size > max_bytes
    ):
        raise ValueError(f"inconsistent or oversize frame {width}x{height} step {step}, {size} bytes")
    pixels = np.frombuffer(msg.data, dtype=np.uint8, count=height * step).reshape(height, step)
    pixels = pixels[:, : width * channels].reshape(height, width, channels)
    if msg.encoding.startswith("bgr"):
        pixels = pixels[..., [2, 1, 0]]
    elif channels == 4:
        pixels = pixels[..., :3]
    image = PilImage.fromarray(np.ascontiguousarray(pixels.squeeze(-1) if channels == 1 else pixels))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()
