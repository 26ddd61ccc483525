"""Lazy loaders of the optional co-simulation dependencies (the ``cosim`` extra).

Every module of :mod:`gym_powergrid.co_sim` imports ``zmq``, ``simpy``, ``msgpack`` and
``paramiko`` through these helpers, so that a missing package raises
:class:`gym_powergrid.errors.MissingExtraError` with the exact ``pip install`` line instead of a
bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

from types import ModuleType

from gym_powergrid.errors import require

_EXTRA = "cosim"


def zmq() -> ModuleType:
    """Return the ``zmq`` module (pyzmq) or raise MissingExtraError."""
    return require("zmq", _EXTRA, "The co-simulation transport (ZeroMQ)")


def zmq_auth() -> ModuleType:
    """Return the ``zmq.auth`` module (CURVE key files) or raise MissingExtraError."""
    return require("zmq.auth", _EXTRA, "CURVE authentication of the co-simulation (ZeroMQ)")


def simpy() -> ModuleType:
    """Return the ``simpy`` module or raise MissingExtraError."""
    return require("simpy", _EXTRA, "The co-simulation agents (simpy)")


def msgpack() -> ModuleType:
    """Return the ``msgpack`` module or raise MissingExtraError."""
    return require("msgpack", _EXTRA, "The co-simulation protocol (msgpack)")


def paramiko() -> ModuleType:
    """Return the ``paramiko`` module or raise MissingExtraError."""
    return require("paramiko", _EXTRA, "Remote co-simulation nodes over SSH (paramiko)")
