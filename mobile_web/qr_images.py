"""QR codes on pages: drawn as ``data:`` images (the policy allows no inline style, and
an ``<img>`` needs no extra request), and read from a phone's photo or camera frame.

Reading uses zxing-cpp on the server, so the phone needs no decoder of its own:
the scanner sends a frame (or the no-JavaScript form a photo) and gets back what
the QR code says. Images are bounded in bytes and in pixels before they are
decoded.
"""

from __future__ import annotations

import base64
import io
import warnings

import zxingcpp
from litestar.datastructures import UploadFile
from PIL import Image

from api.qr import svg

PHOTO_BYTES_MAX = 8 * 1024 * 1024
PHOTO_PIXELS_MAX = 40_000_000
# A phone photo is scaled down to this many pixels on its longer side before
# decoding: a QR code filling part of the picture stays readable, and it is quick.
PHOTO_SIDE_MAX = 1600
_QR_ONLY = zxingcpp.BarcodeFormats([zxingcpp.BarcodeFormat.QRCode])


def data_url(text: str) -> str:
    """The QR code of ``text`` as an SVG ``data:`` URL for an ``<img>``."""
    encoded = base64.b64encode(svg(text).encode()).decode("ascii")
    return f"data:image/svg+xml;base64,{encoded}"


def qr_texts(photo: bytes) -> list[str] | None:
    """The texts of the QR codes in ``photo`` (any format Pillow reads); None if it is
    not an image, or too large."""
    if len(photo) > PHOTO_BYTES_MAX:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(photo))
            if image.width * image.height > PHOTO_PIXELS_MAX:
                return None
            image.draft("L", (PHOTO_SIDE_MAX, PHOTO_SIDE_MAX))
            grey = image.convert("L")
    except (OSError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        return None
    grey.thumbnail((PHOTO_SIDE_MAX, PHOTO_SIDE_MAX))
    found = zxingcpp.read_barcodes(grey, formats=_QR_ONLY)
    return [barcode.text for barcode in found]


async def texts_of_upload(upload: object) -> list[str]:
    """The texts of the QR codes in a form's uploaded photo (none if it sent no file)."""
    if not isinstance(upload, UploadFile):
        return []
    return qr_texts(await upload.read(PHOTO_BYTES_MAX + 1)) or []
