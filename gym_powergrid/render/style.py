"""Colours, sizes and fonts of the renderer (pure Python; no pygame import here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

Color = tuple[int, int, int]

BG: Color = (24, 28, 34)
GRID_BG: Color = (30, 35, 43)
PANEL_BG: Color = (38, 44, 54)
PANEL_EDGE: Color = (62, 70, 82)
HEADER_BG: Color = (17, 20, 25)
TEXT: Color = (232, 236, 240)
TEXT_DIM: Color = (150, 160, 172)
TEXT_WARN: Color = (255, 170, 60)
TEXT_BAD: Color = (255, 90, 80)
TEXT_GOOD: Color = (110, 220, 140)

# capacity usage scale: green -> yellow -> orange -> red
USAGE_STOPS = np.array([0.0, 0.5, 0.8, 1.0])
USAGE_COLORS = np.array([(46, 204, 113), (190, 215, 60), (243, 156, 18), (231, 60, 48)], float)
OVERFLOW: Color = (255, 40, 40)
OVERFLOW_HALO: Color = (120, 10, 20)
LINE_OFF: Color = (150, 158, 170)
LINE_BROKEN: Color = (200, 60, 60)
LINE_MAINT: Color = (80, 150, 235)
LINE_UNKNOWN: Color = (160, 160, 160)
JUST_BROKEN: Color = (255, 220, 60)

SUB_FILL: Color = (58, 67, 80)
SUB_EDGE: Color = (205, 214, 222)
BUS0: Color = (236, 239, 241)
BUS1: Color = (197, 108, 240)  # violet: busbar 1, distinct from the usage scale
PROD: Color = (79, 195, 247)
LOAD: Color = (240, 200, 140)
CUT: Color = (120, 120, 120)
CUT_MARK: Color = (255, 70, 70)

LOAD_CURVE: Color = LOAD
PROD_CURVE: Color = PROD
REWARD_POS: Color = (110, 220, 140)
REWARD_NEG: Color = (240, 100, 90)
BANNER_BG: Color = (150, 20, 30)


def usage_colors(usage: np.ndarray) -> np.ndarray:
    """RGB colours (``(n, 3)`` uint8) of capacity usages along the green-orange-red scale."""
    u = np.clip(np.nan_to_num(np.asarray(usage, dtype=np.float64), nan=0.0), 0.0, 1.0)
    out = np.empty((u.shape[0], 3))
    for c in range(3):
        out[:, c] = np.interp(u, USAGE_STOPS, USAGE_COLORS[:, c])
    return out.round().astype(np.uint8)


_USAGE_LUT: list[Color] = [
    (int(r), int(g), int(b)) for r, g, b in usage_colors(np.linspace(0.0, 1.0, 201))
]


def usage_color(usage: float) -> Color:
    """Colour of one capacity usage (0.5 % steps)."""
    if not usage == usage:  # NaN
        return _USAGE_LUT[0]
    return _USAGE_LUT[int(round(min(max(usage, 0.0), 1.0) * 200))]


def font_path(bold: bool = False) -> str | None:
    """A TrueType font with good Unicode coverage, found without importing anything heavy.

    DejaVu Sans from matplotlib's data folder when matplotlib is installed, else the system's
    DejaVu/Liberation fonts; ``None`` means pygame's built-in default font.
    """
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    candidates = []
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.append(Path(loc) / "mpl-data" / "fonts" / "ttf" / name)
    candidates += [
        Path("/usr/share/fonts/truetype/dejavu") / name,
        Path("/usr/share/fonts/TTF") / name,
        Path("/usr/share/fonts/dejavu") / name,
        Path("/usr/share/fonts/truetype/liberation")
        / ("LiberationSans-Bold.ttf" if bold else "LiberationSans-Regular.ttf"),
    ]
    for p in candidates:
        if p.is_file():
            return str(p)
    return None
