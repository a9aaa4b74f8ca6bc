"""Draw the Splunk app's icons into splunk_app/package/static/ (standard library only).

Splunk shows ``appIcon.png`` (36x36) and ``appIcon_2x.png`` (72x72) on light backgrounds,
``appIconAlt*.png`` on dark ones. The drawing: a planet on its elliptic orbit around a
star, Kepler's first law. Run ``python packaging/make_icons.py`` after changing it and
commit the PNGs; tests/splunk_app checks their sizes in the sources and in the package.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "splunk_app" / "package" / "static"
Color = tuple[int, int, int, int]
# name -> (background disc, orbit, star, planet)
PALETTES: dict[str, tuple[Color, Color, Color, Color]] = {
    "appIcon": ((26, 54, 93, 255), (150, 190, 230, 255), (255, 196, 0, 255), (90, 200, 250, 255)),
    "appIconAlt": (
        (255, 255, 255, 255),
        (26, 54, 93, 255),
        (230, 150, 0, 255),
        (0, 120, 200, 255),
    ),
}
SIZES = {"": 36, "_2x": 72}
SUPERSAMPLE = 4  # samples per pixel side: smooth edges without an imaging library


def _shade(u: float, v: float, palette: tuple[Color, Color, Color, Color]) -> Color:
    """The colour at (u, v) in [-1, 1]^2, last layer on top."""
    disc, orbit, star, planet = palette
    colour: Color = (0, 0, 0, 0)
    if u * u + v * v <= 0.96:
        colour = disc
    a, b, focus = 0.72, 0.42, math.sqrt(0.72**2 - 0.42**2)
    ring = math.hypot(u / a, v / b)
    if abs(ring - 1) < 0.1:  # the orbit line, in units of the ellipse
        colour = orbit
    if (u - focus) ** 2 + v * v <= 0.16**2:
        colour = star
    px, py = a * math.cos(2.4), b * math.sin(2.4)
    if (u - px) ** 2 + (v - py) ** 2 <= 0.11**2:
        colour = planet
    return colour


def draw(side: int, palette: tuple[Color, Color, Color, Color]) -> bytes:
    rows = []
    n = SUPERSAMPLE
    for y in range(side):
        row = bytearray([0])  # PNG filter type 0 for each scanline
        for x in range(side):
            acc = [0, 0, 0, 0]
            for sy in range(n):
                for sx in range(n):
                    u = (x + (sx + 0.5) / n) / side * 2 - 1
                    v = (y + (sy + 0.5) / n) / side * 2 - 1
                    r, g, b, alpha = _shade(u, v, palette)
                    acc[0] += r * alpha
                    acc[1] += g * alpha
                    acc[2] += b * alpha
                    acc[3] += alpha
            total = acc[3]
            pixel = [round(c / total) if total else 0 for c in acc[:3]] + [round(total / n / n)]
            row.extend(pixel)
        rows.append(bytes(row))
    return png(side, side, b"".join(rows))


def png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    STATIC.mkdir(parents=True, exist_ok=True)
    for name, palette in PALETTES.items():
        for suffix, side in SIZES.items():
            path = STATIC / f"{name}{suffix}.png"
            path.write_bytes(draw(side, palette))
            print(f"wrote {path.relative_to(STATIC.parents[2])} ({side}x{side})")


if __name__ == "__main__":
    main()
