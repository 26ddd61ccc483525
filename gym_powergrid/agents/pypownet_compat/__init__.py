"""Run pypownet agents unchanged: pypownet 2.2.9's agent API over PowerGridEnv.

A pypownet agent file does ``import pypownet.agent`` / ``import pypownet.environment``,
subclasses ``pypownet.agent.Agent`` and uses ``RunEnv``'s ``action_space``,
``observation_space`` and ``simulate``. While such a file is loaded and its agent built,
:func:`pypownet_modules` puts this package's modules in ``sys.modules`` under pypownet's names
(``pypownet``, ``pypownet.agent``, ``pypownet.environment``, ``pypownet.game``), then restores
whatever was there. The real pypownet is never imported, even when installed: it needs gym 0.17
and numpy < 2 and drives its own grid, not ours.

* :mod:`.observation`: pypownet's observation array, ``Observation``, ``ObservationSpace``.
* :mod:`.actions`: ``Action`` and ``ActionSpace`` over our ActionHelper.
* :mod:`.environment`: ``RunEnv`` (what an agent is built with), pypownet's flag exceptions.
* :mod:`.agent`: ``Agent``, ``DoNothing``, ``ActIOnManager``.
* :mod:`.loader`: ``pypownet:path/to/file.py:Class`` specs, with clear errors.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator

from . import actions, agent, environment, observation

#: names the shim answers to in ``sys.modules``
MODULE_NAMES = ("pypownet", "pypownet.agent", "pypownet.environment", "pypownet.game")
SHIM_VERSION = "2.2.9+gym_powergrid.shim"

_MODULES: dict[str, types.ModuleType] = {}


def _build_modules() -> dict[str, types.ModuleType]:
    if _MODULES:
        return _MODULES
    pkg = types.ModuleType("pypownet", "gym_powergrid's stand-in for pypownet's agent API")
    pkg.__path__ = []  # a package: pypownet.<other> fails with ModuleNotFoundError
    pkg.__version__ = SHIM_VERSION
    env_mod = types.ModuleType("pypownet.environment")
    for name in environment.__all__:
        setattr(env_mod, name, getattr(environment, name))
    game_mod = types.ModuleType("pypownet.game")
    for name in ("Action", "IllegalActionException", "DivergingLoadflowException",
                 "TooManyProductionsCut", "TooManyConsumptionsCut", "NoMoreScenarios"):
        setattr(game_mod, name, getattr(environment, name))
    agent_mod = types.ModuleType("pypownet.agent")
    for name in ("Agent", "DoNothing", "ActIOnManager"):
        setattr(agent_mod, name, getattr(agent, name))
    agent_mod.pypownet = pkg
    for mod in (env_mod, game_mod, agent_mod):
        mod.np = environment.np  # pypownet's modules expose numpy as np; some agents rely on it
        mod.__package__ = "pypownet"
        setattr(pkg, mod.__name__.split(".")[1], mod)
    _MODULES.update({"pypownet": pkg, "pypownet.agent": agent_mod,
                     "pypownet.environment": env_mod, "pypownet.game": game_mod})
    return _MODULES


@contextlib.contextmanager
def pypownet_modules() -> Iterator[dict[str, types.ModuleType]]:
    """Make ``import pypownet.*`` give the shim inside the block; restore ``sys.modules`` after."""
    mods = _build_modules()
    saved = {name: sys.modules.get(name) for name in MODULE_NAMES}
    sys.modules.update(mods)
    try:
        yield mods
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


__all__ = ["pypownet_modules", "MODULE_NAMES", "actions", "agent", "environment",
           "observation"]
