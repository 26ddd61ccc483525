"""gym_powergrid: a fast, faithful Gymnasium environment for power-grid operation.

Importing the package registers ``PowerGrid-case14-v0``, ``PowerGrid-case30-v0``,
``PowerGrid-case118-v0`` and their DC variants (``PowerGrid-case14-dc-v0``...)::

    import gymnasium as gym
    import gym_powergrid  # noqa: F401

    env = gym.make("PowerGrid-case14-v0")
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

from .envs.registration import ENV_IDS, register_envs  # noqa: E402

register_envs()


def __getattr__(name: str):
    # lazy public API: importing gym_powergrid stays cheap (no numba compile, no pandapower)
    if name == "PowerGridEnv":
        from .envs.powergrid_env import PowerGridEnv

        return PowerGridEnv
    if name == "ActionHelper":
        from .envs.actions import ActionHelper

        return ActionHelper
    raise AttributeError(f"module 'gym_powergrid' has no attribute {name!r}")


__all__ = ["PowerGridEnv", "ActionHelper", "ENV_IDS", "register_envs", "__version__"]
