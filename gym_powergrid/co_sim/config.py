"""Configuration of one load node process (:class:`NodeConfig`), as sent to local or remote hosts.

A node configuration is a plain JSON-able mapping; :meth:`NodeConfig.from_dict` refuses unknown
keys and bad values with an error that names the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gym_powergrid.co_sim.protocol import MAX_ID_CHARS, MAX_MESSAGE_BYTES
from gym_powergrid.co_sim.transport import CurveAuth
from gym_powergrid.errors import ConfigurationError

_CURVE_KEYS = {f.name for f in dataclasses.fields(CurveAuth)}


def _positive(name: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"node key '{name}' must be a number, got {value!r}") from None
    if not (math.isfinite(out) and out > 0):
        raise ConfigurationError(f"node key '{name}' must be a finite number > 0, got {value!r}")
    return out


def parse_curve_auth(data: Mapping[str, Any] | None, where: str) -> CurveAuth | None:
    """Build a :class:`CurveAuth` from a mapping, refusing unknown keys.

    Args:
        data: Mapping with ``secret_key_file`` and optional ``authorized_keys_dir``,
            ``server_public_key_file``; None means no CURVE.
        where: Name of the enclosing section, for error messages.
    """
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"'{where}.curve' must be a mapping, got {data!r}")
    unknown = set(data) - _CURVE_KEYS
    if unknown:
        raise ConfigurationError(
            f"unknown key(s) {sorted(unknown)} in '{where}.curve'; allowed: {sorted(_CURVE_KEYS)}"
        )
    if "secret_key_file" not in data:
        raise ConfigurationError(f"'{where}.curve' needs 'secret_key_file'")
    return CurveAuth(
        secret_key_file=str(data["secret_key_file"]),
        authorized_keys_dir=_opt_str(data.get("authorized_keys_dir")),
        server_public_key_file=_opt_str(data.get("server_public_key_file")),
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class NodeConfig:
    """Everything a :class:`~gym_powergrid.co_sim.NetworkLoad` process needs.

    Attributes:
        node_id: Unique id of the node (<= 128 characters).
        allocator: Allocator address ``host:port``.
        bind: Address of this node's ROUTER; port 0 picks a free port.
        advertise: Host to announce to the allocator when binding a wildcard host.
        allocator_id: Id of the allocator (packets from anyone else are dropped).
        mode: ``"lockstep"`` or ``"realtime"``.
        speed: Real-time speed factor (virtual seconds per wall second).
        curve_file: Curves file to replay, or None for a node that reports zero until told.
        meters: Meter name -> column prefix in the curves file (e.g. ``{"load": "Load_1"}``).
        production_meters: Meter names counted as production (subtracted from consumption).
        scale: Factor applied to every curve value (e.g. to reuse kW curves on a MW grid).
        cap_mw: Largest |P| and |Q| an allocation may set; None means no cap.
        start_row: Curve row replayed at virtual time 0.
        keepalive_s: Re-send ``join`` when the allocator has been silent this long (wall s).
        allocator_timeout_s: Stop the node when the allocator has been silent this long
            (wall s; before the first ``join_ack`` too): a node never outlives its allocator.
        session: Allocator session the node belongs to (deployments set it); the node never
            joins another. None: the first session that accepts it.
        join_retry_s: Interval of ``join`` retries until acknowledged (wall s).
        max_message_bytes: Size limit of incoming packets.
        curve: CURVE key files, or None.
        log_file: Log file of the node process (stderr if None).
        record_file: JSON file where the node writes the voltages it was told, at exit.
    """

    node_id: str
    allocator: str
    bind: str = "127.0.0.1:0"
    advertise: str | None = None
    allocator_id: str = "allocator"
    mode: str = "lockstep"
    speed: float = 1.0
    curve_file: str | None = None
    meters: dict[str, str] = field(default_factory=dict)
    production_meters: tuple[str, ...] = ("pv",)
    scale: float = 1.0
    cap_mw: float | None = None
    start_row: int = 0
    keepalive_s: float = 1.0
    allocator_timeout_s: float = 20.0
    session: str | None = None
    join_retry_s: float = 0.2
    max_message_bytes: int = MAX_MESSAGE_BYTES
    curve: CurveAuth | None = None
    log_file: str | None = None
    record_file: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.node_id, str) or not 0 < len(self.node_id) <= MAX_ID_CHARS:
            raise ConfigurationError(
                f"node key 'node_id' must be a non-empty string of at most {MAX_ID_CHARS} "
                f"characters, got {self.node_id!r}"
            )
        if self.mode not in ("lockstep", "realtime"):
            raise ConfigurationError(
                f"node key 'mode' must be 'lockstep' or 'realtime', got {self.mode!r}"
            )
        for name in ("speed", "keepalive_s", "join_retry_s", "allocator_timeout_s"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        if self.allocator_timeout_s <= self.keepalive_s:
            raise ConfigurationError(
                f"node key 'allocator_timeout_s' ({self.allocator_timeout_s}) must be larger "
                f"than 'keepalive_s' ({self.keepalive_s}): the keep-alive must get an answer "
                "before the node gives up")
        if self.session is not None and (not isinstance(self.session, str)
                                         or not 0 < len(self.session) <= MAX_ID_CHARS):
            raise ConfigurationError(f"node key 'session' must be a short string, got "
                                     f"{self.session!r}")
        if self.cap_mw is not None:
            object.__setattr__(self, "cap_mw", _positive("cap_mw", self.cap_mw))
        try:
            scale = float(self.scale)
        except (TypeError, ValueError):
            scale = math.nan
        if not math.isfinite(scale):
            raise ConfigurationError(
                f"node key 'scale' must be a finite number, got {self.scale!r}"
            )
        object.__setattr__(self, "scale", scale)
        if not isinstance(self.meters, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.meters.items()
        ):
            raise ConfigurationError(
                f"node key 'meters' must map meter names to curve column prefixes, "
                f"got {self.meters!r}"
            )
        if self.curve_file is not None and not self.meters:
            raise ConfigurationError(
                f"node {self.node_id!r} has a curve_file but no 'meters' (e.g. "
                "{'load': 'Load_1', 'pv': 'PV_1'})"
            )
        object.__setattr__(self, "production_meters", tuple(self.production_meters))
        if int(self.max_message_bytes) < 256:
            raise ConfigurationError("node key 'max_message_bytes' must be >= 256")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeConfig:
        """Build from a mapping (JSON/YAML), refusing unknown keys.

        Raises:
            ConfigurationError: Naming the offending key and what is allowed.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"a node configuration must be a mapping, got {data!r}")
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise ConfigurationError(
                f"unknown node key(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        for key in ("node_id", "allocator"):
            if key not in data:
                raise ConfigurationError(f"node configuration needs '{key}'")
        kwargs = dict(data)
        kwargs["curve"] = parse_curve_auth(data.get("curve"), f"node {data['node_id']}")
        if "meters" in kwargs:
            kwargs["meters"] = dict(kwargs["meters"])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able mapping accepted by :meth:`from_dict`."""
        out = dataclasses.asdict(self)
        out["production_meters"] = list(self.production_meters)
        return out

    def to_json(self) -> str:
        """Return :meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes: Any) -> NodeConfig:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def local_files(self) -> dict[str, Path]:
        """Files and folders a remote host needs: config field path -> local path."""
        files: dict[str, Path] = {}
        if self.curve_file:
            files["curve_file"] = Path(self.curve_file)
        if self.curve is not None:
            for name in ("secret_key_file", "authorized_keys_dir", "server_public_key_file"):
                value = getattr(self.curve, name)
                if value:
                    files[f"curve.{name}"] = Path(value)
        return files
