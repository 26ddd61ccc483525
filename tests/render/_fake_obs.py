"""Plausible pypownet observation dicts from a pandapower power flow (before the env exists).

Used by the renderer tests and by ``benchmarks/bench_render.py``. Flows, injections and
currents come from ``pandapower.runpp``; thermal limits are synthetic (the named cases carry
placeholder limits) so that capacity usages spread between 15 % and 85 %.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools

import numpy as np

from gym_powergrid.grid import GridArrays, from_pandapower, load_net


def small_net_without_geodata():
    """A 5-bus 110 kV pandapower net with no geodata (the renderer must compute a layout)."""
    import pandapower as pp

    net = pp.create_empty_network(name="five_bus")
    b = [pp.create_bus(net, vn_kv=110.0, name=f"B{k}") for k in range(5)]
    pp.create_ext_grid(net, b[0], vm_pu=1.02)
    pp.create_gen(net, b[3], p_mw=60.0, vm_pu=1.01)
    for k, p in ((1, 40.0), (2, 55.0), (4, 30.0)):
        pp.create_load(net, b[k], p_mw=p, q_mvar=p * 0.3)
    for f, t in ((0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (1, 3)):
        pp.create_line(net, b[f], b[t], length_km=20.0, std_type="149-AL1/24-ST1A 110.0")
    return net


@functools.lru_cache(maxsize=8)
def _solved(source: str):
    import pandapower as pp

    net = small_net_without_geodata() if source == "five_bus" else load_net(source)
    grid = from_pandapower(net, name=source)
    pp.runpp(net, calculate_voltage_angles=True, init="flat", numba=False)
    return grid, net


def observation_from_net(grid: GridArrays, net, seed: int = 0) -> dict:
    """Fill pypownet's observation keys from a solved pandapower ``net`` (``runpp`` done)."""
    rng = np.random.default_rng(seed)
    p, q, v = [], [], []
    for table, idx, sub in zip(grid.prod_pp_table, grid.prod_pp_idx, grid.prod_sub_idx):
        res = net[f"res_{table}"].loc[idx]
        p.append(float(res.p_mw))
        q.append(float(res.q_mvar))
        v.append(float(net.res_bus.vm_pu.iloc[sub]) * grid.sub_vn_kv[sub])
    load_res = net.res_load.loc[grid.load_pp_idx]
    p_or, q_or, p_ex, amps = [], [], [], []
    for kind, idx in zip(grid.line_kind, grid.line_pp_idx):
        if kind == 0:
            r = net.res_line.loc[idx]
            p_or.append(r.p_from_mw)
            q_or.append(r.q_from_mvar)
            p_ex.append(r.p_to_mw)
            amps.append(r.i_from_ka * 1e3)
        else:
            r = net.res_trafo.loc[idx]
            p_or.append(r.p_hv_mw)
            q_or.append(r.q_hv_mvar)
            p_ex.append(r.p_lv_mw)
            amps.append(r.i_hv_ka * 1e3)
    amps = np.nan_to_num(np.asarray(amps, dtype=np.float64))
    usage = rng.uniform(0.15, 0.85, size=grid.n_line)
    limits = np.where(amps > 1e-6, amps / usage, np.median(amps[amps > 1e-6]) * 2)
    n_line = grid.n_line
    zeros_i = np.zeros(n_line, dtype=np.int64)
    return {
        "active_productions": np.asarray(p),
        "reactive_productions": np.asarray(q),
        "voltage_productions": np.asarray(v),
        "productions_nodes": np.zeros(grid.n_prod, dtype=np.int64),
        "are_prods_cut": np.zeros(grid.n_prod, dtype=np.int64),
        "active_loads": load_res.p_mw.to_numpy(float),
        "reactive_loads": load_res.q_mvar.to_numpy(float),
        "voltage_loads": net.res_bus.vm_pu.to_numpy(float)[grid.load_sub_idx]
        * grid.sub_vn_kv[grid.load_sub_idx],
        "loads_nodes": np.zeros(grid.n_load, dtype=np.int64),
        "are_loads_cut": np.zeros(grid.n_load, dtype=np.int64),
        "active_flows_origin": np.asarray(p_or, dtype=np.float64),
        "reactive_flows_origin": np.asarray(q_or, dtype=np.float64),
        "lines_or_nodes": np.zeros(n_line, dtype=np.int64),
        "active_flows_extremity": np.asarray(p_ex, dtype=np.float64),
        "lines_ex_nodes": np.zeros(n_line, dtype=np.int64),
        "lines_status": grid.line_in_service.astype(np.int64),
        "ampere_flows": amps,
        "thermal_limits": limits,
        "timesteps_before_lines_reconnectable": zeros_i.copy(),
        "timesteps_before_planned_maintenance": zeros_i.copy(),
        "date_year": np.array([2019]),
        "date_month": np.array([1]),
        "date_day": np.array([7]),
        "date_hour": np.array([0]),
        "date_minute": np.array([0]),
    }


def fake_grid(source: str = "case14") -> GridArrays:
    """The (cached) grid of a named case or ``"five_bus"``; cheaper than ``load_grid`` again."""
    return _solved(source)[0]


def fake_observation(source: str = "case14", seed: int = 0) -> tuple[GridArrays, dict]:
    """``(grid, obs)`` for a named case or ``"five_bus"`` (the net without geodata)."""
    grid, net = _solved(source)
    return grid, observation_from_net(grid, net, seed)


def break_line(obs: dict, line: int, cooldown: int = 3) -> dict:
    """A copy of ``obs`` where ``line`` is broken (off, with a reconnection cooldown)."""
    out = copy.deepcopy(obs)
    for key in ("active_flows_origin", "reactive_flows_origin", "active_flows_extremity",
                "ampere_flows"):
        out[key][line] = 0.0
    out["lines_status"][line] = 0
    out["timesteps_before_lines_reconnectable"][line] = cooldown
    return out


