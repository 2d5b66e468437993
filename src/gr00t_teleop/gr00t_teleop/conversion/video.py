"""Image messages → RGB arrays, and RGB frames → H.264 / yuv420p MP4 (what the GR00T loader reads)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

# bytes per pixel and how to get RGB out of each raw encoding we accept.
RAW_ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


class ImageDecodeError(ValueError):
    pass


def image_to_rgb(msg: Any) -> np.ndarray:
    """sensor_msgs/Image (raw) or CompressedImage (jpeg/png) as an (H, W, 3) uint8 RGB array."""
    if hasattr(msg, "encoding"):  # sensor_msgs/msg/Image
        encoding = str(msg.encoding).lower()
        if encoding not in RAW_ENCODINGS:
            raise ImageDecodeError(
                f"image encoding {msg.encoding!r} not supported; expected one of {sorted(RAW_ENCODINGS)}"
            )
        channels = RAW_ENCODINGS[encoding]
        height, width, step = int(msg.height), int(msg.width), int(msg.step)
        data = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, np.ndarray) else msg.data.tobytes(), np.uint8)
        if step < width * channels or data.size < step * height:
            raise ImageDecodeError(
                f"image {width}x{height} {encoding}: step {step} / {data.size} bytes is inconsistent"
            )
        pixels = data[: step * height].reshape(height, step)[:, : width * channels].reshape(height, width, channels)
        if encoding == "mono8":
            return np.repeat(pixels, 3, axis=2)
        if encoding.startswith("bgr"):
            pixels = pixels[..., [2, 1, 0]]
        return np.ascontiguousarray(pixels[..., :3])
    fmt = str(getattr(msg, "format", "")).lower()
    codec = "mjpeg" if ("jpeg" in fmt or "jpg" in fmt) else "png" if "png" in fmt else None
    if codec is None:
        raise ImageDecodeError(f"CompressedImage format {fmt!r} not supported (jpeg or png)")
    context = av.CodecContext.create(codec, "r")
    frames = context.decode(av.packet.Packet(bytes(msg.data)))
    if not frames:
        raise ImageDecodeError(f"could not decode a {codec} CompressedImage")
    return frames[0].to_ndarray(format="rgb24")


class Mp4Writer:
    """Appends RGB frames to an MP4 file at a constant frame rate (H.264, yuv420p, like the demo data)."""

    def __init__(self, path: Path, fps: float, width: int, height: int, crf: int = 18) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs even frame sizes, got {width}x{height} (use --image-size)")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.width, self.height = width, height
        self.frames = 0
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        # No B-frames and one thread: decoders seek by timestamp frame-exactly, and workers run in parallel.
        self._stream.options = {"crf": str(crf), "bf": "0", "threads": "1"}
        self._stream.codec_context.time_base = Fraction(1, 1) / rate

    def add(self, rgb: np.ndarray) -> None:
        if rgb.shape[:2] != (self.height, self.width):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(
                width=self.width, height=self.height
            )
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()


def count_video_frames(path: Path) -> tuple[int, int, int]:
    """(frames, width, height) of an MP4's first video stream, counted by decoding."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, stream.codec_context.width, stream.codec_context.height
