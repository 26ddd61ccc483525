"""Load a pypownet agent class from ``pypownet:path/to/file.py:ClassName``, with clear errors.

The file is executed (trusted code, as any agent file) with the shim in ``sys.modules``
(:func:`~gym_powergrid.agents.pypownet_compat.pypownet_modules`). Before anything is built the
class's source is checked for pypownet APIs the adapter does not provide
(``self.environment.X``, ``....action_space.X``, ``....observation_space.X``): they are named
in the error. Loaded classes are cached by file (path, size, modification time) and name, so a
spec resolved twice (the CLI checks it before building the env) executes the file once.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import inspect
import os
import sys
from typing import Any

from . import MODULE_NAMES, pypownet_modules
from .actions import ActionSpace, public_names
from .agent import Agent
from .environment import SUPPORTED_RUNENV, RunEnv
from .errors import PypownetAgentError
from .observation import ObservationSpace

PREFIX = "pypownet:"
USAGE = "'pypownet:path/to/file.py:ClassName'"

_CACHE: dict[tuple, tuple[type, Any]] = {}


def parse_spec(spec: str) -> tuple[str, str]:
    """``(file path, class name)`` of a ``pypownet:FILE.py:Class`` spec."""
    text = str(spec)
    if not text.startswith(PREFIX):
        raise PypownetAgentError(f"a pypownet agent spec must look like {USAGE}, got {text!r}")
    path, sep, name = text[len(PREFIX):].rpartition(":")
    if not sep or not path or not name:
        raise PypownetAgentError(f"a pypownet agent spec must look like {USAGE} (file, then the "
                                 f"class after a colon), got {text!r}")
    if not name.isidentifier():
        raise PypownetAgentError(f"{name!r} in {text!r} is not a Python class name; expected "
                                 f"{USAGE}")
    return path, name


def _load_module(path: str):
    if not os.path.isfile(path):
        hint = " (it is a folder)" if os.path.isdir(path) else ""
        raise PypownetAgentError(f"pypownet agent file {path!r} does not exist{hint} (paths are "
                                 f"relative to {os.getcwd()}); expected {USAGE}")
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    mod_name = f"_gym_powergrid_pypownet_agent_{abs(hash(real))}"
    spec = importlib.util.spec_from_file_location(mod_name, real)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    with pypownet_modules():
        try:
            spec.loader.exec_module(module)  # the user's own (trusted) code
        except ModuleNotFoundError as exc:
            sys.modules.pop(mod_name, None)
            if exc.name and exc.name.startswith("pypownet."):
                raise PypownetAgentError(
                    f"{path} imports {exc.name}, which gym_powergrid's pypownet adapter does "
                    f"not provide (provided: {', '.join(MODULE_NAMES)})") from exc
            raise
    source = open(real, encoding="utf-8").read()
    _CACHE[key] = (module, source)
    return module, source


# ------------------------------------------------------------------ static API check
def _supported() -> dict[str, set[str]]:
    return {"environment": public_names(RunEnv) | set(SUPPORTED_RUNENV),
            "action_space": public_names(ActionSpace) | {
                "prods_switches_subaction_length", "loads_switches_subaction_length",
                "lines_or_switches_subaction_length", "lines_ex_switches_subaction_length",
                "lines_status_subaction_length", "action_length", "n", "shape", "dtype",
                "substations_ids", "prods_subs_ids", "loads_subs_ids", "lines_or_subs_id",
                "lines_ex_subs_id", "action_helper", "n_substations"},
            "observation_space": public_names(ObservationSpace) | {
                "number_productions", "number_loads", "number_power_lines",
                "number_substations", "n_timesteps_horizon_maintenance",
                "grid_number_of_elements", "shape", "length", "grid", "action_helper"}}


def unsupported_uses(source: str, class_names: set[str]) -> list[str]:
    """``owner.name`` of every unsupported pypownet API used in the named classes' code."""
    tree = ast.parse(source)
    supported = _supported()
    found: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name in class_names):
            continue
        for sub in ast.walk(node):
            if not (isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Attribute)):
                continue
            owner = sub.value.attr
            if owner == "environment" and not (isinstance(sub.value.value, ast.Name)
                                               and sub.value.value.id == "self"):
                continue  # only self.environment.X
            if owner in supported and sub.attr not in supported[owner]:
                label = {"environment": "RunEnv"}.get(owner, owner)
                use = f"{label}.{sub.attr} (line {sub.lineno})"
                if use not in found:
                    found.append(use)
    return found


def _is_pypownet_agent(cls: type, module) -> bool:
    if issubclass(cls, Agent):
        return True
    # pypownet's own agent.py defines its Agent base in the file itself
    own = getattr(module, "Agent", None)
    return (inspect.isclass(own) and own.__module__ == module.__name__ and issubclass(cls, own)
            and cls is not own)


def load_pypownet_class(spec: str) -> type:
    """The pypownet agent class named by ``spec`` (see the module docstring for the checks)."""
    path, name = parse_spec(spec)
    module, source = _load_module(path)
    cls = getattr(module, name, None)
    if cls is None:
        classes = sorted(n for n, v in vars(module).items()
                         if inspect.isclass(v) and v.__module__ == module.__name__)
        hint = difflib.get_close_matches(name, classes, n=1)
        extra = f" Did you mean {hint[0]!r}?" if hint else ""
        raise PypownetAgentError(f"{path} has no class {name!r}.{extra} Classes defined there: "
                                 f"{', '.join(classes) or 'none'}")
    if not inspect.isclass(cls):
        raise PypownetAgentError(f"{path}:{name} is a {type(cls).__name__}, not a class; "
                                 "expected a subclass of pypownet.agent.Agent")
    own = getattr(module, "Agent", None)
    if cls is Agent or (cls is own and inspect.isclass(own)
                        and own.__module__ == module.__name__):
        agents = sorted(n for n, v in vars(module).items() if inspect.isclass(v)
                        and v is not cls and issubclass(v, cls))
        raise PypownetAgentError(f"{path}:{name} is pypownet's abstract Agent base; name one of "
                                 f"its subclasses: {', '.join(agents) or 'none in this file'}")
    if not _is_pypownet_agent(cls, module):
        raise PypownetAgentError(
            f"{path}:{name} is not a pypownet agent: expected a subclass of "
            "pypownet.agent.Agent (or of the Agent class the file defines, as pypownet's own "
            "agent.py does); for a gym_powergrid agent use --agent path/to/file.py:Class")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise PypownetAgentError(f"{path}:{name} does not implement {missing}")
    in_file = {c.__name__ for c in cls.__mro__ if getattr(c, "__module__", None)
               == module.__name__}
    uses = unsupported_uses(source, in_file)
    if uses:
        raise PypownetAgentError(
            f"{path}:{name} uses pypownet API that gym_powergrid's adapter does not support: "
            f"{', '.join(uses)}. Supported: RunEnv.{{{', '.join(SUPPORTED_RUNENV)}}}, the "
            "ActionSpace and ObservationSpace methods listed in docs/pypownet_agents.md")
    return cls
