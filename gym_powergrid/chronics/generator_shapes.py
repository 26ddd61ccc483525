"""Time shapes and random processes used by the scenario generator (pure numpy).

Everything here is a vectorised function of a calendar (``datetime64[m]`` stamps) or of a
:class:`numpy.random.Generator`; nothing keeps state and nothing touches the global RNG, so the
generator in :mod:`gym_powergrid.chronics.generator` is deterministic for a given seed.

Shapes are for a temperate, northern-hemisphere grid: winter evening peaks, a smaller summer
afternoon bump (air conditioning), quieter weekends and public holidays, windier winters and
longer summer days.
"""

from __future__ import annotations

import numpy as np

#: Load archetypes mixed per load: residential, commercial/tertiary, industrial.
LOAD_TYPES = ("residential", "commercial", "industrial")
#: Weekday factors (Monday .. Sunday) per load archetype.
_WEEK_FACTORS = np.array([
    [1.00, 1.00, 1.00, 1.00, 1.01, 1.03, 1.04],  # residential: people at home at weekends
    [1.00, 1.00, 1.00, 1.00, 0.98, 0.72, 0.58],  # commercial: shops and offices close
    [1.00, 1.00, 1.00, 1.00, 0.97, 0.84, 0.74],  # industrial: reduced weekend shifts
])
#: (month, day) of the public holidays treated as Sundays.
HOLIDAYS = ((1, 1), (5, 1), (12, 25), (12, 26))


# ---------------------------------------------------------------------- calendar
def calendar(stamps: np.ndarray) -> dict[str, np.ndarray]:
    """Split ``datetime64`` stamps into calendar fields.

    Args:
        stamps: (T,) ``datetime64`` values (any unit down to minutes).

    Returns:
        ``hour`` (float, fractional hours of the day), ``doy`` (float day of the year from 0,
        fractional), ``weekday`` (int, Monday = 0; public holidays read as Sunday = 6),
        ``month`` (1..12) and ``day`` (1..31).
    """
    m = np.asarray(stamps).astype("datetime64[m]")
    days = m.astype("datetime64[D]")
    years = m.astype("datetime64[Y]")
    months = m.astype("datetime64[M]")
    minutes = (m - days.astype("datetime64[m]")).astype(np.int64)
    hour = minutes / 60.0
    doy = (days - years.astype("datetime64[D]")).astype(np.int64) + hour / 24.0
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    month = months.astype(np.int64) % 12 + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    holiday = np.zeros(m.shape, dtype=bool)
    for hm, hd in HOLIDAYS:
        holiday |= (month == hm) & (day == hd)
    weekday = np.where(holiday, 6, weekday)
    return {"hour": hour, "doy": doy, "weekday": weekday, "month": month, "day": day}


def winter_weight(doy: np.ndarray) -> np.ndarray:
    """1 in mid-January, 0 in mid-July, smooth in between."""
    return 0.5 * (1.0 + np.cos(2.0 * np.pi * (doy - 15.0) / 365.25))


