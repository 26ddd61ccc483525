"""Game configuration: pypownet's ``configuration.yaml`` as a frozen, validated dataclass.

Every key of pypownet's "Configuration file" section is a field of :class:`GameConfig`, with
pypownet's defaults, plus three keys of our own (``game_over_mode``, ``chronic_looping_mode``,
``reward``). Values are checked when the object is built, whatever the route
(:meth:`GameConfig.from_yaml`, :meth:`GameConfig.from_dict`, :meth:`GameConfig.replace` or the
constructor): an unknown key or a bad value raises :class:`~gym_powergrid.errors.ConfigurationError`
naming the key, the value and what is allowed.

Example:
    >>> cfg = GameConfig.from_dict({"loadflow_mode": "dc"})
    >>> cfg.loadflow_mode
    'DC'
    >>> cfg.replace(max_number_loads_game_over=0).max_number_loads_game_over
    0
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

logger = logging.getLogger(__name__)

#: Power-flow backends we run; pypownet's names are read as ``"pandapower"``.
LOADFLOW_BACKENDS = ("numba", "pandapower", "pypower")
#: pypownet's other backend name, read as ``"pandapower"``
PYPOWNET_BACKENDS = ("matpower",)
LOADFLOW_MODES = ("AC", "DC")
GAME_OVER_MODES = ("soft", "hard", "easy")
CHRONIC_LOOPING_MODES = ("natural", "random", "fixed")

#: Keys pypownet documents as "not supported yet": accepted, stored, unused by the game.
UNSUPPORTED_KEYS = (
    "max_seconds_per_timestep",
    "n_timesteps_pending_line_reactionable_when_overflowed",
    "n_timesteps_pending_node_reactionable_when_overflowed",
)

#: Keys that exist in gym_powergrid only (pypownet ignores them).
OWN_KEYS = ("game_over_mode", "chronic_looping_mode", "reward", "outages_after_game_over")
OUTAGES_AFTER_GAME_OVER = ("forget", "keep")


def _key(default: Any, doc: str, kind: str, minimum: float | None = None,
         choices: tuple[str, ...] | None = None) -> Any:
    """Declare a configuration field with its documentation and validation rule."""
    return field(default=default, metadata={"doc": doc, "kind": kind, "min": minimum,
                                            "choices": choices})


@dataclass(frozen=True)
class GameConfig:
    """Every parameter of the game, as in pypownet's ``configuration.yaml``.

    Attributes:
        loadflow_backend: ``"numba"`` (fast core, Newton-Raphson; default), ``"pypower"``
            (pypownet's default, the value its folders carry: the numba core with PYPOWER's
            fast-decoupled XB method, 25 iterations, 1e-6 p.u., as pypownet solves, so that
            steps where that method fails end the game as in pypownet) or ``"pandapower"``
            (reference oracle, ``runpp``). pypownet's ``"matpower"`` is read as
            ``"pandapower"``.
        loadflow_mode: ``"AC"`` or ``"DC"`` (case-insensitive, stored upper-case).
        max_seconds_per_timestep: not supported yet (pypownet neither): agent time budget.
        hard_overflow_coefficient: ratio of the thermal limit above which a line breaks at once.
        n_timesteps_hard_overflow_is_broken: steps a hard-overflow-broken line stays broken.
        n_timesteps_consecutive_soft_overflow_breaks: consecutive overflowed steps before a
            (soft-)overflowed line breaks.
        n_timesteps_soft_overflow_is_broken: steps a soft-overflow-broken line stays broken.
        n_timesteps_horizon_maintenance: steps ahead over which planned maintenance is shown.
        max_number_prods_game_over: isolated productions tolerated (inclusive) before game over.
        max_number_loads_game_over: isolated loads tolerated (inclusive) before game over.
        n_timesteps_actionned_line_reactionable: cooldown (steps) of a switched line.
        n_timesteps_actionned_node_reactionable: cooldown (steps) of a substation whose
            topology was changed.
        n_timesteps_pending_line_reactionable_when_overflowed: not supported yet.
        n_timesteps_pending_node_reactionable_when_overflowed: not supported yet.
        max_number_actionned_substations: substations changed per step (inclusive) above which
            the action is replaced by do-nothing.
        max_number_actionned_lines: lines switched per step (inclusive) above which the action
            is replaced by do-nothing.
        max_number_actionned_total: substations + lines per step (inclusive) above which the
            action is replaced by do-nothing.
        game_over_mode: ``"soft"`` (game over ends the episode; default), ``"hard"`` or
            ``"easy"``; the environment documents their exact meaning.
        chronic_looping_mode: ``"natural"`` (next chronic at each reset), ``"random"`` or
            ``"fixed"``.
        reward: name of the reward function (resolved by the environment).
    """

    loadflow_backend: str = _key("numba", "power-flow backend: numba (fast core) or pandapower",
                                 "choice", choices=LOADFLOW_BACKENDS)
    loadflow_mode: str = _key("AC", "AC (full model) or DC (linear approximation)", "choice",
                              choices=LOADFLOW_MODES)
    max_seconds_per_timestep: float = _key(
        1.0, "not supported yet: time in seconds before the player is timed out", "float", 0.0)
    hard_overflow_coefficient: float = _key(
        1.5, "ratio of the thermal limit above which a line breaks at once (hard overflow)",
        "float", 1.0)
    n_timesteps_hard_overflow_is_broken: int = _key(
        10, "number of timesteps a hard-overflow broken line stays broken", "int", 0)
    n_timesteps_consecutive_soft_overflow_breaks: int = _key(
        3, "number of consecutive overflowed timesteps before a line breaks", "int", 1)
    n_timesteps_soft_overflow_is_broken: int = _key(
        5, "number of timesteps a soft-overflow broken line stays broken", "int", 0)
    n_timesteps_horizon_maintenance: int = _key(
        20, "number of future timesteps over which planned maintenance is shown", "int", 0)
    max_number_prods_game_over: int = _key(
        10, "number of tolerated isolated productions before game over", "int", 0)
    max_number_loads_game_over: int = _key(
        10, "number of tolerated isolated loads before game over", "int", 0)
    n_timesteps_actionned_line_reactionable: int = _key(
        3, "cooldown in timesteps before a switched line can be switched again", "int", 0)
    n_timesteps_actionned_node_reactionable: int = _key(
        3, "cooldown in timesteps before a changed substation can be changed again", "int", 0)
    n_timesteps_pending_line_reactionable_when_overflowed: int = _key(
        1, "not supported yet (pypownet neither)", "int", 0)
    n_timesteps_pending_node_reactionable_when_overflowed: int = _key(
        1, "not supported yet (pypownet neither)", "int", 0)
    max_number_actionned_substations: int = _key(
        7, "max changed substations per timestep; more is replaced by do-nothing", "int", 0)
    max_number_actionned_lines: int = _key(
        10, "max switched lines per timestep; more is replaced by do-nothing", "int", 0)
    max_number_actionned_total: int = _key(
        15, "max changed substations + lines per timestep; more is replaced by do-nothing",
        "int", 0)
    game_over_mode: str = _key("soft", "gym_powergrid: soft, hard or easy game over", "choice",
                               choices=GAME_OVER_MODES)
    chronic_looping_mode: str = _key(
        "natural", "gym_powergrid: natural, random or fixed choice of chronic at reset",
        "choice", choices=CHRONIC_LOOPING_MODES)
    reward: str = _key("pypownet", "gym_powergrid: name of the reward function", "name")
    outages_after_game_over: str = _key(
        "forget", "gym_powergrid: after a soft game over, 'forget' running maintenance and "
        "hazards (pypownet: its reset brings every line back) or 'keep' them", "choice",
        choices=OUTAGES_AFTER_GAME_OVER)

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _check_value(f, getattr(self, f.name))
            object.__setattr__(self, f.name, value)

    # ------------------------------------------------------------------ construction
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Names of every configuration key, in file order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> GameConfig:
        """Build a configuration from a mapping; missing keys take their defaults.

        Raises:
            ConfigurationError: on an unknown key (with close names suggested) or a bad value.
        """
        if values is None:
            values = {}
        if not isinstance(values, Mapping):
            raise ConfigurationError(
                f"a configuration must be a mapping of key: value, got {type(values).__name__}"
            )
        known = cls.keys()
        for key in values:
            if not isinstance(key, str) or key not in known:
                raise ConfigurationError(_unknown_key_message(key, known))
        for key in UNSUPPORTED_KEYS:
            if key in values:
                logger.debug("configuration key %r=%r is accepted but unused: pypownet documents "
                             "it as 'not supported yet'", key, values[key])
        return cls(**dict(values))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> GameConfig:
        """Read a pypownet ``configuration.yaml`` (or one written by :meth:`to_yaml`).

        Raises:
            FileNotFoundError: if the file does not exist.
            ConfigurationError: if the YAML is malformed, or on unknown keys or bad values;
                the message starts with the file path.
        """
        import yaml

        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[:exc.start].count(b"\n") + 1
            raise ConfigurationError(
                f"{path}: line {line} is not UTF-8 text (byte {exc.object[exc.start]:#04x}); "
                "save the file as UTF-8") from None
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{path}: not valid YAML: {exc}") from exc
        try:
            return cls.from_dict(values)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{path}: {exc}") from exc

    def replace(self, **overrides: Any) -> GameConfig:
        """Return a copy with some keys changed; overrides are validated like file values."""
        known = self.keys()
        for key in overrides:
            if key not in known:
                raise ConfigurationError(_unknown_key_message(key, known))
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """All keys and values, in file order."""
        return {name: getattr(self, name) for name in self.keys()}

    def to_yaml(self, path: str | os.PathLike, pypownet_compatible: bool = False) -> None:
        """Write the configuration as commented YAML.

        Args:
            path: destination file (parent folders are created).
            pypownet_compatible: write ``loadflow_backend: pypower`` when the backend is not one
                pypownet knows, and leave out gym_powergrid's own keys, so that pypownet itself
                can read the file. :meth:`from_yaml` reads both forms.
        """
        lines = ["# Game configuration: pypownet's configuration.yaml keys (gym_powergrid.config)"]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if pypownet_compatible and f.name in OWN_KEYS:
                continue
            if pypownet_compatible and f.name == "loadflow_backend":
                value = "pypower"
            lines.append(f"{f.name}: {_yaml_scalar(value)}  # {f.metadata['doc']}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------- helpers
def _unknown_key_message(key: Any, known: tuple[str, ...]) -> str:
    hint = difflib.get_close_matches(str(key), known, n=3, cutoff=0.6)
    extra = f" Did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ""
    return (f"unknown configuration key {key!r}.{extra} Allowed keys: {', '.join(known)}")


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _check_value(f: dataclasses.Field, value: Any) -> Any:
    """Validate and normalise one value according to the field's metadata."""
    kind, name = f.metadata["kind"], f.name
    minimum, choices = f.metadata["min"], f.metadata["choices"]
    if value is None:
        raise ConfigurationError(
            f"configuration key {name!r} has no value; give one (default: {f.default!r})"
        )
    if kind == "choice":
        if not isinstance(value, str):
            raise ConfigurationError(
                f"configuration key {name!r} has value {value!r} ({type(value).__name__}); "
                f"allowed: {', '.join(choices)}"
            )
        text = value.strip()
        if name == "loadflow_backend" and text.lower() in PYPOWNET_BACKENDS:
            logger.info("loadflow_backend %r (pypownet) is read as 'pandapower': the reference "
                        "backend of gym_powergrid; use 'numba' for the fast core or 'pypower' "
                        "for pypownet's solver", value)
            return "pandapower"
        norm = text.upper() if name == "loadflow_mode" else text.lower()
        if norm not in choices:
            hint = difflib.get_close_matches(norm, choices, n=1, cutoff=0.5)
            extra = f" Did you mean {hint[0]!r}?" if hint else ""
            allowed = list(choices)
            if name == "loadflow_backend":
                allowed += [f"{b} (read as pandapower)" for b in PYPOWNET_BACKENDS]
            raise ConfigurationError(
                f"configuration key {name!r} has value {value!r}; allowed: "
                f"{', '.join(allowed)}.{extra}"
            )
        return norm
    if kind == "name":
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(
                f"configuration key {name!r} has value {value!r}; allowed: a non-empty name "
                "such as 'pypownet'"
            )
        return value.strip()
    # numbers
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(
            f"configuration key {name!r} has value {value!r} ({type(value).__name__}); allowed: "
            f"{'an integer' if kind == 'int' else 'a number'} >= {minimum}"
        )
    if not math.isfinite(value):
        raise ConfigurationError(
            f"configuration key {name!r} has value {value!r}; allowed: a finite number >= "
            f"{minimum}"
        )
    if kind == "int":
        if float(value) != int(value):
            raise ConfigurationError(
                f"configuration key {name!r} has value {value!r}; allowed: an integer >= {minimum}"
            )
        value = int(value)
    else:
        value = float(value)
    if minimum is not None and value < minimum:
        raise ConfigurationError(
            f"configuration key {name!r} has value {value!r}, out of range; allowed: "
            f"{'an integer' if kind == 'int' else 'a number'} >= {minimum:g}"
        )
    return value
