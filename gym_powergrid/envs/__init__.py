"""Gymnasium environments: :class:`PowerGridEnv`, its helpers and wrappers.

Names are imported lazily so that ``import gym_powergrid`` (which registers the env ids) stays
cheap: numba kernels and pandapower load only when an environment is built.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "PowerGridEnv": ".powergrid_env",
    "ActionHelper": ".actions",
    "ElementType": ".actions",
    "validate_action": ".actions",
    "OBSERVATION_KEYS": ".observation",
    "as_array": ".observation",
    "get_lines_capacity_usage": ".observation",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
