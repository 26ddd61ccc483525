"""Shared fixtures: the numba power flow when it exists; ``tests/`` importable as helpers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

# make ``import strategies`` work whatever pytest's import mode and package layout
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)


@pytest.fixture(scope="session")
def numba_pf_class():
    """``gym_powergrid.core.powerflow.NumbaPowerFlow``; skip while the module does not exist."""
    if importlib.util.find_spec("gym_powergrid.core.powerflow") is None:
        pytest.skip("gym_powergrid.core.powerflow is not written yet")
    from gym_powergrid.core.powerflow import NumbaPowerFlow  # import errors must fail loudly

    return NumbaPowerFlow
