"""Copies build/screenshots/kepler_<view>.png to docs/img/dashboard-<view>.png for the
README, in 64 colours (a quarter of the size; the dashboards use few colours)."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image


def main(source: Path, target: Path) -> None:
    shots = sorted(source.glob("kepler_*.png"))
    if not shots:
        sys.exit(f"no screenshots in {source}: run the preview test (make screenshots)")
    target.mkdir(parents=True, exist_ok=True)
    for shot in shots:
        out = target / f"dashboard-{shot.stem.removeprefix('kepler_')}.png"
        with Image.open(shot) as image:
            image.convert("RGB").quantize(colors=64).save(out, optimize=True)
        print(f"{out} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
