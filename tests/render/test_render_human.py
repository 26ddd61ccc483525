"""Human mode under SDL's dummy video driver; missing pygame gives the install hint."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gym_powergrid.errors import MissingExtraError


def test_human_mode_updates_a_window_and_returns_none(case14):
    import pygame

    from gym_powergrid.render import GridRenderer

    grid, obs = case14
    r = GridRenderer(grid, "human", width=800, height=500, fps=1000)
    assert r.render(obs, {"timestep": 0}) is None
    surf = pygame.display.get_surface()
    assert surf is not None and surf.get_size() == (800, 500)
    assert r.render(obs, {"timestep": 1}) is None
    assert r.is_open
    r.close()
    r.close()  # twice is fine
    assert not r.is_open
    assert r.render(obs) is None


def test_closing_the_window_stops_rendering(case14):
    import pygame

    from gym_powergrid.render import GridRenderer

    grid, obs = case14
    r = GridRenderer(grid, "human", width=640, height=400)
    r.render(obs)
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    assert r.render(obs) is None
    assert not r.is_open
    assert len(r.history) == 1  # the frame after QUIT was not drawn


def test_missing_pygame_gives_the_install_hint(case14, monkeypatch):
    from gym_powergrid.render import GridRenderer

    grid, _ = case14
    monkeypatch.setitem(sys.modules, "pygame", None)  # makes ``import pygame`` fail
    with pytest.raises(MissingExtraError, match=r'pip install "gym-powergrid\[render\]"'):
        GridRenderer(grid, "rgb_array")
    with pytest.raises(ImportError):  # MissingExtraError is an ImportError too
        GridRenderer(grid, "human")


def test_importing_the_package_does_not_import_pygame():
    code = (
        "import sys, gym_powergrid, gym_powergrid.render\n"
        "from gym_powergrid.render import GridRenderer, describe_action, record_gif\n"
        "assert 'pygame' not in sys.modules, 'pygame imported at import time'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
