"""Scenario generator: realistic, deterministic chronics for any grid.

From a :class:`~gym_powergrid.grid.arrays.GridArrays` and a seed,
:func:`generate_scenarios` builds one :class:`~gym_powergrid.chronics.chronic.Chronic` per
calendar month (hourly steps by default) with:

* **loads**: a per-load mix of residential, commercial and industrial daily/weekly/seasonal
  shapes (:mod:`~gym_powergrid.chronics.generator_shapes`), scaled so that each load's
  deterministic annual peak is ``peak_load_factor`` x its value in the case, times
  multiplicative noise made of a system-wide "weather" AR(1), a regional AR(1) (regions are
  clusters of substations by graph distance) and a per-load AR(1) plus white noise;
* **reactive loads** at a fixed power factor per load drawn in [0.9, 0.98], with small noise
  (or, with ``reactive="reference"``, the default of large grids, at the case's own Q/P);
* **productions**: some non-slack units become wind farms (autocorrelated wind, windier in
  winter) or solar plants (clear-sky daylight shape times regional cloudiness); the other units
  and the slack share the residual demand (load + estimated losses - renewables) pro-rata to
  weights drawn from their capacity and reference set-points, each unit following the load
  more or less (base-load or peaking units). The slack's value in the chronic is what an AC power
  flow in the base topology gives it (it covers the residual and the losses), so every row
  balances;
* **production voltages**: the grid's set-points plus tiny, piecewise-constant noise;
* **forecasts** (``*_planned``): realised values plus autocorrelated forecast errors;
* **maintenance**: a few per month on working-day mornings, hours long, never on a branch
  whose outage splits the grid; **hazards**: rare random outages of any branch;
* **thermal limits**: from a base-topology AC power flow over every step of every chronic,
  each branch's high quantile of current is divided by a target peak loading drawn per branch,
  a few "stressed" branches between 92% and 106% (overloaded a few hours a year at most), the
  others between 55% and 85%; then every branch is sized against single outages (N-1 power
  flows at sampled peak and ordinary steps) so that one outage overloads lines for a while
  (the agent's cue to act) but rarely breaks them at once. The same limits are used by every
  chronic of a scenario set; see :func:`~gym_powergrid.chronics.generator_pf.thermal_limits`.

Everything is drawn from :class:`numpy.random.Generator` streams keyed by
``(seed, component, chronic)``: the same seed gives byte-identical chronics, and changing, say,
the maintenance rate leaves the loads unchanged.

Example:
    >>> from gym_powergrid.grid import load_grid
    >>> cfg = GeneratorConfig(n_chronics=1, days_per_chronic=2)
    >>> out = generate_scenarios(load_grid("case14"), seed=3, config=cfg)
    >>> out.chronics[0].n_steps
    48
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigurationError
from ..grid.arrays import PROD_PQ, PROD_SLACK, GridArrays
from .chronic import Chronic
from .generator_config import GeneratorConfig, tolerated_cut
from .generator_events import (
    bridge_lines,
    hazard_schedule,
    island_partners,
    maintenance_schedule,
    substation_regions,
)
from .generator_pf import (
    base_topology_dc_currents,
    base_topology_flows,
    contingency_flows,
    n1_sample_rows,
    thermal_limits,
)
from .generator_shapes import (
    LOAD_TYPES,
    ar1,
    archetype_shapes,
    calendar,
    held_noise,
    solar_clear_sky,
    wind_capacity_factor,
)

logger = logging.getLogger(__name__)

__all__ = [
    "PROD_ROLES", "ROLE_SLACK", "ROLE_THERMAL", "ROLE_WIND", "ROLE_SOLAR", "GeneratorConfig",
    "ChronicStats", "GeneratedScenarios", "generate_scenarios", "generate_chronics",
]

#: Production roles in the generated scenarios (``GeneratedScenarios.prod_role``).
PROD_ROLES = ("slack", "thermal", "wind", "solar")
ROLE_SLACK, ROLE_THERMAL, ROLE_WIND, ROLE_SOLAR = 0, 1, 2, 3
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# random stream components: (seed, component, chronic index)
_S_GRID, _S_LOADS, _S_PRODS, _S_FORECAST, _S_MAINT, _S_HAZARD, _S_LIMITS = range(7)


@dataclass(frozen=True)
class ChronicStats:
    """What one generated chronic looks like in the base topology (all lines in service).

    Attributes:
        name: chronic name.
        n_steps: number of timesteps.
        load_mw_min, load_mw_max: total load range.
        slack_mw_min, slack_mw_max: slack production range (from the power flow).
        losses_pct_mean: mean losses, % of the load.
        max_rho: highest current / thermal limit over all branches and steps.
        n_steps_overloaded: steps with at least one branch above 100% of its limit.
        n_maintenance, n_hazards: number of planned and random outages.
        n_diverged: steps where the base-topology AC power flow did not converge.
    """

    name: str
    n_steps: int
    load_mw_min: float
    load_mw_max: float
    slack_mw_min: float
    slack_mw_max: float
    losses_pct_mean: float
    max_rho: float
    n_steps_overloaded: int
    n_maintenance: int
    n_hazards: int
    n_diverged: int


@dataclass(frozen=True, eq=False)
class GeneratedScenarios:
    """Output of :func:`generate_scenarios`.

    Attributes:
        grid: the grid the chronics were generated for.
        seed: the seed used.
        config: the configuration used, automatic settings resolved.
        chronics: one chronic per month, columns in grid order, all with the same limits.
        prod_role: (n_prod,) int8 role of each production (see :data:`PROD_ROLES`).
        prod_capacity_mw: (n_prod,) capacity assumed for each production (installed power of
            wind and solar plants).
        sub_region: (n_sub,) region index of each substation.
        load_mix: (n_load, 3) share of each archetype (:data:`LOAD_TYPES`) in each load.
        line_stressed_mask: (n_line,) branches given a tight limit.
        line_fragile_mask: (n_line,) branches kept out of maintenance and hazards by
            ``secure_outages`` (all False without it).
        stats: one :class:`ChronicStats` per chronic.
    """

    grid: GridArrays
    seed: int
    config: GeneratorConfig
    chronics: list[Chronic]
    prod_role: np.ndarray
    prod_capacity_mw: np.ndarray
    sub_region: np.ndarray
    load_mix: np.ndarray
    line_stressed_mask: np.ndarray
    line_fragile_mask: np.ndarray
    stats: list[ChronicStats]

    @property
    def prod_role_names(self) -> list[str]:
        """Role name of each production."""
        return [PROD_ROLES[r] for r in self.prod_role.tolist()]


# ---------------------------------------------------------------------- set-up
def _rng(seed: int, component: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(component, index)))


def chronic_calendar(cfg: GeneratorConfig, index: int) -> tuple[str, np.ndarray]:
    """Name and ``datetime64[m]`` stamps of chronic ``index`` (month ``first_month + index``)."""
    month0 = cfg.first_month - 1 + index
    year = cfg.year + month0 // 12
    month = month0 % 12
    start = np.datetime64(f"{year:04d}-{month + 1:02d}-01T00:00", "m")
    if cfg.days_per_chronic is not None:
        stop = start + np.timedelta64(cfg.days_per_chronic, "D")
    else:
        nxt = np.datetime64(f"{year:04d}-{month + 1:02d}", "M") + np.timedelta64(1, "M")
        stop = nxt.astype("datetime64[m]")
    stamps = np.arange(start, stop, np.timedelta64(cfg.step_minutes, "m"))
    return f"{index + 1:02d}_{_MONTHS[month]}", stamps


def _prod_capacity(grid: GridArrays, ref_p: np.ndarray) -> np.ndarray:
    cap = np.asarray(grid.prod_p_max_mw, dtype=np.float64).copy()
    bad = ~np.isfinite(cap) | (cap <= 0)
    cap[bad] = np.maximum(1.5 * np.abs(ref_p[bad]), 0.02 * grid.load_p_mw.sum())
    return np.maximum(cap, ref_p)


def _assign_roles(grid: GridArrays, cfg: GeneratorConfig, ref_p: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Slack stays slack; the least-used non-slack units become wind and solar plants."""
    role = np.full(grid.n_prod, ROLE_THERMAL, dtype=np.int8)
    role[grid.prod_kind == PROD_SLACK] = ROLE_SLACK
    others = np.flatnonzero(grid.prod_kind != PROD_SLACK)
    if cfg.dispatch == "reference":  # producing units only: keep the case's injection sites
        others = others[ref_p[others] > 0]
    n = others.size
    n_wind = int(round(cfg.wind_share * n))
    n_solar = int(round(cfg.solar_share * n))
    if n >= 3:
        n_wind = max(n_wind, 1 if cfg.wind_share > 0 else 0)
        n_solar = max(n_solar, 1 if cfg.solar_share > 0 else 0)
    n_solar = min(n_solar, n - n_wind)
    # random order, then stable sort by reference output: idle units (synchronous condensers
    # in the IEEE cases) are the first to become renewables
    shuffled = rng.permutation(others)
    order = shuffled[np.argsort(ref_p[shuffled], kind="stable")]
    chosen = order[: n_wind + n_solar]
    flags = rng.permutation(np.r_[np.full(n_wind, ROLE_WIND), np.full(n_solar, ROLE_SOLAR)])
    role[chosen] = flags.astype(np.int8)
    return role


