"""The console node's helpers on their own: the token file and camera frames as JPEG."""

from __future__ import annotations

import io
import stat

import numpy as np
import pytest
from PIL import Image as PilImage
from sensor_msgs.msg import Image

from gr00t_console.camera_frames import encode_jpeg
from gr00t_console.token_file import load_token


def test_a_token_is_generated_read_back_or_refused_when_short(tmp_path):
    token, generated = load_token("")
    assert generated and len(token) >= 16
    path = tmp_path / "token"
    written, generated = load_token(str(path))
    assert generated and path.read_text() == written + "\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_token(str(path)) == (written, False)
    path.write_text("short\n")
    with pytest.raises(ValueError, match="at least 16 characters"):
        load_token(str(path))


def test_frames_become_jpeg_and_inconsistent_ones_are_refused():
    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[..., 2] = 255  # blue in BGR order: red once converted
    frame = Image(height=4, width=6, encoding="bgr8", step=18, data=pixels.tobytes())
    decoded = np.asarray(PilImage.open(io.BytesIO(encode_jpeg(frame, 90, 1 << 20))))
    assert decoded.shape == (4, 6, 3) and decoded[..., 0].min() > 200 and decoded[..., 2].max() < 60
    with pytest.raises(ValueError, match="not shown"):
        encode_jpeg(Image(height=4, width=6, encoding="yuv422", step=12, data=bytes(48)), 90, 1 << 20)
    with pytest.raises(ValueError, match="inconsistent or oversize"):
        encode_jpeg(Image(height=4, width=6, encoding="rgb8", step=18, data=bytes(10)), 90, 1 << 20)
    with pytest.raises(ValueError, match="inconsistent or oversize"):
        encode_jpeg(frame, 90, 16)