def overflow_line(obs: dict, line: int, usage: float = 1.15) -> dict:
    """A copy of ``obs`` where ``line`` carries ``usage`` times its thermal limit."""
    out = copy.deepcopy(obs)
    out["ampere_flows"][line] = out["thermal_limits"][line] * usage
    return out


def move_to_busbar1(grid: GridArrays, obs: dict, sub: int, n_elements: int = 2) -> dict:
    """A copy of ``obs`` where the first ``n_elements`` elements of substation ``sub`` (loads,
    line origins, line extremities, productions in that order) sit on busbar 1."""
    out = copy.deepcopy(obs)
    left = n_elements
    for key, subs in (("loads_nodes", grid.load_sub_idx), ("lines_or_nodes", grid.line_sub_or_idx),
                      ("lines_ex_nodes", grid.line_sub_ex_idx),
                      ("productions_nodes", grid.prod_sub_idx)):
        for i in np.flatnonzero(subs == sub):
            if left == 0:
                return out
            out[key][i] = 1
            left -= 1
    return out


def daily_sequence(obs: dict, n_steps: int, start: dt.datetime | None = None,
                   seed: int = 0) -> list[dict]:
    """Hourly copies of ``obs`` whose injections and flows follow a daily load profile."""
    rng = np.random.default_rng(seed)
    start = start or dt.datetime(2019, 1, 7)
    out = []
    for k in range(n_steps):
        t = start + dt.timedelta(hours=k)
        f = 1.0 + 0.22 * np.sin(2 * np.pi * (t.hour - 9) / 24) + 0.03 * rng.standard_normal()
        o = copy.deepcopy(obs)
        for key in ("active_productions", "reactive_productions", "active_loads",
                    "reactive_loads", "active_flows_origin", "reactive_flows_origin",
                    "active_flows_extremity", "ampere_flows"):
            o[key] = o[key] * f
        o["active_productions"] = o["active_productions"] * (1.0 + 0.01 * rng.random())
        for key, val in (("date_year", t.year), ("date_month", t.month), ("date_day", t.day),
                         ("date_hour", t.hour), ("date_minute", t.minute)):
            o[key] = np.array([val])
        out.append(o)
    return out


def scenario(grid: GridArrays, obs: dict, n_steps: int, seed: int = 0,
             chronic_name: str = "demo_chronic") -> list[tuple[dict, dict, list[str]]]:
    """An hourly story for demos and benchmarks: ``(obs, info, last_action_text)`` per step.

    On top of the daily profile: a line overloads then breaks (with a reconnection cooldown),
    a line goes into maintenance, the agent splits the busiest substation and switches a line
    off; a load is cut while the grid is split.
    """
    from gym_powergrid.render import describe_action

    base = daily_sequence(obs, n_steps, seed=seed)
    n_act = grid.n_prod + grid.n_load + 3 * grid.n_line
    hot, maint, off = 0, min(3, grid.n_line - 1), min(6, grid.n_line - 1)
    sub = int(np.argmax(grid.sub_n_elements))
    out = []
    nodes = {k: np.zeros_like(obs[k]) for k in ("productions_nodes", "loads_nodes",
                                                "lines_or_nodes", "lines_ex_nodes")}
    status_off = False
    for k, o in enumerate(base):
        info = {"chronic_name": chronic_name, "timestep": k, "lines_in_maintenance": [],
                "lines_broken": []}
        act = np.zeros(n_act, dtype=np.int8)
        phase = k % 48
        if 6 <= phase < 10:
            o = overflow_line(o, hot, 1.02 + 0.05 * (phase - 6))
        if 10 <= phase < 14:
            o = break_line(o, hot, cooldown=14 - phase)
            if phase == 10:
                info["lines_broken"] = [hot]
        if 20 <= phase < 30:
            o = break_line(o, maint, cooldown=30 - phase)
            info["lines_in_maintenance"] = [maint]
        elif 14 <= phase < 20:
            o["timesteps_before_planned_maintenance"][maint] = 20 - phase
        if phase == 24:  # the agent splits the busiest substation and opens a line
            before = {**o, **{kk: v.copy() for kk, v in nodes.items()}}
            split = move_to_busbar1(grid, before, sub, 2)
            for kk in nodes:
                act_part = (split[kk] != nodes[kk]).astype(np.int8)
                nodes[kk] = split[kk].copy()
                start = {"productions_nodes": 0, "loads_nodes": grid.n_prod,
                         "lines_or_nodes": grid.n_prod + grid.n_load,
                         "lines_ex_nodes": grid.n_prod + grid.n_load + grid.n_line}[kk]
                act[start:start + act_part.size] = act_part
            act[n_act - grid.n_line + off] = 1
            status_off = True
            text = describe_action(grid, act, before)
        elif phase == 40:  # back to the reference topology
            before = {**o, **{kk: v.copy() for kk, v in nodes.items()}}
            before["lines_status"] = o["lines_status"].copy()
            before["lines_status"][off] = 0
            for kk in nodes:
                nodes[kk][:] = 0
            act[n_act - grid.n_line + off] = 1
            status_off = False
            text = ["back to the reference topology", *describe_action(grid, act, before)[-1:]]
        else:
            text = describe_action(grid, act)
        o.update({kk: v.copy() for kk, v in nodes.items()})
        if status_off:
            o["lines_status"][off] = 0
            o["ampere_flows"][off] = 0.0
            o["active_flows_origin"][off] = 0.0
            if 26 <= phase < 32:
                o["are_loads_cut"][0] = 1
        out.append((o, info, text))
    return out