@dataclass(frozen=True, eq=False)
class _Setup:
    """Per-grid random draws shared by all chronics of a scenario set."""

    ref_p: np.ndarray
    capacity: np.ndarray
    role: np.ndarray
    sub_region: np.ndarray
    load_region: np.ndarray
    prod_region: np.ndarray
    load_mix: np.ndarray
    load_norm: np.ndarray
    power_factor: np.ndarray
    dispatch_weight: np.ndarray
    load_follow: np.ndarray
    maintainable: np.ndarray
    hazard_lines: np.ndarray
    loss_fraction: float
    bridges: np.ndarray


def _setup(grid: GridArrays, cfg: GeneratorConfig, seed: int, ref_p: np.ndarray) -> _Setup:
    rng = _rng(seed, _S_GRID)
    role = _assign_roles(grid, cfg, ref_p, rng)
    sub_region = substation_regions(grid, int(cfg.n_regions or 2), rng)
    n_reg = int(sub_region.max()) + 1
    region_mix = rng.dirichlet(np.ones(len(LOAD_TYPES)), size=n_reg)
    load_region = sub_region[grid.load_sub_idx]
    load_mix = np.stack([rng.dirichlet(4.0 * region_mix[r] + 0.4) for r in load_region.tolist()])
    # normalise each load's deterministic shape by its maximum over a whole reference year
    year_start = np.datetime64(f"{cfg.year:04d}-01-01T00:00", "m")
    year = np.arange(year_start, year_start + np.timedelta64(365, "D"), np.timedelta64(60, "m"))
    load_norm = (load_mix @ archetype_shapes(calendar(year))).max(axis=1)
    lo, hi = cfg.power_factor_range
    power_factor = rng.uniform(lo, hi, size=grid.n_load)
    capacity = _prod_capacity(grid, ref_p)
    jitter = rng.uniform(0.8, 1.25, grid.n_prod)
    loss_fraction = cfg.loss_fraction
    if cfg.dispatch == "reference":
        # the losses of the case's own power flow (large grids lose more than 2%), so that
        # the thermal units, not the slack alone, cover them
        load = float(np.sum(grid.load_p_mw))
        if load > 0:
            loss_fraction = max(cfg.loss_fraction, float(np.sum(ref_p)) / load - 1.0)
        # the case's own dispatch pattern (its power transfers have an AC solution), and
        # renewables on producing units, at most twice the set-point of the unit they
        # replace (on average about 0.7 x it): sized like an average unit, or put on
        # case300's idle units (synchronous condensers), they moved GWs across the grid and
        # left 10% of the steps with a bus below 0.78 p.u. (0.59 at worst)
        weight = np.maximum(ref_p, 0.0) * jitter
        renewable = (role == ROLE_WIND) | (role == ROLE_SOLAR)
        capacity = np.where(renewable, np.minimum(capacity, 2.0 * ref_p), capacity)
    else:
        weight = (np.maximum(ref_p, 0.0) + 0.3 * capacity) * jitter
    load_follow = rng.uniform(-0.5, 1.5, grid.n_prod)
    load_follow[role == ROLE_SLACK] = 1.0
    bridges = bridge_lines(grid)
    return _Setup(ref_p=ref_p, capacity=capacity, role=role, sub_region=sub_region,
                  load_region=load_region, prod_region=sub_region[grid.prod_sub_idx],
                  load_mix=load_mix, load_norm=load_norm, power_factor=power_factor,
                  dispatch_weight=weight, load_follow=load_follow,
                  maintainable=np.flatnonzero(~bridges), hazard_lines=np.arange(grid.n_line),
                  loss_fraction=loss_fraction, bridges=bridges)


