"""Decode untrusted image bytes (app uploads) with bounded memory.

A 420 KB PNG can declare 12000 x 12000 pixels and cost 1.1 GB once decoded. Here the header is
read first (Pillow parses only the header in ``Image.open``) and the image is refused when its
declared size exceeds ``max_pixels``; JPEGs are decoded at a reduced scale (``Image.draft``) when
they are much larger than needed; the result is shrunk to at most ``max_side`` pixels per side,
so what stays in memory is small whatever was sent. At most ``MAX_CONCURRENT`` decodes run at
once in a process; a further one waits ``wait_seconds`` and is then refused as busy.
"""
from __future__ import annotations

import base64
import binascii
import io
import threading
import warnings

__all__ = ["UploadRejected", "decode_image_bytes", "decode_data_url", "MAX_BYTES", "MAX_PIXELS"]

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 25_000_000          # 5000 x 5000; a decoded RGB copy is then at most 75 MB
MAX_SIDE = 1024                  # kept after decoding; models here take 32-224 px
MAX_CONCURRENT = 2
_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT)


class UploadRejected(ValueError):
    """An upload refused before or while decoding; the message says why in words."""


def decode_image_bytes(raw: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS,
                       max_side: int = MAX_SIDE, wait_seconds: float = 10.0):
    """Bytes of a PNG/JPEG/... -> PIL RGB image no larger than ``max_side`` per side.

    Parameters
    ----------
    raw : the file's bytes
    max_bytes : refuse larger payloads
    max_pixels : refuse images whose header declares more pixels (checked before decoding)
    max_side : longest side kept after decoding
    wait_seconds : how long to wait for a decoding slot before refusing as busy

    Raises
    ------
    UploadRejected : empty, too large, too many pixels, not an image, or the server is busy
    """
    from PIL import Image, UnidentifiedImageError

    if not isinstance(raw, (bytes, bytearray)):
        raise UploadRejected(f"the upload must be file bytes, got {type(raw).__name__}")
    if not raw:
        raise UploadRejected("the upload is empty")
    if len(raw) > max_bytes:
        raise UploadRejected(f"the file is {len(raw) / 1e6:.1f} MB; at most {max_bytes / 1e6:.0f} MB is accepted")
    if not _SLOTS.acquire(timeout=wait_seconds):
        raise UploadRejected("the server is decoding other uploads; try again in a moment")
    try:
        try:
            with warnings.catch_warnings():       # our own pixel cap below is the check that counts
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(raw))
        except Image.DecompressionBombError as exc:
            raise UploadRejected(f"the image declares too many pixels ({exc}); at most "
                                 f"{max_pixels / 1e6:.0f} megapixels are accepted") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise UploadRejected(f"the file is not an image Pillow can read ({exc})") from None
        width, height = image.size
        if width * height > max_pixels:
            raise UploadRejected(f"the image is {width} x {height} pixels; at most {max_pixels / 1e6:.0f} "
                                 "megapixels are accepted (resize it first)")
        if image.format == "JPEG":
            image.draft("RGB", (max_side, max_side))   # decode at 1/2, 1/4 or 1/8 scale when possible
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise UploadRejected(f"the image could not be decoded ({exc})") from None
        image = image.convert("RGB")
        if max(image.size) > max_side:
            image.thumbnail((max_side, max_side))
        return image
    finally:
        _SLOTS.release()


def decode_data_url(contents, **limits):
    """``data:image/...;base64,...`` (what ``dcc.Upload`` sends) -> PIL RGB image; see
    :func:`decode_image_bytes` for ``limits``."""
    if not isinstance(contents, str):
        raise UploadRejected(f"the upload must be a data URL string, got {type(contents).__name__}")
    if "," not in contents:
        raise UploadRejected("the upload is empty or not a data URL")
    header, data = contents.split(",", 1)
    if ";base64" not in header:
        raise UploadRejected("the upload is not base64-encoded")
    max_bytes = limits.get("max_bytes", MAX_BYTES)
    if len(data) > max_bytes * 4 // 3 + 4:          # refuse before decoding the base64
        raise UploadRejected(f"the file is over {max_bytes / 1e6:.0f} MB")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise UploadRejected("the upload is not valid base64") from None
    return decode_image_bytes(raw, **limits)
