from types import SimpleNamespace

import numpy as np
import pytest

from gr00t_policy.ros.image_conversion import (
    ImageConversionError,
    image_msg_to_rgb,
    rgb_to_image_fields,
)


def _msg(array: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False):
    height, width = array.shape[:2]
    row = array.reshape(height, -1)
    if array.dtype.itemsize > 1:
        row = row.astype(array.dtype.newbyteorder(">" if bigendian else "<"))
    raw = row.view(np.uint8).reshape(height, -1)
    padded = np.concatenate([raw, np.full((height, pad), 77, np.uint8)], axis=1)
    return SimpleNamespace(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=padded.shape[1],
        data=padded.tobytes(),
    )


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def test_rgb8_with_row_padding_respects_step(rgb):
    assert np.array_equal(image_msg_to_rgb(_msg(rgb, "rgb8", pad=11)), rgb)


def test_bgr8_and_bgra8_are_reordered(rgb):
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    assert np.array_equal(image_msg_to_rgb(_msg(bgr, "bgr8", pad=3)), rgb)
    bgra = np.concatenate([bgr, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert np.array_equal(image_msg_to_rgb(_msg(bgra, "bgra8")), rgb)


def test_mono8_is_replicated():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    out = image_msg_to_rgb(_msg(gray, "mono8", pad=4))
    assert out.shape == (3, 4, 3) and np.array_equal(out[..., 1], gray[..., 0])


@pytest.mark.parametrize("bigendian", [False, True])
def test_rgb16_honours_endianness(rgb, bigendian):
    wide = rgb.astype(np.uint16) * 256 + 17
    assert np.array_equal(image_msg_to_rgb(_msg(wide, "rgb16", bigendian=bigendian)), rgb)


def test_unsupported_encoding_is_a_clear_error(rgb):
    with pytest.raises(ImageConversionError, match="unsupported image encoding 'yuv422'"):
        image_msg_to_rgb(_msg(rgb, "yuv422"))


def test_truncated_data_and_short_step_are_rejected(rgb):
    msg = _msg(rgb, "rgb8")
    msg.data = msg.data[:-30]
    with pytest.raises(ImageConversionError, match="expected"):
        image_msg_to_rgb(msg)
    msg = _msg(rgb, "rgb8")
    msg.step = 5
    with pytest.raises(ImageConversionError, match="step"):
        image_msg_to_rgb(msg)


def test_empty_image_is_rejected():
    msg = SimpleNamespace(height=0, width=0, encoding="rgb8", is_bigendian=0, step=0, data=b"")
    with pytest.raises(ImageConversionError, match="empty"):
        image_msg_to_rgb(msg)


def test_round_trip_fields(rgb):
    fields = rgb_to_image_fields(rgb)
    assert fields["step"] == rgb.shape[1] * 3
    assert np.array_equal(image_msg_to_rgb(SimpleNamespace(**fields)), rgb)


def test_cdr_header_stamp_matches_rclpy_serialization():
    rclpy_serialization = pytest.importorskip("rclpy.serialization")
    from sensor_msgs.msg import Image

    from gr00t_policy.ros.messages import cdr_header_stamp

    msg = Image(**rgb_to_image_fields(np.zeros((2, 2, 3), np.uint8)))
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_795_000_123, 456_789_000
    assert cdr_header_stamp(rclpy_serialization.serialize_message(msg)) == pytest.approx(1_795_000_123.456789)
    with pytest.raises(ValueError):
        cdr_header_stamp(b"\x00\x01\x00\x00")


def test_the_result_is_writable_and_owns_its_memory(rgb):
    # A read-only view of the message bytes made torch warn "The given NumPy array is not
    # writable" in the preprocessing on every frame, and kept the whole message buffer alive.
    out = image_msg_to_rgb(_msg(rgb, "rgb8"))
    assert out.flags.writeable and out.flags.owndata and out.flags.c_contiguous


def test_data_longer_than_the_header_says_is_rejected(rgb):
    msg = _msg(rgb, "rgb8")
    msg.data = msg.data + b"\x00" * 100
    with pytest.raises(ImageConversionError, match="expected"):
        image_msg_to_rgb(msg)


def test_a_frame_over_the_bound_is_rejected_before_it_is_copied():
    import array
    import tracemalloc

    # 4000 x 4000 rgb8 = 48 MB, as rclpy hands `data` over (array.array).
    msg = SimpleNamespace(
        height=4000, width=4000, encoding="rgb8", is_bigendian=0, step=12000, data=array.array("B", bytes(48_000_000))
    )
    tracemalloc.start()
    try:
        with pytest.raises(ImageConversionError, match="over the 8294400-byte bound"):
            image_msg_to_rgb(msg, max_bytes=8_294_400)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_preprocessing_a_read_only_frame_raises_no_warning(rgb):
    import warnings

    from gr00t_policy.model.processing_gr00t_n1 import crop_and_resize, to_pixel_values

    frame = np.frombuffer(rgb.tobytes(), np.uint8).reshape(rgb.shape)  # read-only, like a view of bytes
    assert not frame.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tile = crop_and_resize(frame, size=16)
        tile.setflags(write=False)
        to_pixel_values([tile], size=16)
