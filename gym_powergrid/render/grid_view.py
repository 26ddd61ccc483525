"""Drawing of the grid itself: lines, substations with their busbars, productions and loads."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..grid.arrays import GridArrays
from . import style as st
from .draw import Painter
from .layout import GridGeometry, grid_geometry
from .state import LINE_BROKEN, LINE_MAINTENANCE, LINE_OFF, LINE_ON, LINE_OVERFLOW, FrameState

#: Grids with more lines than this get fewer labels (only stressed lines, no MW texts).
DETAILED_MAX_LINES = 60
#: On such grids, at most this many lines at >= 90 % usage get a percentage label.
MAX_STRESSED_LABELS = 8


class GridView:
    """Draws one grid inside a rectangle of the canvas.

    The geometry (substation positions, offsets of parallel lines, where productions and loads
    sit) is computed once at construction; :meth:`draw` only reads a :class:`FrameState`.

    Args:
        grid: the grid to draw.
        rect: ``(x, y, w, h)`` of the drawing area in pixels.
        painter: drawing helpers bound to pygame.
    """

    def __init__(self, grid: GridArrays, rect: tuple[int, int, int, int], painter: Painter):
        self.grid = grid
        self.rect = rect
        self.p = painter
        self.detailed = grid.n_line <= DETAILED_MAX_LINES
        room = painter.font(11).size("999 MW")[0] + 6 if self.detailed else 8.0
        self.geo: GridGeometry = grid_geometry(grid, rect, label_room=room)
        r = self.geo.sub_radius
        self.w_min = max(1.5, 0.17 * r)
        self.w_max = max(4.0, 0.5 * r)
        self.font_small = 11 if self.detailed else 9
        self.font_sub = int(np.clip(round(0.95 * r), 8, 14))
        # split substations: a pill of half-size (hw, hh) holding the two busbar dots
        self.pill_hw = self.geo.bus_dx + 0.8 * r
        self.pill_hh = 1.05 * r
        c_or = self.geo.sub_xy[grid.line_sub_or_idx]
        c_ex = self.geo.sub_xy[grid.line_sub_ex_idx]
        d = c_ex - c_or
        n = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
        self.line_dir = d / n
        self.line_perp = np.stack([-self.line_dir[:, 1], self.line_dir[:, 0]], axis=1)
        shift = self.line_perp * self.geo.line_offset[:, None]
        self.line_mid = (c_or + c_ex) / 2 + shift
        # bends of parallel lines leave the substation then run parallel
        self.bend_or = c_or + self.line_dir * 1.6 * r + shift
        self.bend_ex = c_ex - self.line_dir * 1.6 * r + shift

    # ------------------------------------------------------------------ geometry per frame
    def _bus_xy(self, state: FrameState) -> np.ndarray:
        """``(n_sub, 2, 2)`` position of busbar 0/1 of every substation for this frame."""
        c = self.geo.sub_xy
        out = np.repeat(c[:, None, :], 2, axis=1)
        split = state.sub_bus1_mask
        out[split, 0, 0] -= self.geo.bus_dx
        out[split, 1, 0] += self.geo.bus_dx
        return out

    def _line_points(self, i: int, bus_xy: np.ndarray, state: FrameState) -> list:
        g = self.grid
        a = tuple(bus_xy[g.line_sub_or_idx[i], state.line_or_node[i]])
        b = tuple(bus_xy[g.line_sub_ex_idx[i], state.line_ex_node[i]])
        if self.geo.line_offset[i] == 0:
            return [a, b]
        return [a, tuple(self.bend_or[i]), tuple(self.bend_ex[i]), b]

    # ------------------------------------------------------------------ drawing
    def draw(self, surface: Any, state: FrameState) -> None:
        """Draw lines, injections, substations and labels for ``state``."""
        bus_xy = self._bus_xy(state)
        self._draw_split_fill(surface, state)
        self._draw_lines(surface, state, bus_xy)
        self._draw_injections(surface, state, bus_xy)
        self._draw_substations(surface, state, bus_xy)
        self._draw_line_labels(surface, state)
        if self.detailed:
            self._draw_injection_labels(surface, state)

    def _draw_lines(self, surface: Any, state: FrameState, bus_xy: np.ndarray) -> None:
        p, cat, usage = self.p, state.line_category, state.line_usage
        unknown = ~np.isfinite(usage)
        widths = self.w_min + (self.w_max - self.w_min) * np.clip(np.nan_to_num(usage), 0, 1)
        dash = max(5.0, self.geo.sub_radius * 0.7)
        for i in np.flatnonzero(cat == LINE_OFF):
            p.dashed(surface, st.LINE_OFF, self._line_points(i, bus_xy, state), 2.0,
                     dash, dash * 0.8)
        for i in np.flatnonzero(cat == LINE_MAINTENANCE):
            p.dashed(surface, st.LINE_MAINT, self._line_points(i, bus_xy, state), 2.0,
                     dash, dash * 0.6)
        for i in np.flatnonzero(cat == LINE_BROKEN):
            p.dashed(surface, st.LINE_BROKEN, self._line_points(i, bus_xy, state), 2.0,
                     dash * 0.5, dash * 0.5)
        on = np.flatnonzero(cat == LINE_ON)
        for i in on[np.argsort(np.nan_to_num(usage[on]), kind="stable")]:
            col = st.LINE_UNKNOWN if unknown[i] else st.usage_color(float(usage[i]))
            p.polyline(surface, col, self._line_points(i, bus_xy, state), float(widths[i]))
        for i in np.flatnonzero(cat == LINE_OVERFLOW):
            pts = self._line_points(i, bus_xy, state)
            p.polyline(surface, st.OVERFLOW_HALO, pts, self.w_max + 5)
            p.polyline(surface, st.OVERFLOW, pts, self.w_max + 1)

    def _draw_injections(self, surface: Any, state: FrameState, bus_xy: np.ndarray) -> None:
        p, g, geo = self.p, self.grid, self.geo
        gr = geo.glyph_radius
        for kind, subs, nodes, cut, xy, ang in (
            ("prod", g.prod_sub_idx, state.prod_node, state.prod_cut_mask, geo.prod_xy,
             geo.prod_angle),
            ("load", g.load_sub_idx, state.load_node, state.load_cut_mask, geo.load_xy,
             geo.load_angle),
        ):
            for i in range(subs.shape[0]):
                s, node = int(subs[i]), int(nodes[i])
                c = tuple(xy[i])
                stub_col = st.BUS1 if node == 1 else st.TEXT_DIM
                p.line(surface, stub_col, tuple(bus_xy[s, node]), c, 2.0 if node == 1 else 1.2)
                fill = st.CUT if cut[i] else (st.PROD if kind == "prod" else st.LOAD)
                if kind == "prod":
                    p.disc(surface, fill, c, gr)
                    if gr >= 5:
                        self._sine(surface, c, gr)
                else:
                    p.triangle(surface, fill, c, float(ang[i]), gr * 1.15)
                if node == 1:
                    p.ring(surface, st.BUS1, c, gr + 2, 2)
                if cut[i]:
                    p.cross(surface, st.CUT_MARK, c, gr * 0.9 + 1, 2)

    def _sine(self, surface: Any, c: tuple, r: float) -> None:
        pts = [(c[0] + r * 0.65 * (k / 4 - 1), c[1] - r * 0.35 * math.sin(math.pi * k / 4))
               for k in range(9)]
        self.p.pg.draw.aalines(surface, (10, 40, 60), False, pts)

    def _draw_substations(self, surface: Any, state: FrameState, bus_xy: np.ndarray) -> None:
        p, g, r = self.p, self.grid, self.geo.sub_radius
        for s in range(g.n_sub):
            c = tuple(self.geo.sub_xy[s])
            if not state.sub_bus1_mask[s]:
                p.disc(surface, st.SUB_FILL, c, r)
                p.ring(surface, st.SUB_EDGE, c, r, 2 if r >= 10 else 1)
                p.text(surface, str(s), c, self.font_sub, st.TEXT, bold=True, anchor="center")
        split = np.flatnonzero(state.sub_bus1_mask)
        if split.size:
            self._draw_split(surface, state, bus_xy, split)

    def _split_box(self, s: int) -> Any:
        box = self.p.pg.Rect(0, 0, int(2 * self.pill_hw), int(2 * self.pill_hh))
        cx, cy = self.geo.sub_xy[s]
        box.center = (int(round(cx)), int(round(cy)))
        return box

    def _draw_split_fill(self, surface: Any, state: FrameState) -> None:
        """Fill of the split substations, under the lines so that they show inside."""
        for s in np.flatnonzero(state.sub_bus1_mask):
            self.p.pg.draw.rect(surface, st.SUB_FILL, self._split_box(s),
                                border_radius=int(self.pill_hh))

    def _draw_split(self, surface: Any, state: FrameState, bus_xy: np.ndarray,
                    subs: np.ndarray) -> None:
        p, r, pg = self.p, self.geo.sub_radius, self.p.pg
        hh = self.pill_hh
        dot = max(2.5, 0.38 * r)
        for s in subs:
            pg.draw.rect(surface, st.BUS1, self._split_box(s), width=2,
                         border_radius=int(hh))
            p.disc(surface, st.BUS0, tuple(bus_xy[s, 0]), dot)
            p.ring(surface, st.SUB_FILL, tuple(bus_xy[s, 0]), dot)
            p.disc(surface, st.BUS1, tuple(bus_xy[s, 1]), dot)
            p.ring(surface, st.SUB_FILL, tuple(bus_xy[s, 1]), dot)
            cx, cy = self.geo.sub_xy[s]
            text = p.text_surface(str(s), self.font_sub, st.TEXT, bold=True)
            if text.get_width() <= 2 * (self.geo.bus_dx - dot) - 2:
                rect = text.get_rect(center=(int(round(cx)), int(round(cy))))
                pg.draw.rect(surface, st.SUB_FILL, rect.inflate(2, -2), border_radius=3)
                surface.blit(text, rect)
            else:
                p.label(surface, str(s), (cx, cy - hh - 2), self.font_sub, st.TEXT,
                        st.SUB_FILL, st.BUS1, anchor="midbottom", bold=True)

    def _draw_line_labels(self, surface: Any, state: FrameState) -> None:
        p, cat, usage = self.p, state.line_category, state.line_usage
        fs = self.font_small
        if not self.detailed:
            stressed = np.flatnonzero((cat == LINE_ON) & (np.nan_to_num(usage) >= 0.9))
            keep = stressed[np.argsort(-usage[stressed], kind="stable")][:MAX_STRESSED_LABELS]
            label_mask = np.zeros(self.grid.n_line, dtype=bool)
            label_mask[keep] = True
        for i in range(self.grid.n_line):
            mid = self.line_mid[i]
            perp = self.line_perp[i]
            if cat[i] == LINE_BROKEN:
                p.disc(surface, (40, 20, 22), tuple(mid), 7)
                p.cross(surface, st.LINE_BROKEN, tuple(mid), 4, 2)
                if state.line_just_broken_mask[i]:
                    p.ring(surface, st.JUST_BROKEN, tuple(mid), 10, 2)
                if state.line_cooldown[i] > 0:
                    p.text(surface, f"{state.line_cooldown[i]}h", tuple(mid + (13, 0)), fs,
                           st.LINE_BROKEN, anchor="midleft")
            elif cat[i] == LINE_MAINTENANCE:
                box = p.label(surface, "M", tuple(mid), fs, (255, 255, 255), st.LINE_MAINT,
                              bold=True)
                if state.line_cooldown[i] > 0:
                    p.text(surface, f"{state.line_cooldown[i]}h", (box.right + 2, box.centery),
                           fs, st.LINE_MAINT, anchor="midleft")
            elif cat[i] == LINE_OVERFLOW:
                if self.detailed:
                    self._arrow(surface, state, i)
                pos = mid + perp * (self.w_max / 2 + 9)
                p.label(surface, f"{usage[i]:.0%}", tuple(pos), fs, (255, 255, 255),
                        st.OVERFLOW_HALO, st.OVERFLOW, bold=True)
            elif cat[i] == LINE_ON and np.isfinite(usage[i]):
                if self.detailed:
                    self._arrow(surface, state, i)
                if self.detailed or label_mask[i]:
                    pos = mid + perp * (self.w_max / 2 + 8)
                    col = st.usage_color(float(usage[i]))
                    p.label(surface, f"{usage[i]:.0%}", tuple(pos), fs, col, st.GRID_BG)

    def _arrow(self, surface: Any, state: FrameState, i: int) -> None:
        flow = state.line_p_or_mw[i]
        if abs(flow) < 1e-6:
            return
        d = self.line_dir[i] * (1.0 if flow > 0 else -1.0)
        size = self.w_max * 0.55 + 3
        self.p.chevron(surface, (235, 240, 245), tuple(self.line_mid[i]), tuple(d), size)

    def _draw_injection_labels(self, surface: Any, state: FrameState) -> None:
        p, geo = self.p, self.geo
        gap = geo.glyph_radius + 5
        for values, xy, ang, cut, col in (
            (state.prod_p_mw, geo.prod_xy, geo.prod_angle, state.prod_cut_mask, st.PROD),
            (state.load_p_mw, geo.load_xy, geo.load_angle, state.load_cut_mask, st.LOAD),
        ):
            for i in range(values.shape[0]):
                a = float(ang[i])
                ca, sa = math.cos(a), math.sin(a)
                pos = (xy[i][0] + gap * ca, xy[i][1] + gap * sa)
                if ca > 0.38:
                    anchor = "midleft"
                elif ca < -0.38:
                    anchor = "midright"
                else:
                    anchor = "midtop" if sa > 0 else "midbottom"
                text = "cut" if cut[i] else f"{values[i]:.0f} MW"
                p.text(surface, text, pos, self.font_small, st.CUT_MARK if cut[i] else col,
                       anchor=anchor)