# ---------------------------------------------------------------------- one chronic
def _loads(grid: GridArrays, cfg: GeneratorConfig, st: _Setup, cal: dict, seed: int,
           index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Realised load P, Q and the relative forecast error of P (T, n_load)."""
    rng = _rng(seed, _S_LOADS, index)
    n_steps = cal["hour"].shape[0]
    n_reg = int(st.sub_region.max()) + 1
    k = 60.0 / cfg.step_minutes  # AR(1) parameters are hourly
    shape = (st.load_mix @ archetype_shapes(cal)).T / st.load_norm
    noise = (ar1(rng, n_steps, 1, cfg.system_phi ** (1 / k), cfg.system_sigma)
             + ar1(rng, n_steps, n_reg, cfg.regional_phi ** (1 / k),
                   cfg.regional_sigma)[:, st.load_region]
             + ar1(rng, n_steps, grid.n_load, cfg.load_phi ** (1 / k), cfg.load_sigma)
             + cfg.load_white_sigma * rng.standard_normal((n_steps, grid.n_load)))
    base = np.maximum(grid.load_p_mw, 0.0) * cfg.peak_load_factor
    p = base * shape * np.exp(noise)
    q_noise = np.exp(ar1(rng, n_steps, grid.n_load, 0.9 ** (1 / k), 0.02))
    if cfg.reactive == "reference":  # the case's own Q, following the load's P
        q = (np.asarray(grid.load_q_mvar, dtype=np.float64) * cfg.peak_load_factor
             * shape * np.exp(noise) * q_noise)
    else:
        q = p * np.tan(np.arccos(st.power_factor)) * q_noise
    err = ar1(_rng(seed, _S_FORECAST, index), n_steps, grid.n_load, 0.8, cfg.load_forecast_sigma)
    return p, q, err


def _renewables(cfg: GeneratorConfig, st: _Setup, cal: dict, seed: int, index: int,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Realised renewable output and its forecast (T, n_prod); zero for other units."""
    rng = _rng(seed, _S_PRODS, index)
    n_steps = cal["hour"].shape[0]
    n_prod = st.role.shape[0]
    n_reg = int(st.sub_region.max()) + 1
    k = 60.0 / cfg.step_minutes
    wind_idx = (0.7 * ar1(rng, n_steps, 1, 0.97 ** (1 / k), 1.0)
                + 0.5 * ar1(rng, n_steps, n_reg, 0.95 ** (1 / k), 1.0)[:, st.prod_region]
                + 0.5 * ar1(rng, n_steps, n_prod, 0.9 ** (1 / k), 1.0)) / np.sqrt(0.99)
    wind = wind_capacity_factor(wind_idx, cal["doy"])
    cloud = ar1(rng, n_steps, n_reg, 0.95 ** (1 / k), 1.0)[:, st.prod_region]
    w = 0.5 * (1.0 + np.cos(2.0 * np.pi * (cal["doy"] - 15.0) / 365.25))[:, None]
    clear = 1.0 - 0.65 / (1.0 + np.exp(-1.5 * (cloud + 0.6 * w - 0.3)))
    solar = 0.9 * solar_clear_sky(cal)[:, None] * clear
    is_wind = st.role == ROLE_WIND
    is_solar = st.role == ROLE_SOLAR
    out = np.where(is_wind, wind, 0.0) + np.where(is_solar, solar, 0.0)
    out *= st.capacity
    frng = _rng(seed, _S_FORECAST, 1000 + index)
    wind_err = ar1(frng, n_steps, n_prod, 0.9, cfg.wind_forecast_sigma) * st.capacity
    solar_err = ar1(frng, n_steps, n_prod, 0.9, cfg.solar_forecast_sigma)
    planned = np.where(is_wind, out + wind_err, out) * np.where(is_solar, 1.0 + solar_err, 1.0)
    planned = np.clip(planned, 0.0, st.capacity)
    return out, planned


def _dispatch(cfg: GeneratorConfig, st: _Setup, load_total: np.ndarray, res: np.ndarray,
              seed: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Share the residual demand between thermal units and the slack (pro-rata, water-filled).

    Renewables are curtailed when they would push the thermal units below a must-run level.

    Returns:
        (T, n_prod) production P (the slack's column is its scheduled share) and the (T,)
        renewable curtailment factor (1 = no curtailment).
    """
    n_steps = load_total.shape[0]
    thermal = (st.role == ROLE_THERMAL) | (st.role == ROLE_SLACK)
    cap = st.capacity[thermal]
    demand = load_total * (1.0 + st.loss_fraction)
    must_run = 0.1 * cap.sum()
    res_total = res.sum(axis=1)
    room = np.maximum(demand - must_run, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        curtail = np.where(res_total > room, room / res_total, 1.0)
    res = res * curtail[:, None]
    residual = demand - res.sum(axis=1)
    mean_load = float(np.mean(load_total)) if n_steps else 1.0
    w = st.dispatch_weight[thermal] * np.clip(
        1.0 + st.load_follow[thermal] * (load_total[:, None] / mean_load - 1.0), 0.05, None)
    p = residual[:, None] * w / w.sum(axis=1, keepdims=True)
    for _ in range(cap.size):  # water-filling: units at capacity hand the excess to the others
        excess = np.clip(p - cap, 0.0, None).sum(axis=1)
        if not (excess > 1e-9).any():
            break
        p = np.minimum(p, cap)
        free = w * (p < cap - 1e-9)
        share = free / np.maximum(free.sum(axis=1, keepdims=True), 1e-12)
        p += excess[:, None] * share
    rng = _rng(seed, _S_PRODS, 1000 + index)
    k = 60.0 / cfg.step_minutes
    wiggle = ar1(rng, n_steps, cap.size, 0.95 ** (1 / k), cfg.thermal_noise_sigma)
    slack_col = st.role[thermal] == ROLE_SLACK
    p = np.where(slack_col, p, np.clip(p * (1.0 + wiggle), 0.0, cap))
    out = res.copy()
    out[:, thermal] = p
    return out, curtail


def _voltages(grid: GridArrays, cfg: GeneratorConfig, n_steps: int, seed: int, index: int,
              ) -> np.ndarray:
    rng = _rng(seed, _S_PRODS, 2000 + index)
    noise = held_noise(rng, n_steps, grid.n_prod, cfg.voltage_hold_steps * 60 / cfg.step_minutes,
                       cfg.voltage_sigma_pu)
    noise = np.clip(noise, -2.5 * cfg.voltage_sigma_pu, 2.5 * cfg.voltage_sigma_pu)
    v = grid.prod_vm_pu[None, :] + noise
    v[:, grid.prod_kind == PROD_PQ] = 1.0
    return np.round(v, cfg.pu_decimals)


@dataclass(eq=False)
class _Draft:
    """A chronic before the power-flow pass: rounded injections and events, no limits yet."""

    name: str
    stamps: np.ndarray
    simu_ids: np.ndarray
    prod_p: np.ndarray
    prod_v: np.ndarray
    load_p: np.ndarray
    load_q: np.ndarray
    prod_p_planned: np.ndarray
    load_p_planned: np.ndarray
    load_q_planned: np.ndarray
    maintenance: np.ndarray
    hazards: np.ndarray


def _events(grid: GridArrays, cfg: GeneratorConfig, st: _Setup, seed: int, index: int,
            cal: dict) -> tuple[np.ndarray, np.ndarray]:
    """Maintenance and hazard schedules of one chronic (their own random streams)."""
    steps_per_hour = 60.0 / cfg.step_minutes
    maintenance = maintenance_schedule(
        _rng(seed, _S_MAINT, index), cal["hour"], cal["weekday"], grid.n_line, st.maintainable,
        float(cfg.maintenance_per_month or 0.0), cfg.maintenance_start_hours,
        tuple(int(round(h * steps_per_hour)) for h in cfg.maintenance_duration_hours),
        steps_per_hour)
    hazards = hazard_schedule(
        _rng(seed, _S_HAZARD, index), cal["hour"].shape[0], grid.n_line, st.hazard_lines,
        float(cfg.hazards_per_month or 0.0),
        tuple(int(round(h * steps_per_hour)) for h in cfg.hazard_duration_hours),
        24.0 * steps_per_hour)
    return maintenance, hazards


def _draft(grid: GridArrays, cfg: GeneratorConfig, st: _Setup, seed: int, index: int) -> _Draft:
    name, stamps = chronic_calendar(cfg, index)
    cal = calendar(stamps)
    n_steps = stamps.shape[0]
    dec, coarse = cfg.mw_decimals, cfg.coarse_decimals
    load_p, load_q, err = _loads(grid, cfg, st, cal, seed, index)
    load_p = np.round(load_p, dec)
    load_q = np.round(load_q, coarse)
    load_p_planned = np.round(np.maximum(load_p * (1.0 + err), 0.0), coarse)
    load_q_planned = np.round(load_q * (1.0 + err), coarse)
    res, res_planned = _renewables(cfg, st, cal, seed, index)
    prod_p, curtail = _dispatch(cfg, st, load_p.sum(axis=1), res, seed, index)
    renewable = (st.role == ROLE_WIND) | (st.role == ROLE_SOLAR)
    prod_p = np.round(prod_p, dec)
    prod_p_planned = prod_p.copy()
    prod_p_planned[:, renewable] = res_planned[:, renewable] * curtail[:, None]
    prod_p_planned = np.round(prod_p_planned, coarse)
    maintenance, hazards = _events(grid, cfg, st, seed, index, cal)
    year_start = stamps[0].astype("datetime64[Y]").astype("datetime64[m]")
    simu_ids = ((stamps - year_start) // np.timedelta64(cfg.step_minutes, "m")).astype(np.int64)
    return _Draft(name=name, stamps=stamps, simu_ids=simu_ids, prod_p=prod_p,
                  prod_v=_voltages(grid, cfg, n_steps, seed, index), load_p=load_p,
                  load_q=load_q, prod_p_planned=prod_p_planned, load_p_planned=load_p_planned,
                  load_q_planned=load_q_planned, maintenance=maintenance, hazards=hazards)


# ---------------------------------------------------------------------- public API
def _secure_events(grid: GridArrays, cfg: GeneratorConfig, st: _Setup, seed: int,
                   drafts: list[_Draft], fragile: np.ndarray) -> _Setup:
    """Reschedule maintenance and hazards without the branches whose outage diverges."""
    bad = np.flatnonzero(fragile)
    logger.info("%d branch(es) whose single outage had no AC solution at a sampled step (or "
                "isolated too much, or lowered a voltage by more than %s p.u.) get no "
                "maintenance nor hazard: %s", bad.size, cfg.secure_max_vm_drop_pu, bad.tolist())
    st = dataclasses.replace(st, maintainable=st.maintainable[~fragile[st.maintainable]],
                             hazard_lines=st.hazard_lines[~fragile[st.hazard_lines]])
    for k, d in enumerate(drafts):
        d.maintenance, d.hazards = _events(grid, cfg, st, seed, k, calendar(d.stamps))
    return st


def _repair(grid: GridArrays, cfg: GeneratorConfig, st: _Setup, d: _Draft, f,
            tick=None):
    """Redispatch the steps of ``d`` whose AC power flow diverged (see ``repair_diverged``).

    Each such step moves, a quarter at a time, towards the case's set-points scaled to the
    step's total load (productions within their capacity, the case's voltage set-points) until
    its power flow converges. Returns the flows with the repaired rows filled in.
    """
    bad = np.flatnonzero(~f.converged_mask)
    if not bad.size or not cfg.repair_diverged:
        return f
    scale = d.load_p[bad].sum(axis=1) / max(float(grid.load_p_mw.sum()), 1e-9)
    target_p = np.clip(st.ref_p[None, :] * scale[:, None], 0.0, st.capacity)
    target_v = np.where(grid.prod_kind == PROD_PQ, 1.0, grid.prod_vm_pu)[None, :]
    p0, v0, plan0 = d.prod_p[bad], d.prod_v[bad], d.prod_p_planned[bad]
    todo = np.ones(bad.size, dtype=bool)
    for alpha in (0.25, 0.5, 0.75, 1.0):
        rows = bad[todo]
        p = np.round((1 - alpha) * p0[todo] + alpha * target_p[todo], cfg.mw_decimals)
        v = np.round((1 - alpha) * v0[todo] + alpha * target_v, cfg.pu_decimals)
        trial = base_topology_flows(grid, p, v, d.load_p[rows], d.load_q[rows])
        ok = trial.converged_mask
        d.prod_p[rows[ok]], d.prod_v[rows[ok]] = p[ok], v[ok]
        d.prod_p_planned[rows[ok]] = np.round(p[ok] + (1 - alpha) * (
            plan0[todo][ok] - p0[todo][ok]), cfg.coarse_decimals)
        for name in ("prod_p_mw", "line_a_or"):
            getattr(f, name)[rows[ok]] = getattr(trial, name)[ok]
        f.converged_mask[rows[ok]] = True
        idx = np.flatnonzero(todo)
        todo[idx[ok]] = False
        if tick is not None:
            tick(int(rows.size))
        if not todo.any():
            break
    logger.info("chronic %s: %d diverged step(s) redispatched towards the case's set-points, "
                "%d still diverge", d.name, bad.size, int(todo.sum()))
    return f


def generate_scenarios(grid: GridArrays, seed: int,
                       config: GeneratorConfig | None = None,
                       progress: bool = False) -> GeneratedScenarios:
    """Generate a set of monthly chronics for ``grid`` (see the module doc for the model).

    Args:
        grid: the grid (e.g. ``load_grid("case14")``).
        seed: any non-negative integer; the same seed gives identical chronics.
        config: generator settings (default :class:`GeneratorConfig`).
        progress: show a progress bar over the power flows (tqdm, on stderr).

    Returns:
        The chronics (grid column order, validated) with their statistics and the random
        choices made (production roles, regions, stressed branches).

    Raises:
        ConfigurationError: if the configuration is invalid or the seed is negative.
    """
    if int(seed) < 0:
        raise ConfigurationError(f"seed={seed!r} must be a non-negative integer")
    cfg = (config or GeneratorConfig()).resolved(grid)
    ref = base_topology_flows(grid, grid.prod_p_mw[None, :], grid.prod_vm_pu[None, :],
                              grid.load_p_mw[None, :], grid.load_q_mvar[None, :])
    ref_p = np.where(grid.prod_kind == PROD_SLACK, ref.prod_p_mw[0], grid.prod_p_mw)
    st = _setup(grid, cfg, seed, np.asarray(ref_p, dtype=np.float64))
    drafts = [_draft(grid, cfg, st, seed, k) for k in range(cfg.n_chronics)]
    from tqdm.auto import tqdm

    n_rows = sum(d.prod_p.shape[0] for d in drafts)
    n_n1 = (int(grid.line_in_service.sum()) if cfg.secure_outages
            else st.maintainable.size) * cfg.n1_samples
    bar = tqdm(total=n_rows + n_n1, unit="pf", unit_scale=True, disable=not progress,
               desc=f"{grid.name}: power flows", leave=False)
    flows = []
    for d in drafts:
        f = base_topology_flows(grid, d.prod_p, d.prod_v, d.load_p, d.load_q)
        bar.update(d.prod_p.shape[0])
        flows.append(_repair(grid, cfg, st, d, f, bar.update))
    all_a = np.concatenate([f.line_a_or for f in flows if f.converged_mask.any()], axis=0)
    ok = np.concatenate([f.converged_mask for f in flows if f.converged_mask.any()])
    if cfg.dc_limits:  # limits from the larger of the AC and DC currents of each step
        dc_a = np.concatenate([base_topology_dc_currents(grid, d.prod_p, d.prod_v, d.load_p,
                                                         d.load_q)
                               for d, f in zip(drafts, flows) if f.converged_mask.any()])
        all_a = np.maximum(all_a, dc_a)
    n1 = protected = None
    if cfg.n1_samples > 0:
        stack = {k: np.concatenate([getattr(d, k) for d in drafts])
                 for k in ("prod_p", "prod_v", "load_p", "load_q")}
        peak = n1_sample_rows(np.concatenate([f.converged_mask for f in flows]),
                              stack["load_p"].sum(axis=1), cfg.n1_samples)
        secure = {}
        if cfg.secure_outages:  # bridges too (hazards hit them), and what a game tolerates
            secure = {"checked": np.setdiff1d(np.flatnonzero(grid.line_in_service),
                                              st.maintainable),
                      "max_vm_drop_pu": cfg.secure_max_vm_drop_pu,
                      "max_cut": tolerated_cut(grid)}
        n1_pass = contingency_flows(grid, stack["prod_p"][peak], stack["prod_v"][peak],
                                    stack["load_p"][peak], stack["load_q"][peak],
                                    st.maintainable, tick=bar.update, **secure)
        n1 = n1_pass.worst_a
        if cfg.secure_outages and n1_pass.fragile_mask.any():
            st = _secure_events(grid, cfg, st, seed, drafts, n1_pass.fragile_mask)
            protected = n1_pass.fragile_mask
    bar.close()
    sized_safe = protected
    if cfg.secure_outages:  # and the branches whose break, while a partner is out, islands
        partners = island_partners(grid)
        sized_safe = partners if protected is None else protected | partners
    limits, stressed = thermal_limits(grid, all_a[ok], n1, cfg, _rng(seed, _S_LIMITS),
                                      bridges=st.bridges, protected=sized_safe)
    slack = grid.slack_prod_idx
    chronics: list[Chronic] = []
    stats: list[ChronicStats] = []
    for d, f in zip(drafts, flows):
        prod_p = d.prod_p.copy()
        slack_p = np.where(f.converged_mask, f.prod_p_mw[:, slack], d.prod_p[:, slack])
        prod_p[:, slack] = np.round(slack_p, cfg.mw_decimals)
        planned = d.prod_p_planned.copy()
        others = np.arange(grid.n_prod) != slack
        planned[:, slack] = np.round(
            prod_p[:, slack] + (d.load_p_planned - d.load_p).sum(axis=1)
            - (planned[:, others] - prod_p[:, others]).sum(axis=1), cfg.coarse_decimals)
        chronic = Chronic(
            name=d.name, prod_p_mw=prod_p, prod_v_pu=d.prod_v, load_p_mw=d.load_p,
            load_q_mvar=d.load_q, prod_p_planned_mw=planned, prod_v_planned_pu=d.prod_v,
            load_p_planned_mw=d.load_p_planned, load_q_planned_mvar=d.load_q_planned,
            maintenance=d.maintenance, hazards=d.hazards, datetimes=d.stamps,
            simu_ids=d.simu_ids, line_limit_a=limits,
        ).validate(grid.n_prod, grid.n_load, grid.n_line)
        chronics.append(chronic)
        rho = f.line_a_or / limits
        total = d.load_p.sum(axis=1)
        losses = prod_p.sum(axis=1) - total
        stats.append(ChronicStats(
            name=d.name, n_steps=chronic.n_steps, load_mw_min=float(total.min()),
            load_mw_max=float(total.max()), slack_mw_min=float(slack_p.min()),
            slack_mw_max=float(slack_p.max()),
            losses_pct_mean=float(np.mean(losses / np.maximum(total, 1e-9)) * 100.0),
            max_rho=float(rho[f.converged_mask].max(initial=0.0)),
            n_steps_overloaded=int((rho[f.converged_mask] > 1.0).any(axis=1).sum()),
            n_maintenance=int((d.maintenance > 0).sum()), n_hazards=int((d.hazards > 0).sum()),
            n_diverged=int((~f.converged_mask).sum())))
        if stats[-1].n_diverged:
            logger.warning("chronic %s: the base-topology AC power flow diverged at %d step(s)",
                           d.name, stats[-1].n_diverged)
        cap = st.capacity[slack]
        if stats[-1].slack_mw_min < -0.05 * cap or stats[-1].slack_mw_max > 1.1 * cap:
            logger.warning("chronic %s: slack output %.1f..%.1f MW leaves its range 0..%.1f MW",
                           d.name, stats[-1].slack_mw_min, stats[-1].slack_mw_max, cap)
    return GeneratedScenarios(grid=grid, seed=int(seed), config=cfg, chronics=chronics,
                              prod_role=st.role, prod_capacity_mw=st.capacity,
                              sub_region=st.sub_region, load_mix=st.load_mix,
                              line_stressed_mask=stressed,
                              line_fragile_mask=(np.zeros(grid.n_line, dtype=bool)
                                                 if protected is None else protected),
                              stats=stats)


def generate_chronics(grid: GridArrays, seed: int,
                      config: GeneratorConfig | None = None) -> list[Chronic]:
    """Shortcut for ``generate_scenarios(grid, seed, config).chronics``."""
    return generate_scenarios(grid, seed, config).chronics
