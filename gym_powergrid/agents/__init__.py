"""Agents (controllers) for :class:`~gym_powergrid.envs.PowerGridEnv`: pypownet's baselines,
search agents with a batched DC look-ahead, a line-reconnection heuristic, action replay.

Agents are registered by short name; :func:`make_agent` also accepts pypownet's class names,
an import path ``"package.module:Class"``, a file ``"path/to/agents.py:Class"``, a pypownet
agent file ``"pypownet:path/to/file.py:Class"`` (:mod:`.pypownet_agent`), an
:class:`Agent` subclass or an instance.

Registered agents:

* ``do-nothing`` (:class:`DoNothing`): never acts.
* ``random-switch`` (:class:`RandomSwitch`): one random switch.
* ``random-action`` (:class:`RandomAction`): random switch vector.
* ``random-line-switch`` (:class:`RandomLineSwitch`): one random line status switch.
* ``random-node-splitting`` (:class:`RandomNodeSplitting`): a random configuration of one
  substation.
* ``tree-search`` (:class:`TreeSearchLineServiceStatus`): the best of do-nothing and every line
  status switch, by a DC look-ahead.
* ``greedy`` (:class:`GreedySearch`): also every configuration of substations with >= 4
  elements; searches only in danger (``search_above=1.0``: a line at its thermal limit;
  otherwise it plays ``reconnect``'s move) and in AC games checks its 3 best DC choices in AC
  (``greedy[ac_check=0,search_above=0]``: pypownet's plain greedy, searching every step).
* ``reconnect`` (:class:`LineReconnection`): reconnects lines as soon as the rules allow.
* ``replay`` (:class:`ActionsFileReader`): replays a CSV of actions (``path=``).

Example::

    import gymnasium as gym
    import gym_powergrid  # noqa: F401
    from gym_powergrid.agents import make_agent

    env = gym.make("PowerGrid-case14-v0")
    agent = make_agent("greedy", env, seed=0)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(agent.act(obs))
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from typing import Any

from .base import Agent, action_indices
from .baselines import DoNothing, RandomAction, RandomLineSwitch, RandomNodeSplitting, RandomSwitch
from .lookahead import BatchLookahead, ScoreWeights, SimulateLookahead
from .replay import ActionsFileReader, ActionsRecorder, RecordingAgent, load_actions
from .search import (
    CandidateSet,
    GreedySearch,
    LineReconnection,
    SearchAgent,
    TreeSearchLineServiceStatus,
)

#: Registered agents by short name.
AGENTS: dict[str, type[Agent]] = {
    cls.name: cls for cls in (DoNothing, RandomSwitch, RandomAction, RandomLineSwitch,
                              RandomNodeSplitting, TreeSearchLineServiceStatus, GreedySearch,
                              LineReconnection, ActionsFileReader)
}

#: pypownet's class names (``python -m pypownet.main -a NAME``) and other spellings.
ALIASES: dict[str, str] = {
    "DoNothing": "do-nothing", "Agent": "do-nothing", "RandomPointAction": "random-switch",
    "RandomSwitch": "random-switch", "RandomAction": "random-action",
    "RandomLineSwitch": "random-line-switch", "RandomNodeSplitting": "random-node-splitting",
    "TreeSearchLineServiceStatus": "tree-search", "SearchLineServiceStatus": "tree-search",
    "GreedySearch": "greedy", "ActionsFileReaderControler": "replay",
    "ActionsFileReader": "replay", "LineReconnection": "reconnect",
}

#: Agents compared by default in benchmarks (no file needed, deterministic or seeded).
BASELINES = ("do-nothing", "random-switch", "random-line-switch", "random-node-splitting",
             "tree-search", "greedy", "reconnect")


def _import_class(spec: str) -> type:
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"agent import path must look like 'package.module:Class' or "
                         f"'path/to/file.py:Class', got {spec!r}")
    if module_name.endswith(".py") or os.sep in module_name or "/" in module_name:
        if not os.path.isfile(module_name):
            raise ValueError(f"agent file {module_name!r} does not exist")
        mod_spec = importlib.util.spec_from_file_location(
            f"_gym_powergrid_agent_{abs(hash(module_name))}", module_name)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)  # the user's own code
    else:
        from ..env_specs import import_user_module_path

        import_user_module_path()
        module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{module_name!r} has no attribute {attr!r}") from None


def resolve_agent(spec: str | type) -> type:
    """The agent class for a registered name, pypownet class name or import path.

    Raises:
        ValueError: for an unknown name (close names suggested) or a bad import path.
    """
    if inspect.isclass(spec):
        return spec
    text = str(spec)
    if text.startswith("pypownet:"):  # a pypownet 2.2.9 agent file, played by the adapter
        from .pypownet_agent import pypownet_agent_class

        return pypownet_agent_class(text)
    if text in AGENTS:
        return AGENTS[text]
    if text in ALIASES:
        return AGENTS[ALIASES[text]]
    low = text.lower().replace("_", "-")
    if low in AGENTS:
        return AGENTS[low]
    if ":" in text:
        return _import_class(text)
    import difflib

    names = sorted(AGENTS) + sorted(ALIASES)
    hint = difflib.get_close_matches(text, names, n=1)
    extra = f" Did you mean {hint[0]!r}?" if hint else ""
    raise ValueError(f"unknown agent {text!r}.{extra} Registered agents: "
                     f"{', '.join(sorted(AGENTS))}; or give an import path 'module:Class'.")


def make_agent(spec: Any, env: Any, seed: int | None = None, **kwargs: Any) -> Agent:
    """Build an agent from a name, import path, class or instance (instances are returned).

    Args:
        spec: see :func:`resolve_agent`; an object with an ``act`` method is returned as is.
        env: the environment the agent controls.
        seed: the agent's seed.
        **kwargs: passed to the agent's constructor (e.g. ``path=`` for ``replay``).
    """
    if not isinstance(spec, (str, type)) and hasattr(spec, "act"):
        return spec
    cls = resolve_agent(spec)
    params = inspect.signature(cls).parameters
    if "seed" in params or any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return cls(env, seed=seed, **kwargs)
    return cls(env, **kwargs)


def agent_name(agent: Any) -> str:
    """Short name of an agent instance or class (its registry name when it has one)."""
    cls = agent if inspect.isclass(agent) else type(agent)
    name = getattr(cls, "name", None)
    if name and AGENTS.get(name) is cls:
        return name
    return f"{cls.__module__}:{cls.__qualname__}"


__all__ = [
    "Agent", "action_indices", "DoNothing", "RandomSwitch", "RandomAction", "RandomLineSwitch",
    "RandomNodeSplitting", "SearchAgent", "TreeSearchLineServiceStatus", "GreedySearch",
    "LineReconnection", "CandidateSet", "ScoreWeights", "BatchLookahead", "SimulateLookahead",
    "ActionsFileReader", "ActionsRecorder", "RecordingAgent", "load_actions", "AGENTS",
    "ALIASES", "BASELINES", "resolve_agent", "make_agent", "agent_name",
]
