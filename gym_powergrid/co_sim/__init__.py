"""Co-simulation: simpy load agents over ZeroMQ + msgpack feeding a power flow.

Load nodes (:class:`NetworkLoad`) run their own event loops in other processes or on other hosts,
replay consumption/production curves and report them to a :class:`NetworkAllocator`; a bridge
(:class:`EnvBridge` for a ``PowerGridEnv``, :class:`PandapowerBridge` for a pandapower net)
turns the reports into injections, runs the power flow and sends each node its bus voltage.
:class:`SmartGridSimulation` deploys the nodes locally or over SSH. See ``cosim_main`` in
:mod:`gym_powergrid.co_sim.cli` for the command line.

Needs the ``cosim`` extra (``pip install "gym-powergrid[cosim]"``); names are imported lazily,
so ``import gym_powergrid.co_sim`` works without it and the first use of a name raises
:class:`gym_powergrid.errors.MissingExtraError` with that command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from gym_powergrid.co_sim.agent import Agent
    from gym_powergrid.co_sim.allocator import NetworkAllocator, RoundResult
    from gym_powergrid.co_sim.bridge import EnvBridge, PandapowerBridge
    from gym_powergrid.co_sim.config import NodeConfig
    from gym_powergrid.co_sim.curves import Curves, read_curves
    from gym_powergrid.co_sim.deploy import (
        DeploymentError,
        LocalNode,
        RemoteNode,
        SmartGridSimulation,
    )
    from gym_powergrid.co_sim.keys import generate_curve_keys
    from gym_powergrid.co_sim.load import NetworkLoad
    from gym_powergrid.co_sim.protocol import PROTOCOL_VERSION, Allocation, ProtocolError, Report
    from gym_powergrid.co_sim.transport import CurveAuth

_EXPORTS = {
    "Agent": "agent",
    "NetworkAllocator": "allocator",
    "RoundResult": "allocator",
    "EnvBridge": "bridge",
    "PandapowerBridge": "bridge",
    "NodeConfig": "config",
    "Curves": "curves",
    "read_curves": "curves",
    "DeploymentError": "deploy",
    "LocalNode": "deploy",
    "RemoteNode": "deploy",
    "SmartGridSimulation": "deploy",
    "generate_curve_keys": "keys",
    "NetworkLoad": "load",
    "PROTOCOL_VERSION": "protocol",
    "Allocation": "protocol",
    "ProtocolError": "protocol",
    "Report": "protocol",
    "CurveAuth": "transport",
}

__all__ = [
    "PROTOCOL_VERSION",
    "Agent",
    "Allocation",
    "Curves",
    "CurveAuth",
    "DeploymentError",
    "EnvBridge",
    "LocalNode",
    "NetworkAllocator",
    "NetworkLoad",
    "NodeConfig",
    "PandapowerBridge",
    "ProtocolError",
    "RemoteNode",
    "Report",
    "RoundResult",
    "SmartGridSimulation",
    "generate_curve_keys",
    "read_curves",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gym_powergrid.co_sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gym_powergrid.co_sim.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
