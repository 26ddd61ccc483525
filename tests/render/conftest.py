"""Renderer tests run headless: SDL's dummy video driver, and ``_fake_obs`` importable."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture(autouse=True)
def _dummy_video(monkeypatch):
    """Every renderer test runs with the dummy video driver, whatever the caller's env."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


@pytest.fixture(scope="session")
def case14():
    """``(grid, obs)`` of case14 from a pandapower power flow."""
    pytest.importorskip("pygame")
    from _fake_obs import fake_observation

    return fake_observation("case14")
