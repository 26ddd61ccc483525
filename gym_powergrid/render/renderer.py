"""GridRenderer: a pygame view of a power grid, in a window or as RGB frames."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigurationError
from ..grid.arrays import GridArrays
from . import style as st
from .draw import Painter, import_pygame
from .grid_view import GridView
from .history import FrameHistory
from .panels import PanelView
from .state import frame_state

logger = logging.getLogger(__name__)

RENDER_MODES = ("human", "rgb_array")


class GridRenderer:
    """Draws a grid and its observation: lines by capacity usage, busbars, injections, panels.

    The static parts (layout, panel backgrounds, legend) are drawn once into a cached surface;
    each :meth:`render` blits it and draws the frame's state on top. The renderer keeps a history
    of the frames it was given (one per hourly step) for the overflow count of the last day and
    the load/production curves.

    Args:
        grid: the grid to draw.
        render_mode: ``"human"`` opens a window that is updated by each :meth:`render` call;
            ``"rgb_array"`` draws off-screen and returns frames (no display needed).
        width: canvas width in pixels.
        height: canvas height in pixels.
        fps: in human mode, cap the frame rate (pace the window) at this value; ``None`` draws
            as fast as :meth:`render` is called.
        history_days: days of frames kept for the curves (24 frames per day).

    Raises:
        ConfigurationError: if ``render_mode`` or the size is invalid.
        MissingExtraError: if pygame is not installed (with the pip command to install it).

    Example:
        >>> renderer = GridRenderer(load_grid("case14"), "rgb_array")  # doctest: +SKIP
        >>> frame = renderer.render(obs, info)  # (720, 1280, 3) uint8  # doctest: +SKIP
    """

    def __init__(self, grid: GridArrays, render_mode: str = "rgb_array", width: int = 1280,
                 height: int = 720, fps: float | None = None, history_days: int = 3) -> None:
        if render_mode not in RENDER_MODES:
            raise ConfigurationError(
                f"render_mode must be one of {RENDER_MODES}, got {render_mode!r}"
            )
        if int(width) < 480 or int(height) < 320:
            raise ConfigurationError(
                f"renderer size must be at least 480x320 pixels, got {width}x{height}"
            )
        if fps is not None and not fps > 0:
            raise ConfigurationError(f"fps must be a positive number or None, got {fps!r}")
        self.pg = import_pygame()
        self.grid = grid
        self.render_mode = render_mode
        self.width, self.height = int(width), int(height)
        self.fps = fps
        self.history = FrameHistory(history_days)
        self._window: Any = None
        self._clock: Any = None
        self._closed = False
        self._background: Any = None
        self._rgb24: Any = None

        scale = min(self.width / 1280, self.height / 720)
        self.painter = Painter(self.pg, scale)
        header_h = int(round(40 * scale))
        legend_h = int(round(34 * scale))
        panel_w = int(round(max(240, 0.3 * self.width)))
        grid_w = self.width - panel_w
        self.grid_rect = (0, header_h, grid_w, self.height - header_h - legend_h)
        self.grid_view = GridView(grid, self.grid_rect, self.painter)
        self.panels = PanelView(
            header=(0, 0, self.width, header_h),
            panel=(grid_w, header_h, panel_w, self.height - header_h),
            legend=(0, self.height - legend_h, grid_w, legend_h),
            painter=self.painter,
            grid_name=grid.name,
        )
        self._canvas = self.pg.Surface((self.width, self.height))

    # ------------------------------------------------------------------ lifecycle
    def _ensure_window(self) -> None:
        pg = self.pg
        if self._window is None:
            pg.display.init()
            pg.display.set_caption(f"gym_powergrid - {self.grid.name}")
            self._window = pg.display.set_mode((self.width, self.height))
            self._clock = pg.time.Clock()

    def _static_background(self) -> Any:
        if self._background is None:
            bg = self.pg.Surface((self.width, self.height))
            bg.fill(st.BG)
            self.pg.draw.rect(bg, st.GRID_BG, self.pg.Rect(*self.grid_rect))
            self.panels.draw_static(bg)
            self._background = bg
        return self._background

    def record(self, obs: Mapping, info: Mapping | None = None) -> None:
        """Add a step to the history without drawing (the env calls it at every step, so the
        curves are complete however rarely frames are drawn)."""
        self.history.push(frame_state(self.grid, obs, info))

    def reset_history(self) -> None:
        """Forget the frames seen so far (call it when an episode restarts)."""
        self.history.clear()

    @property
    def is_open(self) -> bool:
        """False once :meth:`close` was called or the user closed the window."""
        return not self._closed

    def close(self) -> None:
        """Close the window (human mode) and release pygame's display. Safe to call twice."""
        if self._window is not None:
            self.pg.display.quit()
            self._window = None
        self._closed = True

    # ------------------------------------------------------------------ drawing
    def draw(self, obs: Mapping, info: Mapping | None = None, cumulative_reward: float = 0.0,
             reward_components: Mapping[str, float] | None = None,
             last_action_text: Sequence[str] | None = None,
             game_over: str | None = None) -> Any:
        """Draw a frame on the off-screen canvas and return the canvas (a pygame Surface).

        Same arguments as :meth:`render`; records the frame in the history.
        """
        state = frame_state(self.grid, obs, info)
        self.history.push(state)
        canvas = self._canvas
        canvas.blit(self._static_background(), (0, 0))
        self.grid_view.draw(canvas, state)
        self.panels.draw(canvas, state, self.history, float(cumulative_reward),
                         reward_components, last_action_text)
        reason = game_over if game_over is not None else state.game_over_reason
        if reason is not None and reason is not False:
            self.panels.draw_banner(canvas, self.grid_rect, "" if reason is True else str(reason))
        return canvas

    def render(self, obs: Mapping, info: Mapping | None = None, cumulative_reward: float = 0.0,
               reward_components: Mapping[str, float] | None = None,
               last_action_text: Sequence[str] | None = None,
               game_over: str | None = None) -> np.ndarray | None:
        """Draw one frame of ``obs``.

        Args:
            obs: a pypownet observation dict (numpy arrays; see :mod:`.state` for the keys read).
            info: optional ``chronic_name``, ``timestep``, ``lines_in_maintenance`` (mask or
                ids), ``lines_broken`` (ids broken at this step), ``game_over_reason``.
            cumulative_reward: shown in the reward panel.
            reward_components: name -> value, shown as signed bars.
            last_action_text: the last action in words (see :func:`describe_action`).
            game_over: when not ``None``, a game-over banner with this reason (an empty string
                shows the banner without a reason). Defaults to ``info["game_over_reason"]``.

        Returns:
            In ``rgb_array`` mode an ``(height, width, 3)`` uint8 array; in ``human`` mode
            ``None`` (the window is updated and its events are pumped).
        """
        if self.render_mode == "human":
            if self._closed:
                return None
            self._ensure_window()
            if not self._pump_events():
                return None
            canvas = self.draw(obs, info, cumulative_reward, reward_components,
                               last_action_text, game_over)
            self._window.blit(canvas, (0, 0))
            self.pg.display.flip()
            if self.fps:
                self._clock.tick(self.fps)
            return None
        canvas = self.draw(obs, info, cumulative_reward, reward_components, last_action_text,
                           game_over)
        return self.frame_array(canvas)

    def frame_array(self, surface: Any | None = None) -> np.ndarray:
        """The canvas (or ``surface``) as an ``(height, width, 3)`` uint8 array (a copy)."""
        surf = self._canvas if surface is None else surface
        w, h = surf.get_size()
        if self._rgb24 is None or self._rgb24.get_size() != (w, h):
            # a packed 24-bit surface with bytes in R, G, B order: SDL's blit converts the
            # 32-bit canvas much faster than surfarray's strided copies
            masks = (0xFF, 0xFF00, 0xFF0000, 0)
            if sys.byteorder == "big":
                masks = (0xFF0000, 0xFF00, 0xFF, 0)
            self._rgb24 = self.pg.Surface((w, h), 0, 24, masks)
        self._rgb24.blit(surf, (0, 0))
        buf = self._rgb24.get_buffer()
        try:
            rows = np.frombuffer(buf, dtype=np.uint8).reshape(h, self._rgb24.get_pitch())
            return rows[:, : 3 * w].reshape(h, w, 3).copy()
        finally:
            del buf

    def _pump_events(self) -> bool:
        """Process window events; False (and the window closed) when the user closed it."""
        for event in self.pg.event.get():
            if event.type == self.pg.QUIT:
                logger.info("render window closed by the user; further frames are skipped")
                self.close()
                return False
        return True
