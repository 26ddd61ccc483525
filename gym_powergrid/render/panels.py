"""Drawing of everything around the grid: header, side panel, legend and game-over banner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import style as st
from .draw import Painter
from .history import STEPS_PER_DAY, FrameHistory
from .state import LINE_BROKEN, LINE_MAINTENANCE, LINE_OFF, FrameState

Rect = tuple[int, int, int, int]


class PanelView:
    """Header bar, side panel (reward, grid status, curves, last action), legend and banner.

    Args:
        header: ``(x, y, w, h)`` of the top bar.
        panel: ``(x, y, w, h)`` of the side panel.
        legend: ``(x, y, w, h)`` of the legend strip under the grid.
        painter: drawing helpers bound to pygame.
        grid_name: shown in the header.
    """

    def __init__(self, header: Rect, panel: Rect, legend: Rect, painter: Painter,
                 grid_name: str) -> None:
        self.header, self.panel, self.legend = header, panel, legend
        self.p = painter
        self.pg = painter.pg
        self.grid_name = grid_name
        s = painter.scale
        self.pad = int(round(12 * s))
        x, y, w, h = panel
        fractions = (0.2, 0.285, 0.275)
        tops, cur = [], y
        for f in fractions:
            tops.append((x, cur, w, int(h * f)))
            cur += int(h * f)
        tops.append((x, cur, w, y + h - cur))
        self.sec_reward, self.sec_status, self.sec_curves, self.sec_action = tops

    # ------------------------------------------------------------------ static parts
    def draw_static(self, surface: Any) -> None:
        """Backgrounds, section titles and the legend (drawn once into the cached background)."""
        pg, p = self.pg, self.p
        pg.draw.rect(surface, st.HEADER_BG, pg.Rect(*self.header))
        pg.draw.rect(surface, st.PANEL_BG, pg.Rect(*self.panel))
        pg.draw.line(surface, st.PANEL_EDGE, self.panel[:2],
                     (self.panel[0], self.panel[1] + self.panel[3]), 1)
        titles = ("REWARD", "GRID STATUS", "LOAD & PRODUCTION", "LAST ACTION")
        for (x, y, w, _h), title in zip(
            (self.sec_reward, self.sec_status, self.sec_curves, self.sec_action), titles
        ):
            if y > self.panel[1]:
                pg.draw.line(surface, st.PANEL_EDGE, (x + self.pad, y), (x + w - self.pad, y), 1)
            p.text(surface, title, (x + self.pad, y + self.pad * 0.6), 12, st.TEXT_DIM, bold=True)
        self._draw_legend(surface)

    def _draw_legend(self, surface: Any) -> None:
        p, pg = self.p, self.pg
        x, y, w, h = self.legend
        pg.draw.rect(surface, st.HEADER_BG, pg.Rect(x, y, w, h))
        cy = y + h / 2
        cx = x + self.pad
        p.text(surface, "usage", (cx, cy), 11, st.TEXT_DIM, anchor="midleft")
        cx += 44 * p.scale
        bar_w = int(110 * p.scale)
        for k in range(bar_w):
            pg.draw.line(surface, st.usage_color(k / (bar_w - 1)), (cx + k, cy - 4),
                         (cx + k, cy + 4))
        p.text(surface, "0", (cx, cy + 5), 9, st.TEXT_DIM, anchor="midtop")
        p.text(surface, "100%", (cx + bar_w, cy + 5), 9, st.TEXT_DIM, anchor="midtop")
        cx += bar_w + 16 * p.scale
        seg = 26 * p.scale

        right = x + w - self.pad

        def fits(label: str, lead: float) -> bool:
            return cx + lead + 5 + p.font(11).size(label)[0] <= right

        def sample(label: str, draw) -> None:
            nonlocal cx
            if not fits(label, seg):
                return
            draw(cx, cy)
            r = p.text(surface, label, (cx + seg + 5, cy), 11, st.TEXT, anchor="midleft")
            cx = r.right + 14 * p.scale

        sample("overflow", lambda a, b: (p.line(surface, st.OVERFLOW_HALO, (a, b), (a + seg, b), 8),
                                         p.line(surface, st.OVERFLOW, (a, b), (a + seg, b), 4)))
        sample("off", lambda a, b: p.dashed(surface, st.LINE_OFF, [(a, b), (a + seg, b)], 1.5,
                                            6, 4))
        sample("broken", lambda a, b: (p.dashed(surface, st.LINE_BROKEN, [(a, b), (a + seg, b)],
                                                2, 4, 4),
                                       p.cross(surface, st.LINE_BROKEN, (a + seg / 2, b), 4, 2)))
        sample("maintenance", lambda a, b: p.dashed(surface, st.LINE_MAINT,
                                                    [(a, b), (a + seg, b)], 2, 7, 4))
        seg_small = 10 * p.scale

        def glyph(label: str, draw) -> None:
            nonlocal cx
            if not fits(label, seg_small):
                return
            draw(cx + seg_small / 2, cy)
            r = p.text(surface, label, (cx + seg_small + 5, cy), 11, st.TEXT, anchor="midleft")
            cx = r.right + 14 * p.scale

        glyph("production", lambda a, b: p.disc(surface, st.PROD, (a, b), 6))
        glyph("load", lambda a, b: p.triangle(surface, st.LOAD, (a, b), -1.5708, 7))
        glyph("busbar 1", lambda a, b: p.disc(surface, st.BUS1, (a, b), 5))
        glyph("cut", lambda a, b: (p.disc(surface, st.CUT, (a, b), 6),
                                   p.cross(surface, st.CUT_MARK, (a, b), 5, 2)))

    # ------------------------------------------------------------------ dynamic parts
    def draw(self, surface: Any, state: FrameState, history: FrameHistory,
             cumulative_reward: float, reward_components: Mapping[str, float] | None,
             last_action_text: Sequence[str] | None) -> None:
        """Draw the per-frame contents of the header and the side panel."""
        self._draw_header(surface, state)
        self._draw_reward(surface, cumulative_reward, reward_components)
        self._draw_status(surface, state, history)
        self._draw_curves(surface, history)
        self._draw_action(surface, last_action_text)

    def _draw_header(self, surface: Any, state: FrameState) -> None:
        p = self.p
        x, y, w, h = self.header
        cy = y + h / 2
        r = p.text(surface, "gym_powergrid", (x + self.pad, cy), 15, st.TEXT_DIM, anchor="midleft")
        r = p.text(surface, self.grid_name, (r.right + 10, cy), 17, st.TEXT, bold=True,
                   anchor="midleft")
        if state.chronic_name:
            p.text(surface, f"chronic  {state.chronic_name}", (r.right + 24, cy), 14, st.TEXT,
                   anchor="midleft")
        right = x + w - self.pad
        if state.timestep is not None:
            r = p.text(surface, f"step {state.timestep}", (right, cy), 14, st.TEXT_DIM,
                       anchor="midright")
            right = r.left - 24
        if state.date is not None:
            p.text(surface, state.date.strftime("%a %d %b %Y   %H:%M"), (right, cy), 17,
                   st.TEXT, bold=True, anchor="midright")

    def _draw_reward(self, surface: Any, cumulative: float,
                     components: Mapping[str, float] | None) -> None:
        p, pg = self.p, self.pg
        x, y, w, h = self.sec_reward
        pad = self.pad
        top = y + pad * 0.6
        col = st.REWARD_NEG if cumulative < 0 else st.TEXT
        big = p.text(surface, f"{cumulative:,.2f}", (x + w - pad, top - 4), 24, col,
                     bold=True, anchor="topright")
        p.text(surface, "cumulative", (big.left - 8, big.bottom - 4), 11, st.TEXT_DIM,
               anchor="bottomright")
        if not components:
            p.text(surface, "no reward components given", (x + pad, top + 36 * p.scale), 12,
                   st.TEXT_DIM)
            return
        items = list(components.items())
        y0 = top + 40 * p.scale
        avail = y + h - y0 - 2
        # every component gets a row: rows tighten to fit (pypownet's reward has five)
        row = max(12 * p.scale, min(17 * p.scale, avail / len(items)))
        n_fit = max(1, min(len(items), int(avail // row)))
        if n_fit < len(items):  # too many to list: the last row says how many are hidden
            hidden = len(items) - n_fit + 1
            items = items[:n_fit - 1] + [(f"+ {hidden} more", float("nan"))]
        vals = np.array([float(v) for _k, v in items[:n_fit]], dtype=np.float64)
        finite = np.abs(vals[np.isfinite(vals)])
        scale = float(finite.max()) if finite.size else 0.0
        name_w = int(w * 0.42)
        bar_x0 = x + pad + name_w
        bar_w = int(w * 0.3)
        zero = bar_x0 + bar_w // 2
        for k, (name, v) in enumerate(items[:n_fit]):
            yy = y0 + k * row
            p.text(surface, str(name)[:28], (x + pad, yy), 12, st.TEXT, anchor="midleft")
            if scale > 0 and np.isfinite(v):
                length = int(round(float(v) / scale * (bar_w // 2)))
                col = st.REWARD_POS if v >= 0 else st.REWARD_NEG
                rect = pg.Rect(min(zero, zero + length), int(yy - 5), max(1, abs(length)), 10)
                pg.draw.rect(surface, col, rect)
            pg.draw.line(surface, st.PANEL_EDGE, (zero, yy - 7), (zero, yy + 7))
            if np.isfinite(v):
                p.text(surface, f"{float(v) + 0.0:,.2f}", (x + w - pad, yy), 12, st.TEXT,
                       anchor="midright")

    def _draw_status(self, surface: Any, state: FrameState, history: FrameHistory) -> None:
        p, pg = self.p, self.pg
        x, y, w, h = self.sec_status
        pad, s = self.pad, p.scale
        yy = y + pad * 0.6 + 22 * s
        counts = history.overflows_last_day()
        now, day = state.n_overflow, int(counts.sum())
        r = p.text(surface, "Overflows  now", (x + pad, yy), 13, st.TEXT)
        r = p.text(surface, str(now), (r.right + 6, yy - 2), 15,
                   st.TEXT_BAD if now else st.TEXT_GOOD, bold=True)
        r = p.text(surface, "last 24 h", (r.right + 18, yy), 13, st.TEXT)
        p.text(surface, str(day), (r.right + 6, yy - 2), 15,
               st.TEXT_BAD if day else st.TEXT_GOOD, bold=True)
        # one bar per step of the last day
        yy += 22 * s
        hist_h = int(26 * s)
        hx, hw = x + pad, w - 2 * pad
        bw = hw / STEPS_PER_DAY
        pg.draw.line(surface, st.PANEL_EDGE, (hx, yy + hist_h), (hx + hw, yy + hist_h))
        peak = max(3, int(counts.max()) if counts.size else 0)
        offset = STEPS_PER_DAY - counts.size
        for k, c in enumerate(counts):
            if c <= 0:
                continue
            bh = max(2, int(round(c / peak * hist_h)))
            pg.draw.rect(surface, st.TEXT_BAD,
                         pg.Rect(int(hx + (offset + k) * bw + 1), int(yy + hist_h - bh),
                                 max(1, int(bw) - 2), bh))
        p.text(surface, "-24 h", (hx, yy + hist_h + 2), 9, st.TEXT_DIM)
        p.text(surface, "now", (hx + hw, yy + hist_h + 2), 9, st.TEXT_DIM, anchor="topright")
        yy += hist_h + 16 * s
        cat = state.line_category
        n_off, n_brk, n_mnt = (int(np.count_nonzero(cat == c))
                               for c in (LINE_OFF, LINE_BROKEN, LINE_MAINTENANCE))
        rows: list[tuple[str, tuple[int, int, int]]] = []
        rows.append((f"Lines out: {n_off} switched off, {n_brk} broken, {n_mnt} in maintenance",
                     st.TEXT if n_off + n_brk + n_mnt == 0 else st.TEXT_WARN))
        n_lc, n_pc = int(state.load_cut_mask.sum()), int(state.prod_cut_mask.sum())
        mw_lc = float(np.nansum(np.abs(state.load_p_mw[state.load_cut_mask])))
        mw_txt = f" ({mw_lc:.0f} MW)" if mw_lc >= 0.5 else ""  # envs may report 0 MW when cut
        rows.append((f"Cut: {n_lc} loads{mw_txt}, {n_pc} productions",
                     st.TEXT_BAD if n_lc + n_pc else st.TEXT))
        split = np.flatnonzero(state.sub_bus1_mask)
        subs = ", ".join(str(s_) for s_ in split[:10]) + (" ..." if split.size > 10 else "")
        rows.append((f"Busbar 1 in use: {subs if split.size else 'none'}",
                     st.BUS1 if split.size else st.TEXT))
        usage = np.where(np.isfinite(state.line_usage), state.line_usage, -1.0)
        if usage.size and usage.max() >= 0:
            i = int(np.argmax(usage))
            rows.append((f"Max usage: {usage[i]:.0%} (line {i})",
                         st.usage_color(float(usage[i])) if usage[i] < 1 else st.TEXT_BAD))
        planned = np.flatnonzero(state.line_planned > 0)
        if planned.size:
            order = planned[np.argsort(state.line_planned[planned], kind="stable")][:3]
            txt = ", ".join(f"line {i} in {state.line_planned[i]} h" for i in order)
            rows.append((f"Planned maintenance: {txt}", st.LINE_MAINT))
        row_h = 17 * s
        for text, col in rows:
            if yy + row_h > y + h:
                break
            p.text(surface, text, (x + pad, yy), 12, col)
            yy += row_h

    def _draw_curves(self, surface: Any, history: FrameHistory) -> None:
        p, pg = self.p, self.pg
        x, y, w, h = self.sec_curves
        pad, s = self.pad, p.scale
        load, prod = history.series()
        top = y + pad * 0.6 + 22 * s
        if load.size:
            r = p.text(surface, f"load {load[-1]:,.0f} MW", (x + pad, top), 12, st.LOAD_CURVE)
            r = p.text(surface, f"production {prod[-1]:,.0f} MW", (r.right + 14, top), 12,
                       st.PROD_CURVE)
            p.text(surface, f"losses {prod[-1] - load[-1]:,.1f}", (r.right + 14, top), 12,
                   st.TEXT_DIM)
        plot = pg.Rect(int(x + pad + 34 * s), int(top + 20 * s), int(w - 2 * pad - 34 * s),
                       int(y + h - top - 38 * s))
        pg.draw.rect(surface, st.GRID_BG, plot)
        n_max = history.maxlen
        days = n_max // STEPS_PER_DAY
        p.text(surface, f"-{days} d", (plot.left, plot.bottom + 2), 9, st.TEXT_DIM)
        p.text(surface, "now", (plot.right, plot.bottom + 2), 9, st.TEXT_DIM, anchor="topright")
        for d in range(1, days):
            xd = plot.left + plot.width * d / days
            pg.draw.line(surface, st.PANEL_EDGE, (xd, plot.top), (xd, plot.bottom))
        if load.size < 2:
            p.text(surface, "collecting history...", plot.center, 11, st.TEXT_DIM,
                   anchor="center")
            return
        both = np.concatenate([load, prod])
        both = both[np.isfinite(both)]
        lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
        span = max(hi - lo, 1e-6 + 0.02 * abs(hi))
        lo, hi = lo - 0.08 * span, hi + 0.08 * span
        p.text(surface, f"{hi:,.0f}", (plot.left - 4, plot.top), 9, st.TEXT_DIM,
               anchor="topright")
        p.text(surface, f"{lo:,.0f}", (plot.left - 4, plot.bottom), 9, st.TEXT_DIM,
               anchor="bottomright")
        n = load.size
        xs = plot.right - (n - 1 - np.arange(n)) * plot.width / max(n_max - 1, 1)
        for series, col in ((load, st.LOAD_CURVE), (prod, st.PROD_CURVE)):
            ys = plot.bottom - (np.nan_to_num(series, nan=lo) - lo) / (hi - lo) * plot.height
            pts = np.stack([xs, ys], axis=1).tolist()
            pg.draw.aalines(surface, col, False, pts)

    def _draw_action(self, surface: Any, lines: Sequence[str] | None) -> None:
        p = self.p
        x, y, w, h = self.sec_action
        pad, s = self.pad, p.scale
        yy = y + pad * 0.6 + 22 * s
        row = 17 * s
        if not lines:
            p.text(surface, "none yet", (x + pad, yy), 12, st.TEXT_DIM)
            return
        wrapped: list[str] = []
        for line in lines:
            wrapped += p.wrap(f"- {line}", 12, w - 2 * pad)
        n_fit = max(1, int((y + h - yy - 4) // row))
        if len(wrapped) > n_fit:
            wrapped = wrapped[: n_fit - 1] + [f"... ({len(wrapped) - n_fit + 1} more lines)"]
        for text in wrapped:
            p.text(surface, text, (x + pad, yy), 12, st.TEXT)
            yy += row

    def draw_banner(self, surface: Any, area: Rect, reason: str) -> None:
        """Semi-transparent game-over banner across ``area`` with the reason."""
        pg, p = self.pg, self.p
        x, y, w, h = area
        bh = int(86 * p.scale)
        band = pg.Surface((w, bh), pg.SRCALPHA)
        band.fill((*st.BANNER_BG, 215))
        top = int(y + h / 2 - bh / 2)
        surface.blit(band, (x, top))
        p.text(surface, "GAME OVER", (x + w / 2, top + bh * 0.34), 30, (255, 255, 255),
               bold=True, anchor="center")
        if reason:
            p.text(surface, reason[:120], (x + w / 2, top + bh * 0.74), 15, (255, 225, 225),
                   anchor="center")
