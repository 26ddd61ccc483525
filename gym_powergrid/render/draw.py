"""Drawing primitives over pygame: anti-aliased thick lines, dashes, circles, cached text.

pygame is imported lazily by :func:`import_pygame`, which raises
:class:`gym_powergrid.errors.MissingExtraError` with the install command when it is missing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from ..errors import require
from .style import Color, font_path

Point = tuple[float, float]


def import_pygame() -> Any:
    """Import pygame (and ``pygame.gfxdraw``) or raise ``MissingExtraError`` with the hint."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    pg = require("pygame", "render", "Rendering")
    require("pygame.gfxdraw", "render", "Rendering")
    return pg


class Painter:
    """Stateless-ish drawing helpers bound to a pygame module, with a text-surface cache.

    Args:
        pg: the pygame module.
        scale: size factor applied to font sizes (1.0 for a 1280x720 canvas).
    """

    _MAX_TEXT_CACHE = 4000

    def __init__(self, pg: Any, scale: float = 1.0) -> None:
        self.pg = pg
        self.gfx = pg.gfxdraw
        self.scale = scale
        if not pg.font.get_init():
            pg.font.init()
        self._fonts: dict[tuple[int, bool], Any] = {}
        self._text: dict[tuple[str, int, bool, Color], Any] = {}

    # ------------------------------------------------------------------ text
    def font(self, size: int, bold: bool = False) -> Any:
        px = max(8, int(round(size * self.scale)))
        key = (px, bold)
        if key not in self._fonts:
            self._fonts[key] = self.pg.font.Font(font_path(bold), px)
        return self._fonts[key]

    def text_surface(self, text: str, size: int, color: Color, bold: bool = False) -> Any:
        key = (text, size, bold, color)
        surf = self._text.get(key)
        if surf is None:
            if len(self._text) > self._MAX_TEXT_CACHE:
                self._text.clear()
            surf = self.font(size, bold).render(text, True, color)
            self._text[key] = surf
        return surf

    def text(self, surface: Any, text: str, pos: Point, size: int = 13,
             color: Color = (230, 230, 230), bold: bool = False, anchor: str = "topleft") -> Any:
        """Blit ``text`` with ``anchor`` (a pygame Rect attribute name) at ``pos``; return rect."""
        surf = self.text_surface(text, size, color, bold)
        rect = surf.get_rect(**{anchor: (int(round(pos[0])), int(round(pos[1])))})
        surface.blit(surf, rect)
        return rect

    def label(self, surface: Any, text: str, pos: Point, size: int, color: Color,
              bg: Color, edge: Color | None = None, anchor: str = "center",
              bold: bool = False) -> Any:
        """Text on a rounded background pill (readable over lines)."""
        surf = self.text_surface(text, size, color, bold)
        rect = surf.get_rect(**{anchor: (int(round(pos[0])), int(round(pos[1])))})
        box = rect.inflate(6, 2)
        self.pg.draw.rect(surface, bg, box, border_radius=4)
        if edge is not None:
            self.pg.draw.rect(surface, edge, box, width=1, border_radius=4)
        surface.blit(surf, rect)
        return box

    def wrap(self, text: str, size: int, width: int, bold: bool = False) -> list[str]:
        """Split ``text`` into lines no wider than ``width`` pixels."""
        font = self.font(size, bold)
        words, lines, cur = text.split(" "), [], ""
        for w in words:
            trial = w if not cur else cur + " " + w
            if font.size(trial)[0] <= width or not cur:
                cur = trial
            else:
                lines.append(cur)
                cur = "   " + w
        if cur:
            lines.append(cur)
        return lines

    # ------------------------------------------------------------------ shapes
    def line(self, surface: Any, color: Color, p0: Point, p1: Point, width: float) -> None:
        """Anti-aliased line of any width.

        The body is a filled polygon half a pixel wider than the line (integer corners, so no
        pixel gap appears inside), its long edges are anti-aliased lines at the exact width.
        """
        if width <= 1.5:
            self.pg.draw.aaline(surface, color, p0, p1)
            return
        dx, dy = p1[0] - p0[0], p1[1] - p0[1]
        n = math.hypot(dx, dy)
        if n < 1e-9:
            return
        ux, uy = -dy / n, dx / n
        h, hf = width / 2, width / 2 + 0.25
        fill = [(round(p0[0] + ux * hf), round(p0[1] + uy * hf)),
                (round(p1[0] + ux * hf), round(p1[1] + uy * hf)),
                (round(p1[0] - ux * hf), round(p1[1] - uy * hf)),
                (round(p0[0] - ux * hf), round(p0[1] - uy * hf))]
        self.gfx.filled_polygon(surface, fill, color)
        self.pg.draw.aalines(surface, color, True,
                             [(p0[0] + ux * h, p0[1] + uy * h), (p1[0] + ux * h, p1[1] + uy * h),
                              (p1[0] - ux * h, p1[1] - uy * h), (p0[0] - ux * h, p0[1] - uy * h)])

    def polyline(self, surface: Any, color: Color, pts: Sequence[Point], width: float) -> None:
        for a, b in zip(pts[:-1], pts[1:]):
            self.line(surface, color, a, b, width)
        if width > 3 and len(pts) > 2:
            for p in pts[1:-1]:
                self.disc(surface, color, p, width / 2)

    def dashed(self, surface: Any, color: Color, pts: Sequence[Point], width: float,
               dash: float = 8.0, gap: float = 6.0) -> None:
        """Dashed polyline; the pattern continues across vertices."""
        on, left = True, dash
        for a, b in zip(pts[:-1], pts[1:]):
            seg = math.hypot(b[0] - a[0], b[1] - a[1])
            if seg < 1e-9:
                continue
            ux, uy = (b[0] - a[0]) / seg, (b[1] - a[1]) / seg
            t = 0.0
            while t < seg:
                step = min(left, seg - t)
                if on:
                    self.line(surface, color, (a[0] + ux * t, a[1] + uy * t),
                              (a[0] + ux * (t + step), a[1] + uy * (t + step)), width)
                t += step
                left -= step
                if left <= 1e-9:
                    on = not on
                    left = dash if on else gap

    def disc(self, surface: Any, color: Color, c: Point, r: float) -> None:
        """Filled anti-aliased circle."""
        x, y, ri = int(round(c[0])), int(round(c[1])), max(1, int(round(r)))
        self.gfx.filled_circle(surface, x, y, ri, color)
        self.gfx.aacircle(surface, x, y, ri, color)

    def ring(self, surface: Any, color: Color, c: Point, r: float, width: int = 1) -> None:
        """Circle outline (anti-aliased when ``width`` is 1)."""
        x, y, ri = int(round(c[0])), int(round(c[1])), max(1, int(round(r)))
        if width <= 1:
            self.gfx.aacircle(surface, x, y, ri, color)
        else:
            self.pg.draw.circle(surface, color, (x, y), ri, width)
            self.gfx.aacircle(surface, x, y, ri, color)

    def cross(self, surface: Any, color: Color, c: Point, half: float, width: float = 2) -> None:
        self.line(surface, color, (c[0] - half, c[1] - half), (c[0] + half, c[1] + half), width)
        self.line(surface, color, (c[0] - half, c[1] + half), (c[0] + half, c[1] - half), width)

    def chevron(self, surface: Any, color: Color, c: Point, direction: Point,
                size: float) -> None:
        """Filled arrow head centred on ``c`` pointing along ``direction``."""
        dx, dy = direction
        n = math.hypot(dx, dy)
        if n < 1e-9:
            return
        ux, uy = dx / n, dy / n
        px, py = -uy, ux
        tip = (c[0] + ux * size, c[1] + uy * size)
        back = (c[0] - ux * size * 0.6, c[1] - uy * size * 0.6)
        pts = [tip, (back[0] + px * size * 0.8, back[1] + py * size * 0.8),
               (c[0] - ux * size * 0.1, c[1] - uy * size * 0.1),
               (back[0] - px * size * 0.8, back[1] - py * size * 0.8)]
        self.pg.draw.polygon(surface, color, pts)
        self.pg.draw.aalines(surface, color, True, pts)

    def triangle(self, surface: Any, color: Color, c: Point, direction: float, r: float,
                 outline: Color | None = None) -> None:
        """Filled triangle (a load arrow) centred on ``c`` pointing at angle ``direction``."""
        pts = [(c[0] + r * math.cos(direction + k * 2.0944),
                c[1] + r * math.sin(direction + k * 2.0944)) for k in range(3)]
        self.pg.draw.polygon(surface, color, pts)
        self.pg.draw.aalines(surface, outline or color, True, pts)
