"""Fixtures of the agent tests: small in-memory case14 environments."""

from __future__ import annotations

import pytest
from agents._fixture import make_env as _make_env


@pytest.fixture
def env():
    """A fresh case14 env (2 chronics of 48 steps, limits 1.15 x base flows), reset."""
    e = _make_env()
    e.reset(seed=0)
    yield e
    e.close()


@pytest.fixture
def make_env():
    """The env factory (same arguments as ``_fixture.make_env``)."""
    return _make_env