def _bump(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Gaussian bump on the 24-hour circle."""
    d = (hour - centre + 12.0) % 24.0 - 12.0
    return np.exp(-0.5 * (d / width) ** 2)


def _plateau(hour: np.ndarray, start: float, stop: float, edge: float = 0.8) -> np.ndarray:
    """Smooth 0/1 plateau between ``start`` and ``stop`` hours."""
    return 1.0 / (1.0 + np.exp(-(hour - start) / edge)) / (1.0 + np.exp((hour - stop) / edge))


def archetype_shapes(cal: dict[str, np.ndarray]) -> np.ndarray:
    """Deterministic per-unit load shapes of the three archetypes.

    Args:
        cal: output of :func:`calendar`.

    Returns:
        (3, T) shapes (daily x weekly x seasonal), of order 1; residential, commercial,
        industrial in the order of :data:`LOAD_TYPES`.
    """
    h, doy, wd = cal["hour"], cal["doy"], cal["weekday"]
    w = winter_weight(doy)
    summer = 1.0 - w
    dark_evening = 0.6 + 0.4 * w  # lighting and heating in the evening, stronger in winter
    res = (0.52 + 0.22 * _bump(h, 7.5, 1.4) + 0.42 * dark_evening * _bump(h, 19.0, 2.0)
           + 0.10 * _bump(h, 13.0, 2.5) + 0.10 * summer * _bump(h, 16.0, 2.5))
    com = (0.42 + 0.50 * _plateau(h, 7.5, 18.5) + 0.08 * summer * _bump(h, 15.0, 2.5)
           + 0.06 * w * _bump(h, 18.0, 1.5))
    ind = 0.78 + 0.22 * _plateau(h, 5.5, 22.0)
    season = np.stack([
        1.0 + 0.24 * w + 0.02 * summer,  # electric heating in winter
        1.0 + 0.12 * w + 0.03 * summer,  # heating, some cooling
        1.0 + 0.04 * w,
    ])
    week = _WEEK_FACTORS[:, wd]
    return np.stack([res, com, ind]) * season * week


# ---------------------------------------------------------------------- random processes
def ar1(rng: np.random.Generator, n_steps: int, n_series: int, phi: float, sigma: float,
        ) -> np.ndarray:
    """Stationary AR(1) series ``x[t] = phi x[t-1] + e[t]`` with marginal std ``sigma``.

    Args:
        rng: random generator (consumed: ``n_steps * n_series`` normal draws).
        n_steps: number of timesteps T.
        n_series: number of independent series.
        phi: lag-one autocorrelation in [0, 1).
        sigma: marginal standard deviation.

    Returns:
        (T, n_series) float64.
    """
    e = rng.standard_normal((n_steps, n_series))
    out = np.empty_like(e)
    if n_steps == 0:
        return out
    out[0] = e[0] * sigma
    innov = sigma * np.sqrt(1.0 - phi * phi)
    for t in range(1, n_steps):
        out[t] = phi * out[t - 1] + innov * e[t]
    return out


def held_noise(rng: np.random.Generator, n_steps: int, n_series: int, mean_hold: float,
               sigma: float) -> np.ndarray:
    """Piecewise-constant noise: new N(0, sigma) values after a geometric number of steps.

    Models a voltage plan that operators update now and then: all series change at the same
    steps (which also keeps the written files small: unchanged rows repeat).

    Returns:
        (T, n_series) float64.
    """
    change = np.repeat((rng.random(n_steps) < 1.0 / max(mean_hold, 1.0))[:, None], n_series,
                       axis=1)
    if n_steps:
        change[0] = True
    values = rng.standard_normal((n_steps, n_series)) * sigma
    idx = np.where(change, np.arange(n_steps)[:, None], 0)
    idx = np.maximum.accumulate(idx, axis=0)
    return np.take_along_axis(values, idx, axis=0)


# ---------------------------------------------------------------------- renewables
def solar_clear_sky(cal: dict[str, np.ndarray], latitude_deg: float = 45.0) -> np.ndarray:
    """Clear-sky output of a fixed PV plant, per unit of its peak (0 at night).

    Uses the sun's elevation from the declination and the hour angle (solar time = clock time);
    output follows ``sin(elevation) ** 1.2`` and peaks at 1 at the summer-solstice noon.

    Returns:
        (T,) float64 in [0, 1].
    """
    lat = np.radians(latitude_deg)
    decl = np.radians(23.44) * np.sin(2.0 * np.pi * (cal["doy"] - 80.0) / 365.25)
    # centre of the hourly interval: the value at "h:00" stands for h:00 .. h:59
    hour_angle = np.radians(15.0 * (cal["hour"] + 0.5 - 12.0))
    sin_el = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    peak = np.sin(lat) * np.sin(np.radians(23.44)) + np.cos(lat) * np.cos(np.radians(23.44))
    return np.clip(sin_el / peak, 0.0, None) ** 1.2


def wind_capacity_factor(speed_index: np.ndarray, doy: np.ndarray) -> np.ndarray:
    """Map a standard-normal wind index to a capacity factor in [0, 1].

    A logistic power curve whose mean is about 0.38 in winter and 0.22 in summer; calm spells
    (index well below 0) give almost nothing, storms saturate at rated power.
    """
    w = winter_weight(doy)
    if speed_index.ndim == 2:
        w = w[:, None]
    shift = -1.25 + 0.8 * w
    return 1.0 / (1.0 + np.exp(-(1.6 * speed_index + shift) * 1.7))
