"""QR codes for welcome cards: an enrolment link as a small SVG."""

from __future__ import annotations

import qrcode
import qrcode.image.svg


def svg(text: str) -> str:
    """The QR code of ``text`` as an SVG document (error correction M)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=4,
        image_factory=qrcode.image.svg.SvgPathImage,
    )
    code.add_data(text)
    code.make(fit=True)
    return str(code.make_image().to_string(encoding="unicode"))
