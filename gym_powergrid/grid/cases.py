"""Named cases, pandapower nets and MATPOWER files -> pandapower net / :class:`GridArrays`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import UnsupportedGridError
from .arrays import GridArrays
from .convert import from_pandapower

logger = logging.getLogger(__name__)

#: Named cases available from ``pandapower.networks``.
NAMED_CASES = ("case14", "case30", "case57", "case118", "case300")


def pandapower_case(name: str):
    """Return a fresh pandapower net for a named case (``"case14"``, ``"case118"``...)."""
    import pandapower.networks as pn

    if name not in NAMED_CASES:
        import difflib

        hint = difflib.get_close_matches(name, NAMED_CASES, n=1)
        extra = f" Did you mean {hint[0]!r}?" if hint else ""
        raise UnsupportedGridError(
            f"unknown named case {name!r}; available: {', '.join(NAMED_CASES)}.{extra}"
        )
    return getattr(pn, name)()


def load_net(source, base_kv: float | None = None):
    """Return a pandapower net from a named case, a MATPOWER file path or a pandapower net.

    ``base_kv`` is the voltage of MATPOWER buses whose ``baseKV`` is 0 (see
    :func:`~gym_powergrid.grid.matpower.read_matpower`); other sources ignore it.
    """
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text in NAMED_CASES:
            return pandapower_case(text)
        path = Path(text)
        if path.suffix in (".m", ".mat"):
            from .matpower import read_matpower

            return read_matpower(path, base_kv=base_kv)
        if path.suffix == ".json":
            import pandapower as pp

            return pp.from_json(str(path))
        return pandapower_case(text)  # raises with the list of names
    if hasattr(source, "bus") and hasattr(source, "line"):
        return source
    raise UnsupportedGridError(
        f"cannot build a grid from {type(source).__name__}: pass a named case "
        f"({', '.join(NAMED_CASES)}), a MATPOWER .m/.mat path or a pandapower net"
    )


def load_grid(source, name: str | None = None, base_kv: float | None = None) -> GridArrays:
    """Build :class:`GridArrays` from a named case, a MATPOWER file or a pandapower net.

    ``base_kv``: voltage of MATPOWER buses whose ``baseKV`` is 0 (default 1 kV, logged).
    """
    net = load_net(source, base_kv=base_kv)
    if name is None and isinstance(source, (str, os.PathLike)):
        name = Path(str(source)).stem
    return from_pandapower(net, name=name)
