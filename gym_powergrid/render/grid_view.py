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
#: Supersampling factor of the cached sprites (substations, production and load glyphs).
_SUPERSAMPLE = 4


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
        self.line_mid, self.line_label_xy = self._label_spots(c_or, c_ex, shift)
        # bends of parallel lines leave the substation then run parallel
        self.bend_or = c_or + self.line_dir * 1.6 * r + shift
        self.bend_ex = c_ex - self.line_dir * 1.6 * r + shift
        self._bent = (self.geo.line_offset != 0).tolist()
        self._bend_or = self.bend_or.tolist()
        self._bend_ex = self.bend_ex.tolist()
        self._sprites: dict[tuple, Any] = {}
        pg = painter.pg
        self._sub_rects = [pg.Rect(int(x - r), int(y - r), int(2 * r), int(2 * r))
                           for x, y in self.geo.sub_xy.tolist()]
        gr = self.geo.glyph_radius
        self._sub_rects += [pg.Rect(int(x - gr), int(y - gr), int(2 * gr), int(2 * gr))
                            for x, y in np.concatenate([self.geo.prod_xy,
                                                        self.geo.load_xy]).tolist()]

    def _label_spots(self, c_or: np.ndarray, c_ex: np.ndarray,
                     shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each line's marker (arrow, broken cross) and percentage label go.

        The marker slides along the line (middle first) and the label goes to either side, to
        the first spot that is clear of the substations.
        """
        r, subs = self.geo.sub_radius, self.geo.sub_xy
        away = self.w_max / 2 + 9
        mids = np.empty_like(c_or)
        labels = np.empty_like(c_or)
        for i in range(c_or.shape[0]):
            best, best_gap = None, -np.inf
            for t in (0.5, 0.4, 0.6, 0.3, 0.7):
                mid = c_or[i] + (c_ex[i] - c_or[i]) * t + shift[i]
                for side in (1.0, -1.0):
                    lab = mid + self.line_perp[i] * away * side
                    gap = min(np.min(np.linalg.norm(subs - mid, axis=1)),
                              np.min(np.linalg.norm(subs - lab, axis=1)) - 6) - r
                    if gap > best_gap:
                        best, best_gap = (mid, lab), gap
                    if gap > 10:
                        break
                if best_gap > 10:
                    break
            mids[i], labels[i] = best
        return mids, labels

    # ------------------------------------------------------------------ geometry per frame
    def _bus_xy(self, state: FrameState) -> np.ndarray:
        """``(n_sub, 2, 2)`` position of busbar 0/1 of every substation for this frame."""
        c = self.geo.sub_xy
        out = np.repeat(c[:, None, :], 2, axis=1)
        split = state.sub_bus1_mask
        out[split, 0, 0] -= self.geo.bus_dx
        out[split, 1, 0] += self.geo.bus_dx
        return out

    def _line_polylines(self, state: FrameState, bus_xy: np.ndarray) -> list[list]:
        """Screen polyline of every line for this frame (plain Python floats, fast to draw)."""
        g = self.grid
        a = bus_xy[g.line_sub_or_idx, state.line_or_node].tolist()
        b = bus_xy[g.line_sub_ex_idx, state.line_ex_node].tolist()
        out = []
        for i, bent in enumerate(self._bent):
            out.append([a[i], self._bend_or[i], self._bend_ex[i], b[i]] if bent else [a[i], b[i]])
        return out

    # ------------------------------------------------------------------ drawing
    def draw(self, surface: Any, state: FrameState) -> None:
        """Draw lines, injections, substations and labels for ``state``."""
        bus_xy = self._bus_xy(state)
        self._draw_split_fill(surface, state)
        self._draw_lines(surface, state, bus_xy)
        self._draw_injections(surface, state, bus_xy)
        self._draw_substations(surface, state, bus_xy)
        occupied = self._draw_line_labels(surface, state)
        if self.detailed:
            self._draw_injection_labels(surface, state, occupied)

    def _draw_lines(self, surface: Any, state: FrameState, bus_xy: np.ndarray) -> None:
        p, cat, usage = self.p, state.line_category, state.line_usage
        pts = self._line_polylines(state, bus_xy)
        unknown = (~np.isfinite(usage)).tolist()
        u = np.clip(np.nan_to_num(usage), 0.0, 1.0)
        widths = (self.w_min + (self.w_max - self.w_min) * u).tolist()
        ul = u.tolist()
        dash = max(5.0, self.geo.sub_radius * 0.7)
        for i in np.flatnonzero(cat == LINE_OFF).tolist():
            p.dashed(surface, st.LINE_OFF, pts[i], 2.0, dash, dash * 0.8)
        for i in np.flatnonzero(cat == LINE_MAINTENANCE).tolist():
            p.dashed(surface, st.LINE_MAINT, pts[i], 2.0, dash, dash * 0.6)
        for i in np.flatnonzero(cat == LINE_BROKEN).tolist():
            p.dashed(surface, st.LINE_BROKEN, pts[i], 2.0, dash * 0.5, dash * 0.5)
        on = np.flatnonzero(cat == LINE_ON)
        for i in on[np.argsort(u[on], kind="stable")].tolist():
            col = st.LINE_UNKNOWN if unknown[i] else st.usage_color(ul[i])
            p.polyline(surface, col, pts[i], widths[i])
        for i in np.flatnonzero(cat == LINE_OVERFLOW).tolist():
            p.polyline(surface, st.OVERFLOW_HALO, pts[i], self.w_max + 5)
            p.polyline(surface, st.OVERFLOW, pts[i], self.w_max + 1)

    def _sprite(self, key: tuple, size: int, paint, text: str | None = None) -> Any:
        """A cached transparent ``size`` x ``size`` sprite, anti-aliased by supersampling.

        ``paint(surface, centre, k)`` draws at ``k`` times the final size with plain (aliased)
        pygame primitives; the result is smooth-scaled down. ``text`` is then blitted centred
        (in the substation font).
        """
        spr = self._sprites.get(key)
        if spr is None:
            pg, k = self.p.pg, _SUPERSAMPLE
            big = pg.Surface((size * k, size * k), pg.SRCALPHA)
            paint(big, (size * k / 2, size * k / 2), k)
            spr = pg.transform.smoothscale(big, (size, size))
            if text is not None:
                t = self.p.text_surface(text, self.font_sub, st.TEXT, bold=True)
                spr.blit(t, t.get_rect(center=(size // 2, size // 2)))
            self._sprites[key] = spr
        return spr

    def _blit_centered(self, surface: Any, spr: Any, c: tuple) -> None:
        w = spr.get_width()
        surface.blit(spr, (int(round(c[0] - w / 2)), int(round(c[1] - w / 2))))

    def _glyph(self, kind: str, angle: float, cut: bool, node1: bool) -> Any:
        pg, gr = self.p.pg, self.geo.glyph_radius
        a_key = round(angle, 3) if kind == "load" else 0.0
        size = int(2 * gr + 10)

        def paint(surf: Any, c: tuple, k: int) -> None:
            fill = st.CUT if cut else (st.PROD if kind == "prod" else st.LOAD)
            if kind == "prod":
                pg.draw.circle(surf, fill, c, gr * k)
                if gr >= 5:
                    pts = [(c[0] + k * gr * 0.65 * (j / 4 - 1),
                            c[1] - k * gr * 0.35 * math.sin(math.pi * j / 4)) for j in range(9)]
                    pg.draw.lines(surf, (10, 40, 60), False, pts, k)
            else:
                r = gr * 1.15 * k
                pts = [(c[0] + r * math.cos(angle + j * 2.0944),
                        c[1] + r * math.sin(angle + j * 2.0944)) for j in range(3)]
                pg.draw.polygon(surf, fill, pts)
            if node1:
                pg.draw.circle(surf, st.BUS1, c, (gr + 3) * k, 2 * k)
            if cut:
                h = (gr * 0.9 + 1) * k
                pg.draw.line(surf, st.CUT_MARK, (c[0] - h, c[1] - h), (c[0] + h, c[1] + h), 2 * k)
                pg.draw.line(surf, st.CUT_MARK, (c[0] - h, c[1] + h), (c[0] + h, c[1] - h), 2 * k)

        return self._sprite(("glyph", kind, a_key, bool(cut), bool(node1)), size, paint)

    def _draw_injections(self, surface: Any, state: FrameState, bus_xy: np.ndarray) -> None:
        p, g, geo = self.p, self.grid, self.geo
        bus = bus_xy.tolist()
        for kind, subs, nodes, cut, xy, ang in (
            ("prod", g.prod_sub_idx, state.prod_node, state.prod_cut_mask, geo.prod_xy,
             geo.prod_angle),
            ("load", g.load_sub_idx, state.load_node, state.load_cut_mask, geo.load_xy,
             geo.load_angle),
        ):
            for s, node, is_cut, c, a in zip(subs.tolist(), nodes.tolist(), cut.tolist(),
                                             xy.tolist(), ang.tolist()):
                if node == 1:
                    p.line(surface, st.BUS1, bus[s][1], c, 2.0)
                else:
                    p.pg.draw.aaline(surface, st.TEXT_DIM, bus[s][0], c)
                self._blit_centered(surface, self._glyph(kind, a, is_cut, node == 1), c)

    def _sub_sprite(self, s: int) -> Any:
        pg, r = self.p.pg, self.geo.sub_radius
        edge = 2 if r >= 10 else 1

        def paint(surf: Any, c: tuple, k: int) -> None:
            pg.draw.circle(surf, st.SUB_EDGE, c, r * k)
            pg.draw.circle(surf, st.SUB_FILL, c, (r - edge) * k)

        return self._sprite(("sub", s), int(2 * r + 6), paint, text=str(s))

    def _draw_substations(self, surface: Any, state: FrameState, bus_xy: np.ndarray) -> None:
        xy = self.geo.sub_xy.tolist()
        for s, split in enumerate(state.sub_bus1_mask.tolist()):
            if not split:
                self._blit_centered(surface, self._sub_sprite(s), xy[s])
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

    def _draw_line_labels(self, surface: Any, state: FrameState) -> list:
        """Draw line markers and percentages; return the rectangles they cover."""
        p, cat, usage = self.p, state.line_category, state.line_usage
        occupied = list(self._sub_rects)
        fs = self.font_small
        if not self.detailed:
            stressed = np.flatnonzero((cat == LINE_ON) & (np.nan_to_num(usage) >= 0.9))
            keep = stressed[np.argsort(-usage[stressed], kind="stable")][:MAX_STRESSED_LABELS]
            label_mask = np.zeros(self.grid.n_line, dtype=bool)
            label_mask[keep] = True
        for i in range(self.grid.n_line):
            mid = self.line_mid[i]
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
                occupied.append(box)
                if state.line_cooldown[i] > 0:
                    p.text(surface, f"{state.line_cooldown[i]}h", (box.right + 2, box.centery),
                           fs, st.LINE_MAINT, anchor="midleft")
            elif cat[i] == LINE_OVERFLOW:
                if self.detailed:
                    self._arrow(surface, state, i)
                pos = self.line_label_xy[i]
                occupied.append(p.label(surface, f"{usage[i]:.0%}", tuple(pos), fs,
                                        (255, 255, 255), st.OVERFLOW_HALO, st.OVERFLOW,
                                        bold=True))
            elif cat[i] == LINE_ON and np.isfinite(usage[i]):
                if self.detailed:
                    self._arrow(surface, state, i)
                if self.detailed or label_mask[i]:
                    pos = self.line_label_xy[i]
                    col = st.usage_color(float(usage[i]))
                    occupied.append(p.label(surface, f"{usage[i]:.0%}", tuple(pos), fs, col,
                                            st.GRID_BG))
        return occupied

    def _arrow(self, surface: Any, state: FrameState, i: int) -> None:
        flow = state.line_p_or_mw[i]
        if abs(flow) < 1e-6:
            return
        d = self.line_dir[i] * (1.0 if flow > 0 else -1.0)
        size = self.w_max * 0.55 + 3
        self.p.chevron(surface, (235, 240, 245), tuple(self.line_mid[i]), tuple(d), size)

    def _draw_injection_labels(self, surface: Any, state: FrameState, occupied: list) -> None:
        """MW labels beyond each glyph, pushed outwards when they would overlap other text."""
        p, geo = self.p, self.geo
        gap = geo.glyph_radius + 5
        for values, xy, ang, cut, col in (
            (state.prod_p_mw, geo.prod_xy, geo.prod_angle, state.prod_cut_mask, st.PROD),
            (state.load_p_mw, geo.load_xy, geo.load_angle, state.load_cut_mask, st.LOAD),
        ):
            for i in range(values.shape[0]):
                a = float(ang[i])
                ca, sa = math.cos(a), math.sin(a)
                if ca > 0.38:
                    anchor = "midleft"
                elif ca < -0.38:
                    anchor = "midright"
                else:
                    anchor = "midtop" if sa > 0 else "midbottom"
                text = "cut" if cut[i] else f"{values[i]:.0f} MW"
                surf = p.text_surface(text, self.font_small, st.CUT_MARK if cut[i] else col)
                x, y = xy[i]
                cands = [(anchor, (x + (gap + e) * ca, y + (gap + e) * sa)) for e in (0, 7, 14)]
                cands += [("midleft", (x + gap, y)), ("midright", (x - gap, y)),
                          ("midbottom", (x, y - gap)), ("midtop", (x, y + gap))]
                rect, best = None, None
                for anc, pos in cands:
                    cand = surf.get_rect(**{anc: (int(round(pos[0])), int(round(pos[1])))})
                    hits = cand.collidelistall(occupied)
                    if not hits:
                        rect = cand
                        break
                    overlap = sum(cand.clip(occupied[h]).width * cand.clip(occupied[h]).height
                                  for h in hits)
                    if best is None or overlap < best[0]:
                        best = (overlap, cand)
                if rect is None:
                    rect = best[1]
                surface.blit(surf, rect)
                occupied.append(rect)
