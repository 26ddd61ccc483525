"""Where an environment's grid, configuration and chronics come from.

``parameters`` may be a shipped environment name (``"case14"``), a pypownet-style parameter
folder, or a pandapower net (then ``chronics`` must be given).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import GameConfig
from ..errors import ConfigurationError
from ..grid.arrays import GridArrays
from ..grid.convert import from_pandapower

logger = logging.getLogger(__name__)

#: Folder holding the parameter folders shipped with the package.
SHIPPED_PARAMS_DIR = Path(__file__).resolve().parent / "params"


def shipped_environments() -> list[str]:
    """Names of the parameter folders shipped inside the package."""
    if not SHIPPED_PARAMS_DIR.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_PARAMS_DIR.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")))


@dataclass
class EnvSource:
    """Resolved inputs of an environment."""

    name: str
    grid: GridArrays
    net_factory: Callable[[], object]  # the pandapower net, built on demand (pandapower oracle)
    config: GameConfig
    chronics: object  # ChronicSet
    reward_file: Path | None
    folder: Path | None

    @property
    def net(self):  # noqa: ANN201 - pandapowerNet
        return self.net_factory()


class _NetRef:
    """Picklable zero-argument callable giving the pandapower net: the one given, or the
    ``net`` of a folder object, read (pandapower imported) only when called."""

    def __init__(self, net=None, holder=None) -> None:
        self.net, self.holder = net, holder

    def __call__(self):  # noqa: ANN204 - pandapowerNet
        return self.net if self.holder is None else self.holder.net


def _chronic_set(chronics, grid: GridArrays, looping_mode: str):
    from ..chronics.chronic import Chronic
    from ..chronics.looping import ChronicSet

    if isinstance(chronics, ChronicSet):
        return chronics
    if isinstance(chronics, Chronic):
        chronics = [chronics]
    if isinstance(chronics, (list, tuple)):
        return ChronicSet.from_chronics(list(chronics), looping_mode=looping_mode)
    if isinstance(chronics, (str, os.PathLike)):
        names = {k: [str(x) for x in getattr(grid, f"{k}_name")] for k in ("prod", "load", "line")}
        return ChronicSet(chronics, grid.n_prod, grid.n_load, grid.n_line,
                          looping_mode=looping_mode, names=names)
    raise ConfigurationError(
        f"chronics must be a chronics folder path, a Chronic, a list of Chronic or a ChronicSet; "
        f"got {type(chronics).__name__}")


def resolve_source(parameters, level: str | None, chronics, overrides: dict) -> EnvSource:
    """Turn the env's constructor arguments into an :class:`EnvSource`."""
    if hasattr(parameters, "bus") and hasattr(parameters, "line"):  # a pandapower net
        if chronics is None:
            raise ConfigurationError(
                "a PowerGridEnv built from a pandapower net needs chronics=...: a chronics "
                "folder, a list of Chronic (see gym_powergrid.chronics.generator) or a ChronicSet")
        grid = from_pandapower(parameters)
        config = GameConfig().replace(**overrides)
        cs = _chronic_set(chronics, grid, config.chronic_looping_mode)
        return EnvSource(grid.name, grid, _NetRef(net=parameters), config, cs, None, None)

    from ..params import ParameterFolder

    text = str(parameters)
    folder = Path(text)
    if not folder.is_dir():
        if text in shipped_environments():
            folder = SHIPPED_PARAMS_DIR / text
        else:
            import difflib

            names = shipped_environments()
            hint = difflib.get_close_matches(text, names, n=1)
            shipped = ", ".join(names) or "none"
            did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
            raise ConfigurationError(
                f"parameters={text!r} is neither a shipped environment ({shipped}) nor an "
                f"existing parameter folder.{did_you_mean}")
    from ..grid2op_source import is_grid2op_folder

    if is_grid2op_folder(folder):
        return _grid2op_source(folder, level, chronics, overrides)
    pf = ParameterFolder(folder, level=level)
    config = pf.config.replace(**overrides) if overrides else pf.config
    grid = pf.grid
    if chronics is not None:
        cs = _chronic_set(chronics, grid, config.chronic_looping_mode)
    else:
        cs = pf.chronics
        cs.looping_mode = config.chronic_looping_mode  # keyword overrides win over the folder
    return EnvSource(folder.name, grid, _NetRef(holder=pf), config, cs, pf.reward_signal_path,
                     folder)


def _grid2op_source(folder: Path, level: str | None, chronics, overrides: dict) -> EnvSource:
    from ..grid2op_source import Grid2OpFolder

    if level is not None:
        raise ConfigurationError(f"{folder} is a Grid2Op environment folder: it has no levels, "
                                 f"drop level={level!r}")
    g2o = Grid2OpFolder(folder)
    config = g2o.config.replace(**overrides) if overrides else g2o.config
    if chronics is not None:
        cs = _chronic_set(chronics, g2o.grid, config.chronic_looping_mode)
    else:
        cs = g2o.chronics
        cs.looping_mode = config.chronic_looping_mode
    return EnvSource(folder.name, g2o.grid, _NetRef(holder=g2o), config, cs, None, folder)
