"""Environment specs and the plain-text table: what the runner, the agents' comparison, the CLI
and the integrations share, below all of them (it imports none of them).

:func:`build_env` makes an env from a registered id, a shipped name, a parameter folder, an
import path or a factory; :func:`check_env_spec` rejects an unknown name early with close
matches; :func:`format_table` aligns rows as text. ``gym_powergrid.runner`` re-exports them.
"""

from __future__ import annotations

import os
from typing import Any


def import_user_module_path() -> None:
    """Make modules of the current directory importable (as ``python -m`` does) for
    ``module:attr`` specs given on the command line."""
    import sys

    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)


def build_env(spec: Any, **overrides: Any):
    """Make an environment from a registered id, a shipped name, a folder or a factory.

    Args:
        spec: a Gymnasium id (``"PowerGrid-case14-v0"``), a shipped environment name
            (``"case14"``), a pypownet-style parameter folder, an import path
            ``"package.module:function"`` returning an env, a callable, or an env (returned).
        **overrides: keyword arguments for the env (``render_mode``, ``level``, any
            ``configuration.yaml`` key such as ``game_over_mode`` or ``chronic_looping_mode``).
    """
    import gymnasium as gym

    if hasattr(spec, "step") and hasattr(spec, "reset"):
        return spec
    if callable(spec):
        return spec(**overrides)
    text = str(spec)
    import gym_powergrid  # noqa: F401 - registers the ids

    if text in gym.registry:
        return gym.make(text, **overrides)
    if ":" in text and not os.path.exists(text) and not text.startswith("gym_powergrid:"):
        import importlib

        module_name, _, attr = text.rpartition(":")
        import_user_module_path()
        factory = getattr(importlib.import_module(module_name), attr)
        return factory(**overrides)
    check_env_spec(text)
    if text.startswith("gym_powergrid:"):
        return gym.make(text, **overrides)
    from .envs.powergrid_env import PowerGridEnv

    return PowerGridEnv(text, **overrides)


def check_env_spec(spec: Any) -> None:
    """Raise a ``ValueError`` with close names when ``spec`` names no env :func:`build_env` knows.

    Cheap (nothing is loaded), so commands call it before starting any worker. Callables, envs,
    import paths ``module:function`` and existing folders pass unchecked.
    """
    if not isinstance(spec, (str, os.PathLike)):
        return
    text = str(spec)
    if os.path.exists(text) or (":" in text and not text.startswith("gym_powergrid:")):
        return
    import gymnasium as gym

    import gym_powergrid  # noqa: F401 - registers the ids

    from .envs.sources import shipped_environments

    bare = text.removeprefix("gym_powergrid:")
    if bare in gym.registry or bare in shipped_environments():
        return
    import difflib

    ids = sorted(k for k in gym.registry if k.startswith("PowerGrid-"))
    names = ids + shipped_environments()
    hint = difflib.get_close_matches(bare, names, n=1, cutoff=0.6)
    extra = f" Did you mean {hint[0]!r}?" if hint else ""
    raise ValueError(
        f"unknown environment {text!r}.{extra} Give a registered id ({', '.join(ids)}), a "
        f"shipped name ({', '.join(shipped_environments())}), a parameter folder or an import "
        "path 'module:function'; 'gym-powergrid info' lists them.")


def format_table(headers: list[str], rows: list[list[Any]],
                 separator_before_last: bool = False) -> str:
    """Align ``rows`` under ``headers`` (numbers right-aligned) as plain text."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def numeric(text: str) -> bool:
        return text.replace(".", "", 1).replace("-", "", 1).replace(",", "").isdigit()

    def fmt(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if numeric(c) else c.ljust(w)
                         for c, w in zip(row, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [fmt(headers), rule]
    for i, r in enumerate(cells):
        if separator_before_last and i == len(cells) - 1:
            out.append(rule)
        out.append(fmt(r))
    return "\n".join(out)
