"""A QR code drawn straight into a QImage: the ``qrcode`` package computes the modules, Qt
paints them, and no image file is written (the code holds a TOTP secret)."""

from __future__ import annotations

import qrcode
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter

QUIET_ZONE_MODULES = 4  # the margin the QR standard asks for


def qr_modules(text: str) -> list[list[bool]]:
    """The module matrix, quiet zone included; True is a dark module."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE_MODULES)
    code.add_data(text)
    code.make(fit=True)
    return [[bool(module) for module in row] for row in code.get_matrix()]


def qr_image(text: str, module_pixels: int = 5) -> QImage:
    modules = qr_modules(text)
    size = len(modules) * module_pixels
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor(Qt.GlobalColor.white))
    painter = QPainter(image)
    try:
        dark = QColor(Qt.GlobalColor.black)
        for y, row in enumerate(modules):
            for x, module in enumerate(row):
                if module:
                    painter.fillRect(x * module_pixels, y * module_pixels, module_pixels, module_pixels, dark)
    finally:
        painter.end()
    return image
