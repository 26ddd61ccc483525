"""One exception hierarchy for gym_powergrid.

Every message says what was wrong and how to fix it. All errors derive from
:class:`PowerGridError`; input errors also derive from :class:`ValueError` so that
``except ValueError`` keeps working for users who do not know our hierarchy.
"""

from __future__ import annotations


class PowerGridError(Exception):
    """Base class of every error raised by gym_powergrid."""


class UnsupportedGridError(PowerGridError, ValueError):
    """The pandapower net holds elements the fast core cannot model."""


class TopologyError(PowerGridError, ValueError):
    """A topology (busbar assignment or line status vector) is malformed."""


class InjectionError(PowerGridError, ValueError):
    """Injections (P, Q, V set-points) are malformed: wrong shape, NaN or infinite values."""


class ChronicError(PowerGridError, ValueError):
    """A chronic file or folder is malformed or missing."""


class ConfigurationError(PowerGridError, ValueError):
    """A configuration key is unknown or has a value out of its allowed range."""


class ActionError(PowerGridError, ValueError):
    """An action has the wrong shape, dtype or values."""


class MissingExtraError(PowerGridError, ImportError):
    """An optional dependency is missing; the message gives the pip command to install it."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package '{package}'. Install it with: "
            f'pip install "gym-powergrid[{extra}]"'
        )
        self.package = package
        self.extra = extra


def require(module: str, extra: str, purpose: str):  # noqa: ANN201 - returns a module
    """Import an optional module or raise :class:`MissingExtraError` with the install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised by tests with monkeypatch
        raise MissingExtraError(module.split(".")[0], extra, purpose) from exc
