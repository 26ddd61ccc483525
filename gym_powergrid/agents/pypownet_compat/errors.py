"""Errors of the pypownet adapter."""

from __future__ import annotations

from ...errors import PowerGridError


class PypownetAgentError(PowerGridError, ValueError):
    """A ``pypownet:FILE.py:Class`` agent spec that cannot be played (the message says why)."""


class UnsupportedPypownetAPI(PowerGridError, NotImplementedError, AttributeError):
    """A pypownet API the adapter does not provide (the message names it and what is)."""


def unsupported(owner: str, name: str, supported) -> UnsupportedPypownetAPI:
    """The error for ``owner.name``, listing the ``supported`` names."""
    return UnsupportedPypownetAPI(
        f"pypownet's {owner}.{name} is not supported by gym_powergrid's pypownet adapter; "
        f"supported: {', '.join(sorted(supported))} (see docs/pypownet_agents.md)")
