#!/usr/bin/env python3
"""Draw the app icons of the relative's portal (static/icons/*.png) and the site's
favicon.ico with the standard library only.

The icon is a white video camera on the portal's blue. Run it again after changing the
drawing; the files are committed, so nothing draws them at install or test time.

    python3 scripts/make_icons.py
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "static" / "icons"
BLUE = (0, 0, 145)
WHITE = (255, 255, 255)
# Each pixel is the average of SAMPLES x SAMPLES points: smooth edges without a drawing library.
SAMPLES = 4


def rounded_rect(x: float, y: float, box: tuple[float, float, float, float], r: float) -> bool:
    left, top, right, bottom = box
    if not (left <= x <= right and top <= y <= bottom):
        return False
    cx = min(max(x, left + r), right - r)
    cy = min(max(y, top + r), bottom - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def triangle(x: float, y: float, a, b, c) -> bool:
    def side(p, q):
        return (x - q[0]) * (p[1] - q[1]) - (p[0] - q[0]) * (y - q[1])

    d1, d2, d3 = side(a, b), side(b, c), side(c, a)
    return not ((d1 < 0 or d2 < 0 or d3 < 0) and (d1 > 0 or d2 > 0 or d3 > 0))


def camera(x: float, y: float, scale: float) -> bool:
    """The camera, in a unit square centred on (0.5, 0.5), shrunk by ``scale``."""
    u = 0.5 + (x - 0.5) / scale
    v = 0.5 + (y - 0.5) / scale
    body = rounded_rect(u, v, (0.12, 0.28, 0.66, 0.72), 0.08)
    lens = triangle(u, v, (0.62, 0.5), (0.88, 0.3), (0.88, 0.7))
    return body or lens


def pixel(x: float, y: float, maskable: bool) -> tuple[int, int, int, int]:
    if maskable:
        # Full bleed: the launcher crops to its own shape; the drawing stays in the safe
        # zone (the centre circle of 80% diameter).
        background = True
        drawing = camera(x, y, 0.62)
    else:
        background = rounded_rect(x, y, (0.0, 0.0, 1.0, 1.0), 0.18)
        drawing = background and camera(x, y, 0.78)
    if drawing:
        return (*WHITE, 255)
    if background:
        return (*BLUE, 255)
    return (0, 0, 0, 0)


def draw(size: int, maskable: bool) -> bytes:
    rows = []
    step = 1 / (size * SAMPLES)
    for j in range(size):
        row = bytearray([0])  # PNG filter type 0 for each row
        for i in range(size):
            acc = [0, 0, 0, 0]
            for sj in range(SAMPLES):
                for si in range(SAMPLES):
                    x = (i * SAMPLES + si + 0.5) * step
                    y = (j * SAMPLES + sj + 0.5) * step
                    for k, value in enumerate(pixel(x, y, maskable)):
                        acc[k] += value
            row.extend(round(value / SAMPLES**2) for value in acc)
        rows.append(bytes(row))
    return png(size, size, b"".join(rows))


def png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def ico(images: list[tuple[int, bytes]]) -> bytes:
    """An ICO file holding PNG images (each ``(size, png)``), which every browser reads."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, data = b"", b""
    for size, image in images:
        # A width or height of 256 is written 0; ours are smaller.
        entries += struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(image), offset)
        data += image
        offset += len(image)
    return header + entries + data


FAVICON_SIZES = (16, 32, 48)

ICONS = {
    "icon-192.png": (192, False),
    "icon-512.png": (512, False),
    "maskable-192.png": (192, True),
    "maskable-512.png": (512, True),
    "apple-touch-icon.png": (180, True),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (size, maskable) in ICONS.items():
        (OUT / name).write_bytes(draw(size, maskable))
        print(f"{OUT / name}")
    favicon = OUT / "favicon.ico"
    favicon.write_bytes(ico([(size, draw(size, False)) for size in FAVICON_SIZES]))
    print(favicon)


if __name__ == "__main__":
    main()
