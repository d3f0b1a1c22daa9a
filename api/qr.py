"""QR codes: welcome cards, payment requests, pay codes and printed cards.

Drawing a QR code costs about 10 ms (PNG) and 12 ms (SVG), so images are drawn
once per text and kept (``QR_CACHE_ENTRIES_MAX`` of them, oldest dropped
first). Payment URLs are written in upper case where case does not matter, so
the QR code uses its compact alphanumeric mode and stays at version 4 or less.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import Literal
from urllib.parse import urlsplit

import qrcode
import qrcode.image.pure
import qrcode.image.svg

from api import limits

Format = Literal["svg", "png"]
BOX_PIXELS = 10
BORDER_BOXES = 4

_cache: OrderedDict[tuple[str, Format], bytes] = OrderedDict()


def _code(text: str) -> qrcode.QRCode:
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=BOX_PIXELS, border=BORDER_BOXES
    )
    code.add_data(text)
    code.make(fit=True)
    return code


def version(text: str) -> int:
    """The QR version (size) that ``text`` needs at error correction M."""
    return int(_code(text).version)


def image(text: str, format: Format) -> bytes:
    """The QR code of ``text`` as an SVG document or a PNG image (cached)."""
    key = (text, format)
    cached = _cache.get(key)
    if cached is not None:
        _cache.move_to_end(key)
        return cached
    code = _code(text)
    if format == "svg":
        drawn = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
        data = str(drawn.to_string(encoding="unicode")).encode()
    else:
        buffer = io.BytesIO()
        code.make_image(image_factory=qrcode.image.pure.PyPNGImage).save(buffer)
        data = bytes(buffer.getvalue())
    if len(_cache) >= limits.QR_CACHE_ENTRIES_MAX:
        _cache.popitem(last=False)
    _cache[key] = data
    return data


def svg(text: str) -> str:
    """The QR code of ``text`` as an SVG document (error correction M)."""
    return image(text, "svg").decode()


def payment_url(public_url: str, request_id: str) -> str:
    """``<PUBLIC_URL>/P/<RID>`` with scheme and host in upper case (they ignore case;
    a path in the public URL keeps its case)."""
    parts = urlsplit(public_url)
    base = f"{parts.scheme}://{parts.netloc}".upper() + parts.path.rstrip("/")
    return f"{base}/P/{request_id}"


def request_id_of(public_url: str, text: str) -> str | None:
    """The request id in a QR code's text if it is one of ours (``payment_url`` of this
    public URL, in any case), else None."""
    prefix = payment_url(public_url, "").upper()
    candidate = text.strip()
    if len(candidate) > len(prefix) + limits.PAYMENT_REQUEST_ID_LENGTH:
        return None
    if not candidate.upper().startswith(prefix):
        return None
    request_id = candidate[len(prefix) :].upper()
    return request_id if is_request_id(request_id) else None


def is_request_id(text: str) -> bool:
    """Whether ``text`` has the form of a payment request id (26 base32 characters)."""
    return len(text) == limits.PAYMENT_REQUEST_ID_LENGTH and all(c in _BASE32 for c in text)


_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
