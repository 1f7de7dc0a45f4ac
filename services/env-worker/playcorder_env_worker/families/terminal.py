"""A text terminal (NetHack's 24x80 tty: chars, NetHack colours, cursor) drawn as an RGB frame.

Every (colour, character) cell is drawn once into an atlas when the renderer is built; a frame is then one gather of
tiles (about 1 ms for 24x80 cells of 8x17 pixels), not a font rasterisation per step.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_PX = 14
# NetHack's colour numbers (include/color.h): CLR_BLACK .. CLR_GRAY, NO_COLOR, CLR_ORANGE .. CLR_WHITE, as a
# 16-colour terminal shows them. CLR_BLACK is drawn dark grey, as NetHack's `use_darkgray` option does, so black
# monsters and objects stay visible on the black background; NO_COLOR is the terminal's default grey.
PALETTE = np.array([
    [85, 85, 85], [170, 0, 0], [0, 170, 0], [170, 85, 0], [0, 0, 170], [170, 0, 170], [0, 170, 170],
    [170, 170, 170], [170, 170, 170], [255, 85, 85], [85, 255, 85], [255, 255, 85], [85, 85, 255],
    [255, 85, 255], [85, 255, 255], [255, 255, 255],
], np.uint8)
# characters with a glyph: printable ASCII and Latin-1 (C0/C1 control codes stay blank; raqm refuses C1)
_PRINTABLE = [*range(33, 127), *range(161, 256)]


def _font(path: str, size: int) -> tuple[ImageFont.ImageFont | ImageFont.FreeTypeFont, int, int]:
    """The monospace font with its cell (width, height); Pillow's 6x11 bitmap font when the TTF is missing."""
    try:
        font = ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)
    except OSError:
        fallback = ImageFont.load_default_imagefont()
        left, top, right, bottom = fallback.getbbox("M")
        return fallback, max(6, right - left), 11
    ascent, descent = font.getmetrics()
    return font, round(font.getlength("M")), ascent + descent


class TerminalRenderer:
    """Draws (rows, cols) uint8 chars with NetHack colours 0-15 (and an optional [row, col] cursor, underlined)."""

    def __init__(self, font_path: str = FONT_PATH, font_px: int = FONT_PX) -> None:
        font, self.cell_width, self.cell_height = _font(font_path, font_px)
        masks = np.zeros((256, self.cell_height, self.cell_width), np.float32)
        for code in _PRINTABLE:
            image = Image.new("L", (self.cell_width, self.cell_height))
            ImageDraw.Draw(image).text((0, 0), chr(code), font=font, fill=255)
            masks[code] = np.asarray(image, np.float32) / 255.0
        # (colour * 256 + char) -> its cell, as RGB: 16 x 256 cells of 8x17x3 bytes, ~1.6 MB
        tiles = masks[None, :, :, :, None] * PALETTE[:, None, None, None, :].astype(np.float32)
        self._tiles = np.round(tiles).astype(np.uint8).reshape(16 * 256, self.cell_height, self.cell_width, 3)

    def frame_shape(self, rows: int, cols: int) -> tuple[int, int, int]:
        return rows * self.cell_height, cols * self.cell_width, 3

    def render(self, chars: np.ndarray, colors: np.ndarray, cursor: np.ndarray | None = None) -> np.ndarray:
        chars, colors = np.asarray(chars), np.asarray(colors)
        if chars.ndim != 2 or chars.shape != colors.shape:
            raise ValueError(f"Expected chars and colors of one (rows, cols) shape, got {chars.shape} and "
                             f"{colors.shape}")
        index = (colors.astype(np.uint8) & 15).astype(np.intp) * 256 + chars.astype(np.uint8)
        rows, cols = chars.shape
        h, w = self.cell_height, self.cell_width
        frame = self._tiles[index].transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, 3)
        if cursor is not None:
            row, col = int(cursor[0]), int(cursor[1])
            if 0 <= row < rows and 0 <= col < cols:
                frame[row * h + h - 2:row * h + h, col * w:(col + 1) * w] = 255
        return frame
