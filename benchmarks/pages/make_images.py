"""Regenerate the synthetic "photos" used by dense.html.

Usage: python benchmarks/pages/make_images.py

Writes img/photo1.jpg .. img/photo8.jpg (400x300 JPEG) next to this file.
Output is deterministic (fixed seeds); only Pillow is required.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

W, H = 400, 300
OUT = Path(__file__).resolve().parent / "img"

# (sky top, sky bottom, ground near, ground far) colour schemes
PALETTES = [
    ((40, 90, 170), (170, 210, 240), (40, 110, 50), (90, 150, 90)),
    ((250, 120, 60), (255, 210, 150), (70, 50, 60), (130, 90, 90)),
    ((15, 20, 60), (80, 60, 140), (20, 30, 40), (60, 60, 90)),
    ((120, 170, 210), (230, 235, 240), (200, 190, 170), (150, 160, 150)),
    ((60, 140, 150), (200, 230, 220), (30, 90, 110), (80, 150, 160)),
    ((180, 80, 120), (250, 190, 160), (90, 60, 40), (160, 110, 80)),
    ((90, 110, 130), (190, 200, 205), (60, 70, 60), (110, 120, 110)),
    ((255, 160, 40), (255, 240, 200), (120, 90, 30), (190, 150, 70)),
]


def lerp(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, ...]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))


def make_photo(seed: int) -> Image.Image:
    rng = random.Random(seed)
    sky_top, sky_bot, ground_near, ground_far = PALETTES[seed % len(PALETTES)]
    img = Image.new("RGB", (W, H))
    draw = ImageDraw.Draw(img)
    for y in range(H):
        draw.line([(0, y), (W, y)], fill=lerp(sky_top, sky_bot, y / (H - 1)))

    # sun / moon
    cx, cy, r = rng.randint(60, 340), rng.randint(40, 120), rng.randint(18, 34)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=lerp(sky_bot, (255, 255, 240), 0.7))

    # soft clouds
    for _ in range(rng.randint(2, 5)):
        x, y = rng.randint(-40, W), rng.randint(20, 130)
        for k in range(4):
            w, h = rng.randint(40, 90), rng.randint(14, 26)
            draw.ellipse(
                [x + k * 22, y - h // 2, x + k * 22 + w, y + h // 2],
                fill=lerp(sky_bot, (255, 255, 255), 0.6),
            )

    # layered hills, far to near
    layers = 4
    for i in range(layers):
        t = i / (layers - 1)
        colour = lerp(ground_far, ground_near, t)
        base = int(H * (0.5 + 0.13 * i))
        amp = rng.randint(10, 35)
        freq = rng.uniform(0.01, 0.03)
        phase = rng.uniform(0, 6.28)
        pts = [(0, H)]
        for x in range(0, W + 8, 8):
            wave = (x * freq + phase) % 6.28
            # cheap smooth bump without math.sin: parabolic triangle wave
            tri = abs(wave / 3.14 - 1.0)
            pts.append((x, base - int(amp * (1 - (2 * tri - 1) ** 2))))
        pts.append((W, H))
        draw.polygon(pts, fill=colour)

    img = img.filter(ImageFilter.GaussianBlur(radius=2.2))

    # film-grain noise (seeded, so the output is reproducible)
    grain = Image.frombytes("L", (W, H), rng.randbytes(W * H)).point(lambda v: 114 + v * 28 // 255)
    img = ImageChops.add(img, Image.merge("RGB", (grain, grain, grain)), scale=1.0, offset=-128)
    return img


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for i in range(1, 9):
        make_photo(i).save(OUT / f"photo{i}.jpg", "JPEG", quality=85, optimize=True)
        print(OUT / f"photo{i}.jpg")


if __name__ == "__main__":
    main()
