"""Settings of the scenario generator (:class:`GeneratorConfig`), validated at construction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigurationError
from ..grid.arrays import GridArrays

#: Above this many substations the automatic settings are those of large grids (dispatch).
BIG_GRID_SUBSTATIONS = 200

#: The automatic numbers of stressed branches, maintenance and hazards grow as
#: sqrt(branches / 20) up to this many branches, then stay (case300, 411 branches, is the
#: largest grid they grow for): with 1991 branches case1354pegase got 40 stressed branches and
#: 20 outages a month, and do-nothing, which never reconnects a line, lost nearly every month
#: to islands left by the breaks piling up.
MAX_SCALED_LINES = 450

#: Settings added after the shipped folders were generated, with the value that changes
#: nothing: ``GENERATED.md`` lists them only when they differ, so regenerating a shipped
#: folder rewrites the same report.
NO_OP_SETTINGS = {"dispatch": "pro-rata", "repair_diverged": True, "secure_outages": False,
                  "reactive": "power-factor", "stress_bridges": True,
                  "secure_max_vm_drop_pu": None, "dc_limits": False}

#: Share of the loads (and of the productions) that may be isolated before the game of a new
#: parameter folder is over (at least 1); the generator keeps outages that isolate more out
#: of the scenarios of large grids.
TOLERATED_CUT_FRACTION = 0.1


def tolerated_cut(grid: GridArrays) -> tuple[int, int]:
    """``(loads, productions)`` a new parameter folder tolerates isolated (game over beyond)."""
    return (max(1, round(TOLERATED_CUT_FRACTION * grid.n_load)),
            max(1, round(TOLERATED_CUT_FRACTION * grid.n_prod)))


def _range(lo: float, hi: float) -> tuple[float, float]:
    return field(default=(lo, hi))


@dataclass(frozen=True)
class GeneratorConfig:
    """Parameters of :func:`generate_scenarios` (all have sensible defaults).

    Attributes:
        year: calendar year of the first chronic.
        first_month: month (1-12) of the first chronic.
        n_chronics: number of chronics (one per consecutive month).
        days_per_chronic: if set, every chronic lasts that many days from the first of its
            month instead of the whole month (short chronics for tests).
        step_minutes: timestep duration in minutes (must divide 60).
        peak_load_factor: each load's deterministic annual peak, relative to its case value.
        n_regions: number of load/weather regions (None: about sqrt(n_sub / 2), 2 to 8).
        system_sigma, system_phi: std and hourly autocorrelation of the system-wide load noise.
        regional_sigma, regional_phi: same for the regional noise.
        load_sigma, load_phi: same for the per-load noise.
        load_white_sigma: per-load white noise std.
        power_factor_range: range of the loads' power factors (``reactive="power-factor"``).
        reactive: how the loads' reactive powers are drawn: ``"power-factor"`` (a power
            factor per load drawn in ``power_factor_range``) or ``"reference"`` (each load
            keeps the case's own Q/P ratio, capacitive loads included, so the case's reactive
            balance and voltage profile are kept). None: ``"reference"`` above 200
            substations (case300's drawn power factors add 22% of reactive load at the peak
            and bring its voltages down to 0.78 p.u., next to collapse).
        wind_share, solar_share: fraction of the non-slack productions turned into wind farms
            and solar plants (at least one of each when there are 3 non-slack units or more).
        loss_fraction: losses assumed when dispatching (the slack covers the real losses).
        thermal_noise_sigma: std of the relative AR(1) deviation of thermal units from their
            pro-rata dispatch.
        voltage_sigma_pu: std of the production voltage noise around the set-points (p.u.).
        voltage_hold_steps: mean number of steps a voltage set-point is held.
        load_forecast_sigma: relative std of the load forecast error.
        wind_forecast_sigma: std of the wind forecast error, in fraction of capacity.
        solar_forecast_sigma: relative std of the solar forecast error.
        maintenance_per_month: mean planned outages per 30 days (None: 1.5 x sqrt(n / 20), n the
            number of branches up to :data:`MAX_SCALED_LINES`).
        maintenance_start_hours: inclusive range of the outage start hour (working days).
        maintenance_duration_hours: inclusive range of outage durations, hours.
        hazards_per_month: mean random outages per 30 days (None: 0.5 x sqrt(n / 20)).
        hazard_duration_hours: inclusive range of hazard durations, hours.
        limit_quantile: quantile of each branch's base-topology current used for its limit.
        n_stressed: number of branches given a tight limit (None: 4 x sqrt(n / 20)).
        stress_bridges: whether branches whose outage splits the grid may get a tight limit
            (no action relieves them, and their break isolates what they feed). None: False
            above 200 substations.
        stressed_ratio: range of the peak loading (quantile / limit) of stressed branches.
        relaxed_ratio: range of the peak loading of the other branches.
        dc_limits: calibrate the thermal limits on the larger of each step's AC and DC
            currents, so that the DC game (``loadflow_mode: DC``) is not overloaded from the
            start (on case1354pegase the lossless DC flows put branches at 1.45 x limits that
            the AC flows load at 0.96). None: True above 200 substations.
        max_overload_hours: at most this many hours per year above its limit, in the base
            topology, for each stressed branch.
        n1_ratio: range of the worst single-outage peak loading of the relaxed branches.
            None: (0.8, 1.05), or (0.8, 0.95) above 200 substations, so that one outage
            does not overload a relaxed branch at the sampled steps: with up to 1.05, a
            stressed branch's break made its neighbours overflow and break in turn (with the
            other large-grid settings, 5 of case300's 7 do-nothing game overs, all in one
            corridor).
        stressed_n1_ratio: same for the stressed branches (keep it below the hard-overflow
            coefficient, 1.5 by default, so that one outage alone does not break them at once).
        n1_samples: number of steps used for the N-1 sizing, half at the highest total loads
            and half spread over the year (0 disables it). None: 96, or on grids above 200
            substations 24000 / branches (8 to 96), so the N-1 pass stays about 24k flows.
        limit_floor_fraction: no limit (in MVA) below this fraction of the median limit.
        dispatch: how thermal units share the residual demand: ``"pro-rata"`` (weights drawn
            from capacity and reference set-point, renewables at their capacity) or
            ``"reference"`` (weights from the case's own set-points, renewables on units
            that produce in the case, at most twice their set-point), which keeps the case's
            power transfers and voltages, and so an AC solution on large grids. None:
            ``"reference"`` above 200 substations.
        repair_diverged: steps whose base-topology AC power flow diverges are redispatched
            towards the case's set-points scaled to the step's load (in quarters, until one
            converges); nothing changes when every step converges.
        secure_outages: no maintenance nor hazard on a branch whose single outage had no AC
            solution at a step of the N-1 pass (large grids have a few; the game would end at
            once). With it, every branch is tested (bridges included, for the hazards), and
            an outage isolating more loads or productions than a new folder tolerates
            (:func:`tolerated_cut`) or lowering the lowest bus voltage by more than
            ``secure_max_vm_drop_pu`` counts as having no solution. None: True above 200
            substations.
        secure_max_vm_drop_pu: with ``secure_outages``, a single outage that lowers the
            lowest bus voltage by more than this (p.u., against the base topology at the same
            sampled step) gets no maintenance nor hazard: it is next to voltage collapse and
            diverges at steps the sample missed (on case300, 0.05 flags 12% of the branches
            and catches most outages that diverge only at unsampled steps). None: 0.05 above
            200 substations, else no voltage criterion.
        mw_decimals: decimals of the realised active powers (MW).
        coarse_decimals: decimals of the reactive powers and of every forecast (MW, MVAr):
            coarser, since they matter less and make most of the bytes.
        pu_decimals: decimals of the voltage set-points (p.u.).
    """

    year: int = 2019
    first_month: int = 1
    n_chronics: int = 12
    days_per_chronic: int | None = None
    step_minutes: int = 60
    peak_load_factor: float = 1.0
    n_regions: int | None = None
    system_sigma: float = 0.03
    system_phi: float = 0.995
    regional_sigma: float = 0.025
    regional_phi: float = 0.98
    load_sigma: float = 0.015
    load_phi: float = 0.85
    load_white_sigma: float = 0.004
    power_factor_range: tuple[float, float] = _range(0.9, 0.98)
    reactive: str | None = None
    wind_share: float = 0.3
    solar_share: float = 0.2
    loss_fraction: float = 0.02
    thermal_noise_sigma: float = 0.03
    voltage_sigma_pu: float = 0.003
    voltage_hold_steps: float = 12.0
    load_forecast_sigma: float = 0.02
    wind_forecast_sigma: float = 0.07
    solar_forecast_sigma: float = 0.10
    maintenance_per_month: float | None = None
    maintenance_start_hours: tuple[int, int] = _range(8, 10)
    maintenance_duration_hours: tuple[int, int] = _range(2, 8)
    hazards_per_month: float | None = None
    hazard_duration_hours: tuple[int, int] = _range(1, 12)
    limit_quantile: float = 0.995
    n_stressed: int | None = None
    stress_bridges: bool | None = None
    stressed_ratio: tuple[float, float] = _range(0.92, 1.06)
    relaxed_ratio: tuple[float, float] = _range(0.55, 0.85)
    max_overload_hours: float = 12.0
    dc_limits: bool | None = None
    n1_ratio: tuple[float, float] | None = None
    stressed_n1_ratio: tuple[float, float] = _range(1.05, 1.3)
    n1_samples: int | None = None
    limit_floor_fraction: float = 0.25
    dispatch: str | None = None
    repair_diverged: bool = True
    secure_outages: bool | None = None
    secure_max_vm_drop_pu: float | None = None
    mw_decimals: int = 2
    coarse_decimals: int = 1
    pu_decimals: int = 3

    def __post_init__(self) -> None:
        def bad(key: str, allowed: str) -> ConfigurationError:
            return ConfigurationError(f"generator setting {key}={getattr(self, key)!r} is out of "
                                      f"range; allowed: {allowed}")

        if not 1 <= self.first_month <= 12:
            raise bad("first_month", "1 to 12")
        if self.n_chronics < 1:
            raise bad("n_chronics", "an integer >= 1")
        if self.days_per_chronic is not None and not 1 <= self.days_per_chronic <= 28:
            raise bad("days_per_chronic", "None or 1 to 28")
        if self.step_minutes < 1 or 60 % self.step_minutes:
            raise bad("step_minutes", "a divisor of 60 (1, 2, 3, 5, 10, 15, 20, 30, 60)")
        if self.peak_load_factor <= 0:
            raise bad("peak_load_factor", "> 0")
        if self.max_overload_hours < 0:
            raise bad("max_overload_hours", ">= 0")
        for key in ("system_phi", "regional_phi", "load_phi", "limit_quantile"):
            if not 0.0 <= getattr(self, key) < 1.0 + (key == "limit_quantile"):
                raise bad(key, "0 <= value < 1 (<= 1 for limit_quantile)")
        if self.n1_samples is not None and self.n1_samples < 0:
            raise bad("n1_samples", "None (automatic) or >= 0")
        if self.n_stressed is not None and self.n_stressed < 0:
            raise bad("n_stressed", "None (automatic) or >= 0")
        for key in ("wind_share", "solar_share"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise bad(key, "0 to 1")
        if self.wind_share + self.solar_share > 1.0:
            raise bad("solar_share", "wind_share + solar_share <= 1")
        lo, hi = self.power_factor_range
        if not 0.0 < lo <= hi <= 1.0:
            raise bad("power_factor_range", "0 < low <= high <= 1")
        for key in ("stressed_ratio", "relaxed_ratio", "n1_ratio", "stressed_n1_ratio"):
            if getattr(self, key) is None and key == "n1_ratio":
                continue
            lo, hi = getattr(self, key)
            if not 0.0 < lo <= hi:
                raise bad(key, "0 < low <= high")
        for key in ("maintenance_duration_hours", "hazard_duration_hours",
                    "maintenance_start_hours"):
            lo, hi = getattr(self, key)
            if not 0 <= lo <= hi or (key != "maintenance_start_hours" and lo < 1):
                raise bad(key, "integers 1 <= low <= high (start hours 0..23)")
        for key in ("maintenance_per_month", "hazards_per_month"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise bad(key, "None (automatic) or >= 0")
        if self.dispatch not in (None, "pro-rata", "reference"):
            raise bad("dispatch", "None (automatic), 'pro-rata' or 'reference'")
        if self.secure_max_vm_drop_pu is not None and not 0.0 < self.secure_max_vm_drop_pu < 1.0:
            raise bad("secure_max_vm_drop_pu", "None or a voltage drop in p.u. between 0 and 1")
        if self.reactive not in (None, "power-factor", "reference"):
            raise bad("reactive", "None (automatic), 'power-factor' or 'reference'")
        for key, lo in (("mw_decimals", 0), ("coarse_decimals", 0), ("pu_decimals", 2)):
            if not lo <= getattr(self, key) <= 6:
                raise bad(key, f"an integer from {lo} to 6")

    def replace(self, **changes) -> GeneratorConfig:
        """Return a copy with some settings changed (validated)."""
        return dataclasses.replace(self, **changes)

    def resolved(self, grid: GridArrays) -> GeneratorConfig:
        """Copy with the automatic (None) settings filled in for ``grid``."""
        scale = float(np.sqrt(min(max(grid.n_line, 1), MAX_SCALED_LINES) / 20.0))
        changes: dict = {}
        if self.maintenance_per_month is None:
            changes["maintenance_per_month"] = round(1.5 * scale, 2)
        if self.hazards_per_month is None:
            changes["hazards_per_month"] = round(0.5 * scale, 2)
        if self.n_stressed is None:
            changes["n_stressed"] = int(round(4.0 * scale))
        if self.n_regions is None:
            changes["n_regions"] = int(np.clip(round(np.sqrt(grid.n_sub / 2.0)), 2, 8))
        if self.n1_samples is None:  # 96; fewer on large grids (~24k contingency flows)
            changes["n1_samples"] = (96 if grid.n_sub <= BIG_GRID_SUBSTATIONS
                                     else int(np.clip(24000 // max(grid.n_line, 1), 8, 96)))
        big = grid.n_sub > BIG_GRID_SUBSTATIONS
        if self.secure_outages is None:
            changes["secure_outages"] = big
        if self.secure_max_vm_drop_pu is None and big:
            changes["secure_max_vm_drop_pu"] = 0.05
        if self.stress_bridges is None:
            changes["stress_bridges"] = not big
        if self.dc_limits is None:
            changes["dc_limits"] = big
        if self.dispatch is None:
            changes["dispatch"] = "reference" if big else "pro-rata"
        if self.reactive is None:
            changes["reactive"] = "reference" if big else "power-factor"
        if self.n1_ratio is None:
            changes["n1_ratio"] = (0.8, 0.95) if big else (0.8, 1.05)
        return dataclasses.replace(self, **changes)
