"""Status codes returned by the numba kernels (kernels never raise)."""

from __future__ import annotations

from enum import IntEnum


class PFStatus(IntEnum):
    """Outcome of a power flow."""

    CONVERGED = 0
    MAX_ITER = 1  # no convergence within the iteration limit
    DIVERGED = 2  # mismatch grew without bound / NaN
    SINGULAR = 3  # Jacobian singular (voltage collapse or ill-posed island)
    NO_SLACK = 4  # the slack's busbar is not energised (slack isolated from everything)
    ISLAND = 5  # (game rule) lines in service outside the slack's island: pypownet's solver
    #            diverges on such a grid, so the game reports no solution


STATUS_MESSAGES = {
    PFStatus.CONVERGED: "converged",
    PFStatus.MAX_ITER: "no convergence within the iteration limit",
    PFStatus.DIVERGED: "the power flow diverged",
    PFStatus.SINGULAR: "singular Jacobian (voltage collapse or ill-posed island)",
    PFStatus.NO_SLACK: "the slack is isolated: no energised network",
    PFStatus.ISLAND: "an island of lines in service is cut off from the slack",
}
