"""Rendering of a power grid: a pygame window (``human``) or RGB frames (``rgb_array``).

pygame is imported only when a :class:`GridRenderer` is created; without it a
:class:`gym_powergrid.errors.MissingExtraError` gives the install command
(``pip install "gym-powergrid[render]"``). :func:`describe_action` needs no optional package.
"""

from .actions import describe_action
from .record import record_gif
from .renderer import RENDER_MODES, GridRenderer

__all__ = ["GridRenderer", "RENDER_MODES", "describe_action", "record_gif"]
