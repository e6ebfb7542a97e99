"""Untrusted uploads: checked before decoding, memory bounded, every refusal in words."""
import base64
import io
import tracemalloc

import pytest
from PIL import Image

from topoact.data.bounded_decode import UploadRejected, decode_data_url, decode_image_bytes


def _png(width, height):
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding():
    bomb = _png(12000, 12000)                       # a few hundred KB declaring 144 megapixels
    assert len(bomb) < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(UploadRejected, match="12000 x 12000 pixels"):
            decode_image_bytes(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000                        # decoding it would take 144 MB (L) / 432 MB (RGB)


def test_a_20000_pixel_square_bomb_is_refused_with_a_message():
    with pytest.raises(UploadRejected, match="pixels"):
        decode_image_bytes(_png(20000, 20000))


def test_large_images_are_shrunk_and_jpegs_decoded_at_reduced_scale():
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 10, 10)).save(buffer, format="JPEG")
    image = decode_image_bytes(buffer.getvalue(), max_side=512)
    assert image.mode == "RGB" and max(image.size) == 512
    assert image.getpixel((5, 5))[0] > 150


def test_every_refusal_says_why():
    with pytest.raises(UploadRejected, match="data URL string"):
        decode_data_url({"not": "a string"})
    with pytest.raises(UploadRejected, match="not valid base64"):
        decode_data_url("data:image/png;base64,@@@@")
    with pytest.raises(UploadRejected, match="not an image"):
        decode_data_url("data:image/png;base64," + base64.b64encode(b"hello").decode())
    with pytest.raises(UploadRejected, match="at most 1 MB"):
        decode_image_bytes(b"x" * 2_000_000, max_bytes=1_000_000)
    with pytest.raises(UploadRejected, match="empty"):
        decode_image_bytes(b"")
    ok = decode_data_url("data:image/png;base64," + base64.b64encode(_png(40, 30)).decode())
    assert ok.size == (40, 30) and ok.mode == "RGB"
