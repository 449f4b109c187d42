"""Draws Wattkeeper's brand images (icon, logo, dark variants) with Pillow.

.venv/bin/python scripts/draw_brand.py
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "custom_components" / "wattkeeper" / "brand"
GREEN = (22, 160, 110)
AMBER = (255, 190, 40)


def icon(size: int, dark: bool) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    s = size / 256
    # A meter dial: a ring, open at the bottom, holding a lightning bolt.
    ring = (28 * s, 28 * s, 228 * s, 228 * s)
    draw.ellipse(ring, fill=(30, 36, 44) if dark else (245, 248, 246))
    draw.arc(ring, start=135, end=45, fill=GREEN, width=round(22 * s))
    bolt = [(140, 52), (84, 140), (122, 140), (106, 206), (172, 112), (132, 112), (150, 52)]
    draw.polygon([(x * s, y * s) for x, y in bolt], fill=AMBER)
    return image


def logo(dark: bool) -> Image.Image:
    height = 256
    mark = icon(height, dark)
    text = "Wattkeeper"
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 120)
    except OSError:
        font = ImageFont.load_default(size=120)
    measure = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
    image = Image.new("RGBA", (height + 24 + right - left + 16, height), (0, 0, 0, 0))
    image.paste(mark, (0, 0), mark)
    color = (235, 240, 238) if dark else (30, 36, 44)
    ImageDraw.Draw(image).text(
        (height + 24 - left, (height - (bottom - top)) / 2 - top), text, font=font, fill=color
    )
    return image


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for dark in (False, True):
        prefix = "dark_" if dark else ""
        icon(256, dark).save(OUT / f"{prefix}icon.png")
        icon(512, dark).save(OUT / f"{prefix}icon@2x.png")
        logo(dark).save(OUT / f"{prefix}logo.png")


if __name__ == "__main__":
    main()
