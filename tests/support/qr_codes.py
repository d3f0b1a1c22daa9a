"""Reading the QR codes the API draws with a real decoder (zxing-cpp), PNG and SVG alike."""

from __future__ import annotations

import re

import png
import zxingcpp

SVG_MODULE = re.compile(rb"M(\d+),(\d+)H")
SVG_VIEWBOX = re.compile(rb'viewBox="0 0 (\d+) (\d+)"')
SVG_PIXELS_PER_MODULE = 8


def _read(pixels: bytes, width: int, height: int) -> list[str]:
    view = zxingcpp.ImageView(pixels, width, height, zxingcpp.ImageFormat.Lum, width, 1)
    # QR codes only: other formats' decoders can read a stray pattern in a QR's modules.
    found = zxingcpp.read_barcodes(view, formats=zxingcpp.BarcodeFormat.QRCode)
    return [barcode.text for barcode in found]


def decode_png(data: bytes) -> list[str]:
    """The texts of the QR codes in a PNG image."""
    width, height, rows, info = png.Reader(bytes=data).asDirect()
    planes, top = info["planes"], (1 << info["bitdepth"]) - 1
    pixels = bytearray()
    for row in rows:
        pixels.extend(value * 255 // top for value in row[::planes])
    return _read(bytes(pixels), width, height)


def decode_svg(data: bytes) -> list[str]:
    """The texts of the QR codes in an SVG drawn as one path of unit squares
    (qrcode's ``SvgPathImage``), rasterised here at 8 pixels a module."""
    box = SVG_VIEWBOX.search(data)
    assert box is not None, "a QR SVG has a viewBox in modules"
    scale = SVG_PIXELS_PER_MODULE
    width, height = int(box.group(1)) * scale, int(box.group(2)) * scale
    pixels = bytearray(b"\xff" * (width * height))
    for match in SVG_MODULE.finditer(data):
        x, y = int(match.group(1)) * scale, int(match.group(2)) * scale
        for row in range(y, y + scale):
            pixels[row * width + x : row * width + x + scale] = b"\x00" * scale
    return _read(bytes(pixels), width, height)
