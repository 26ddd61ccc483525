"""A lazy set of chronics and pypownet's ways of looping over them at each reset.

:class:`ChronicSet` lists the chronic sub-folders of a ``chronics/`` folder (sorted by name, as
pypownet does), reads a chronic the first time it is used and keeps it in a cache. It can also
wrap chronics built in memory (:meth:`ChronicSet.from_chronics`).

Looping modes (``chronic_looping_mode`` in the configuration):

- ``natural``: the next chronic at each reset (0, 1, 2, ... then back to 0);
- ``random``: a chronic drawn with the numpy ``Generator`` passed in (the env's ``np_random``),
  so a seeded reset gives the same chronic;
- ``fixed``: always the same chronic (the first, or the last one asked for).

Any reset can ask for a chronic by name or index (``reset(options={"chronic": ...})``); it
becomes the current position, so ``natural`` continues from it and ``fixed`` stays on it.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import ChronicError
from .chronic import Chronic
from .pypownet_format import read_chronic

logger = logging.getLogger(__name__)

LOOPING_MODES = ("natural", "random", "fixed")


class ChronicSet:
    """Chronics of one level, read lazily, with pypownet's looping modes.

    Args:
        folder: a ``chronics/`` folder whose sub-folders are chronics (hidden folders and
            ``__pycache__`` are ignored).
        n_prod, n_load, n_line: grid sizes every chronic must match.
        looping_mode: ``"natural"``, ``"random"`` or ``"fixed"``.
        transform: applied to each chronic right after it is read (e.g. reorder columns into
            the grid's order); must return a :class:`Chronic`.
        max_cached: keep at most this many chronics in memory (least recently used dropped);
            None keeps them all.
        **read_kwargs: passed to :func:`~gym_powergrid.chronics.read_chronic` (``dtype``,
            ``allow_prod_off``, ``prod_v_base_kv``...).

    Raises:
        ChronicError: if the folder does not exist or holds no chronic sub-folder, or if
            ``looping_mode`` is unknown.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        n_prod: int,
        n_load: int,
        n_line: int,
        *,
        looping_mode: str = "natural",
        transform: Callable[[Chronic], Chronic] | None = None,
        max_cached: int | None = None,
        **read_kwargs,
    ) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise ChronicError(f"chronics folder {folder} does not exist or is not a folder")
        paths = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                        and p.name != "__pycache__"), key=lambda p: p.name)
        if not paths:
            raise ChronicError(f"chronics folder {folder} holds no chronic sub-folder; expected "
                               "e.g. chronics/a/ with the 13 pypownet CSV files")
        self._init(folder, [p.name for p in paths], looping_mode, max_cached)
        self._paths = paths
        self._sizes = (int(n_prod), int(n_load), int(n_line))
        self._transform = transform
        self._read_kwargs = read_kwargs
        logger.info("found %d chronics in %s; looping mode %s", len(paths), folder, looping_mode)

    def _init(self, folder: Path | None, names: list[str], looping_mode: str,
              max_cached: int | None) -> None:
        if looping_mode not in LOOPING_MODES:
            raise ChronicError(f"unknown chronic looping mode {looping_mode!r}; allowed: "
                               f"{', '.join(LOOPING_MODES)}")
        self.folder = folder
        self.looping_mode = looping_mode
        self._names = tuple(names)
        self._cache: OrderedDict[int, Chronic] = OrderedDict()
        self._max_cached = max_cached
        self._current: int | None = None
        self._paths: list[Path] = []

    @classmethod
    def from_chronics(cls, chronics: Sequence[Chronic], *,
                      looping_mode: str = "natural") -> ChronicSet:
        """Wrap chronics already in memory (e.g. generated) in a set with the same looping."""
        if not chronics:
            raise ChronicError("a chronic set needs at least one chronic")
        names = [c.name for c in chronics]
        if len(set(names)) != len(names):
            raise ChronicError(f"chronic names must be unique, got {names}")
        self = cls.__new__(cls)
        self._init(None, names, looping_mode, None)
        self._sizes = (chronics[0].n_prod, chronics[0].n_load, chronics[0].n_line)
        for c in chronics:
            c.validate(*self._sizes)
        self._transform = None
        self._read_kwargs = {}
        self._cache.update(enumerate(chronics))
        return self

    # ------------------------------------------------------------------ access
    @property
    def names(self) -> tuple[str, ...]:
        """Chronic names, sorted as they are looped over."""
        return self._names

    @property
    def current_index(self) -> int | None:
        """Index of the chronic chosen by the last :meth:`select` (None before the first)."""
        return self._current

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def index(self, key: int | str) -> int:
        """Index of a chronic given by index (negative allowed) or by name.

        Raises:
            ChronicError: for an unknown name (close names suggested) or an index out of range.
        """
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise ChronicError(f"chronic index {i} out of range: there are {len(self)} "
                                   f"chronics ({', '.join(self._names[:10])}"
                                   f"{'...' if len(self) > 10 else ''})")
            return i % len(self)
        if isinstance(key, str):
            if key in self._names:
                return self._names.index(key)
            import difflib

            hint = difflib.get_close_matches(key, self._names, n=1)
            extra = f" Did you mean {hint[0]!r}?" if hint else ""
            raise ChronicError(f"unknown chronic {key!r}.{extra} Available: "
                               f"{', '.join(self._names[:20])}{'...' if len(self) > 20 else ''}")
        raise ChronicError(f"a chronic is chosen by name (str) or index (int), got {key!r}")

    def is_loaded(self, key: int | str) -> bool:
        """Whether a chronic is already in memory."""
        return self.index(key) in self._cache

    def __getitem__(self, key: int | str) -> Chronic:
        """The chronic with this index or name, read on first use then cached."""
        i = self.index(key)
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        chronic = self._read(self._paths[i])
        if self._transform is not None:
            chronic = self._transform(chronic)
        self._cache[i] = chronic
        if self._max_cached is not None:
            while len(self._cache) > max(1, self._max_cached):
                self._cache.popitem(last=False)
        return chronic

    def _read(self, path: Path) -> Chronic:
        """Read one chronic folder (subclasses reading other layouts override this)."""
        return read_chronic(path, *self._sizes, **self._read_kwargs)

    def clear_cache(self) -> None:
        """Forget the chronics read so far (chronics built in memory are kept)."""
        if self.folder is not None:
            self._cache.clear()

    # ------------------------------------------------------------------ looping
    def next_index(self, rng: np.random.Generator | None = None,
                   chronic: int | str | None = None) -> int:
        """Choose the index of the chronic of the next episode and make it current.

        Args:
            rng: the generator used in ``random`` mode (pass the env's ``np_random`` so seeded
                resets are reproducible). Without one, a fresh unseeded generator is used.
            chronic: a name or index overriding the looping mode for this reset.
        """
        if chronic is not None:
            i = self.index(chronic)
        elif self.looping_mode == "natural":
            i = 0 if self._current is None else (self._current + 1) % len(self)
        elif self.looping_mode == "fixed":
            i = 0 if self._current is None else self._current
        else:
            if rng is None:
                logger.debug("random chronic looping without a generator: results are not "
                             "reproducible; pass the env's np_random")
                rng = np.random.default_rng()
            i = int(rng.integers(len(self)))
        self._current = i
        return i

    def restart(self) -> None:
        """Forget the current chronic: ``natural`` and ``fixed`` looping start over at the first."""
        self._current = None

    def select(self, rng: np.random.Generator | None = None, chronic: int | str | None = None,
               start_step: int = 0) -> tuple[Chronic, int]:
        """Choose, read and return the chronic of the next episode and its first step.

        Args:
            rng: see :meth:`next_index`.
            chronic: name or index of a chronic (``reset(options={"chronic": ...})``).
            start_step: first timestep of the episode (``reset(options={"start_step": ...})``).

        Returns:
            ``(chronic, start_step)``.

        Raises:
            ChronicError: for an unknown chronic or a start step outside the chronic.
        """
        c = self[self.next_index(rng, chronic)]
        return c, check_start_step(c, start_step)

    def __repr__(self) -> str:
        return (f"ChronicSet({len(self)} chronics, looping_mode={self.looping_mode!r}, "
                f"folder={str(self.folder) if self.folder else None!r})")


def check_start_step(chronic: Chronic, start_step: int) -> int:
    """Return ``start_step`` as an int if the chronic has that step, else raise ChronicError."""
    if isinstance(start_step, bool) or not isinstance(start_step, (int, np.integer)):
        raise ChronicError(f"start_step must be an integer, got {start_step!r}")
    if not 0 <= int(start_step) < chronic.n_steps:
        raise ChronicError(f"start_step {start_step} is outside chronic {chronic.name!r}, which "
                           f"has steps 0 to {chronic.n_steps - 1}")
    return int(start_step)
