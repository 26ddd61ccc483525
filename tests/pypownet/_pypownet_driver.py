"""Driver run INSIDE pypownet's side venv (python 3.11, pypownet 2.2.9, gym 0.17.3, numpy<2).

It plays pypownet itself and writes raw per-step arrays; ``record_traces.py`` (run with the
project's python) starts it and turns its output into the committed trace files. It imports
nothing from gym_powergrid and nothing from this repository.

Usage (one job per call; the job is a JSON object on the command line)::

    <side venv>/bin/python _pypownet_driver.py '<job json>' <output folder>

Job keys: ``parameters`` (a pypownet parameter folder), ``level``, ``chronic_index`` (pypownet's
``start_id``: index in the alphabetically sorted chronic folders), ``scenarios`` (a list of
``"do_nothing"`` and/or ``"scripted"``; each writes ``<output folder>/<scenario>.npz``),
``max_steps`` (optional cap), and for ``scripted`` ``tail`` (do-nothing steps after the last
scripted event).

What pypownet does, from its source (game.py, environment.py, runner.py):

* ``RunEnv(...)`` builds a Game that loads the first timestep of the chronic and runs its power
  flow; that is observation 0.
* ``RunEnv.step(action)`` applies the action (illegal parts are zeroed IN the submitted Action
  object and reported by an ``IllegalActionException`` flag, not raised), loads the next
  timestep, runs the cascade. It returns ``observation=None, done=True`` with a
  ``DivergingLoadflowException``, ``TooManyConsumptionsCut`` or ``TooManyProductionsCut``
  flag at game over.
* Soft game over (``game_over_mode="soft"``): the runner calls ``process_game_over()``: the
  grid goes back to its reference topology with every line in service and every cooldown and
  outage counter zeroed (the soft-overflow counters are kept), then the NEXT timestep is
  loaded and solved (a divergence there skips to the one after, recursively). That
  observation is what the agent sees after the game-over step.
* At the last timestep of a chronic the next step loads the next chronic (natural looping):
  the trace stops at the last timestep.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np

FLAG_CODES = {None: 0, "IllegalActionException": 1, "DivergingLoadflowException": 2,
              "TooManyConsumptionsCut": 3, "TooManyProductionsCut": 4}

OBS_FIELDS = {  # trace name: (pypownet Observation attribute, dtype)
    "ampere_flows": ("ampere_flows", np.float32),
    "lines_status": ("lines_status", np.int8),
    "productions_nodes": ("productions_nodes", np.int8),
    "loads_nodes": ("loads_nodes", np.int8),
    "lines_or_nodes": ("lines_or_nodes", np.int8),
    "lines_ex_nodes": ("lines_ex_nodes", np.int8),
    "timesteps_before_lines_reconnectable": ("timesteps_before_lines_reconnectable", np.int16),
    "timesteps_before_lines_reactionable": ("timesteps_before_lines_reactionable", np.int16),
    "timesteps_before_nodes_reactionable": ("timesteps_before_nodes_reactionable", np.int16),
    "are_loads_cut": ("are_loads_cut", np.int8),
    "are_prods_cut": ("are_productions_cut", np.int8),
    "active_loads": ("active_loads", np.float32),
    "reactive_loads": ("reactive_loads", np.float32),
    "active_productions": ("active_productions", np.float32),
    "voltage_productions": ("voltage_productions", np.float32),
}


#: Steps of the scripted events after the base step B (see :func:`scripted`).
EVENTS = {"node_split": 0, "line_off": 1, "reconnection_refused": 2, "line_on": 4,
          "node_merge": 5}
LAST_EVENT = max(EVENTS.values())


class Recorder:
    """Plays one chronic of pypownet and keeps what the trace needs."""

    def __init__(self, parameters: str, level: str, chronic_index: int) -> None:
        import pypownet.environment as penv

        self.penv = penv
        self.env = penv.RunEnv(parameters, level, chronic_looping_mode="natural",
                               start_id=chronic_index, game_over_mode="soft")
        self.game = self.env.game
        self.chronic_name = self.env.get_current_chronic_name()
        obs = self.env.get_observation(as_array=False)
        self.static = {
            "substations_ids": np.asarray(obs.substations_ids, np.int32),
            "prods_substations_ids": np.asarray(obs.productions_substations_ids, np.int32),
            "loads_substations_ids": np.asarray(obs.loads_substations_ids, np.int32),
            "lines_or_substations_ids": np.asarray(obs.lines_or_substations_ids, np.int32),
            "lines_ex_substations_ids": np.asarray(obs.lines_ex_substations_ids, np.int32),
            "thermal_limits": np.asarray(obs.thermal_limits, np.float64),
        }
        self.n_action = self.env.action_space.action_length
        self.obs = {k: [] for k in OBS_FIELDS}
        self.obs_valid: list[bool] = []
        self.timestep_id: list[int] = []
        self.timestep_index: list[int] = []
        self.minutes: list[int] = []
        self.actions: list[np.ndarray] = []
        self.applied: list[np.ndarray] = []
        self.rewards: list[list[float]] = []
        self.flags: list[int] = []
        self.texts: list[str] = []
        self.illegal_lines: list[np.ndarray] = []
        self._push_obs(obs)

    # ---------------------------------------------------------------- helpers
    def timestep_ids(self) -> list[int]:
        return list(self.game._Game__chronic.get_timestep_ids())  # pypownet has no public getter

    def at_last_timestep(self) -> bool:
        ids = self.timestep_ids()
        return self.game.get_current_timestep_id() == ids[-1]

    def _push_time(self) -> None:
        tid = int(self.game.get_current_timestep_id())
        self.timestep_id.append(tid)
        self.timestep_index.append(self.timestep_ids().index(tid))
        d = np.datetime64(self.env.get_current_datetime(), "m")
        self.minutes.append(int(d.astype(np.int64)))

    def _push_obs(self, obs) -> None:
        for key, (attr, dtype) in OBS_FIELDS.items():
            self.obs[key].append(np.asarray(getattr(obs, attr), dtype=np.float64).astype(dtype))
        self.obs_valid.append(True)
        self._push_time()

    def _push_missing(self) -> None:
        for key in OBS_FIELDS:
            self.obs[key].append(np.zeros_like(self.obs[key][0]))
        self.obs_valid.append(False)
        self.timestep_id.append(-1)
        self.timestep_index.append(-1)
        self.minutes.append(0)

    def last(self, key: str) -> np.ndarray:
        return self.obs[key][-1]

    # ---------------------------------------------------------------- one step
    def step(self, action: np.ndarray) -> tuple[bool, str | None]:
        """Play one action the way pypownet's Runner does; return (done, flag class name)."""
        action = np.asarray(action, dtype=int).copy()
        submitted = self.env.action_space.array_to_action(action.copy())
        was_last = self.at_last_timestep()
        obs, reward, done, flag = self.env.step(submitted, do_sum=False)
        name = type(flag).__name__ if flag is not None else None
        if name not in FLAG_CODES:
            raise RuntimeError(f"unexpected pypownet flag {flag!r}")
        self.actions.append(action.astype(np.int8))
        # RunEnv.step deep-copies the action; Game.step keeps that copy in ``last_action`` and
        # zeroes its illegal switches in place (the reward is computed on it too)
        self.applied.append(np.asarray(self.game.last_action.as_array(), dtype=np.int8))
        self.rewards.append([float(x) for x in reward])
        self.flags.append(FLAG_CODES[name])
        self.texts.append(getattr(flag, "text", "") if flag is not None else "")
        ill = np.zeros(len(self.static["lines_or_substations_ids"]), np.int8)
        if name == "IllegalActionException":
            for mask in (flag.get_illegal_broken_lines_reconnections(),
                         flag.get_illegal_oncoolown_lines_switches()):
                if mask is not None:
                    ill |= np.asarray(mask, dtype=np.int8)
        self.illegal_lines.append(ill)
        if was_last:
            raise RuntimeError("stepped past the last timestep of the chronic")
        if done:
            chronic_before = self.env.get_current_chronic_name()
            if self.at_last_timestep():
                self._push_missing()  # pypownet would restart in the next chronic
                return True, name
            self.env.process_game_over()
            if self.env.get_current_chronic_name() != chronic_before:
                self._push_missing()
                return True, name
            self._push_obs(self.env.get_observation(as_array=False))
        else:
            self._push_obs(self.env.get_observation(as_array=False))
        return bool(done), name

    def arrays(self) -> dict[str, np.ndarray]:
        out = {f"obs_{k}": np.stack(v) for k, v in self.obs.items()}
        n = len(self.actions)
        out.update({
            "obs_valid": np.asarray(self.obs_valid, bool),
            "timestep_id": np.asarray(self.timestep_id, np.int32),
            "timestep_index": np.asarray(self.timestep_index, np.int32),
            "datetime_minutes": np.asarray(self.minutes, np.int64),
            "action": np.stack(self.actions) if n else np.zeros((0, self.n_action), np.int8),
            "action_applied": np.stack(self.applied) if n else np.zeros((0, self.n_action),
                                                                        np.int8),
            "reward": np.asarray(self.rewards, np.float64).reshape(n, -1),
            "flag": np.asarray(self.flags, np.int8),
            "illegal_lines": np.stack(self.illegal_lines) if n else
            np.zeros((0, len(self.static["lines_or_substations_ids"])), np.int8),
        })
        out.update({f"static_{k}": v for k, v in self.static.items()})
        return out


# -------------------------------------------------------------------- scenarios
def do_nothing(job: dict) -> tuple[Recorder, dict]:
    rec = Recorder(job["parameters"], job["level"], job["chronic_index"])
    noop = np.zeros(rec.n_action, int)
    cap = job.get("max_steps")
    while not rec.at_last_timestep() and (cap is None or len(rec.actions) < cap):
        rec.step(noop)
    return rec, {}


def _substation_elements(rec: Recorder):
    """Action indices of the node switches of each substation (pypownet's layout)."""
    s = rec.static
    n_p, n_d, n_l = (len(s["prods_substations_ids"]), len(s["loads_substations_ids"]),
                     len(s["lines_or_substations_ids"]))
    owner = np.concatenate([s["prods_substations_ids"], s["loads_substations_ids"],
                            s["lines_or_substations_ids"], s["lines_ex_substations_ids"]])
    kinds = ["prod"] * n_p + ["load"] * n_d + ["line_or"] * n_l + ["line_ex"] * n_l
    return owner, kinds, n_p + n_d + 2 * n_l


def _candidates(rec: Recorder):
    """(substation, two node-switch indices, line) candidates, most meshed first."""
    s = rec.static
    owner, kinds, n_nodes = _substation_elements(rec)
    line_ends = {int(sub): 0 for sub in s["substations_ids"]}
    for sub in np.concatenate([s["lines_or_substations_ids"], s["lines_ex_substations_ids"]]):
        line_ends[int(sub)] += 1
    subs = sorted(line_ends, key=lambda k: (-line_ends[k], k))
    out = []
    for sub in subs[:3]:
        idx = [i for i in range(n_nodes) if owner[i] == sub and kinds[i].startswith("line")]
        moved = idx[-2:]  # two line ends: the new busbar carries a path through the station
        for line in range(len(s["lines_or_substations_ids"])):
            a = int(s["lines_or_substations_ids"][line])
            b = int(s["lines_ex_substations_ids"][line])
            if sub in (a, b) or line_ends[a] < 3 or line_ends[b] < 3:
                continue
            out.append((sub, moved, line))
    return out, n_nodes


def scripted(job: dict, probe: Recorder | None = None) -> tuple[Recorder, dict]:
    """Node split at B, line off at B+1, reconnection refused at B+2 (the line's cooldown:
    ``n_timesteps_actionned_line_reactionable`` = 3 is set when the action is applied and
    decremented when the next timestep is loaded, so the switch is legal again at B+4), line
    on at B+4, node merge at B+5, then ``tail`` do-nothing steps.

    B and the elements are searched so that every event really happens in pypownet: no game
    over from B to B+5 (a soft game over would put the reference topology back), the split
    and the outage visible in the observations, the refused reconnection flagged.
    """
    if probe is None:
        probe, _ = do_nothing(dict(job, max_steps=None))
    cands, n_nodes = _candidates(probe)
    cands = cands[:int(job.get("max_candidates", 6))]
    tail = int(job.get("tail", 40))
    done_steps = {i for i, f in enumerate(probe.flags) if f in (2, 3, 4)}
    # quiet windows of the do-nothing run first: the script adds events, not game overs
    bases = [b for b in range(int(job.get("first_base", 3)), len(probe.flags) - LAST_EVENT)
             if not done_steps & set(range(b, b + LAST_EVENT + 1))]
    tried = []
    for base in bases[:int(job.get("max_bases", 40))]:
        for sub, moved, line in cands:
            _, ok, why = _try_script(job, base, moved, line, n_nodes, 0)
            tried.append((base, sub, line, why))
            if ok:
                rec, ok, why = _try_script(job, base, moved, line, n_nodes, tail)
                assert ok, why
                plan = {"base_step": base, "substation": int(sub),
                        "node_switches": [int(i) for i in moved], "line": int(line),
                        "events": {k: base + v for k, v in EVENTS.items()},
                        "attempts": len(tried)}
                return rec, plan
    raise RuntimeError(f"no window where every scripted event happens; tried {tried[:12]}...")


def _try_script(job, base, moved, line, n_nodes, tail):
    rec = Recorder(job["parameters"], job["level"], job["chronic_index"])
    n_action = rec.n_action
    noop = np.zeros(n_action, int)
    split = noop.copy()
    split[moved] = 1
    line_sw = noop.copy()
    line_sw[n_nodes + line] = 1
    acts = {"node_split": split, "line_off": line_sw, "reconnection_refused": line_sw,
            "line_on": line_sw, "node_merge": split}
    plan = {base + EVENTS[k]: a for k, a in acts.items()}
    last_event = base + LAST_EVENT
    cap = job.get("max_steps")
    t = 0
    while not rec.at_last_timestep() and t <= last_event + tail and (cap is None or t < cap):
        act = plan.get(t, noop)  # step t (0-based) plays plan[t]; its observation is t + 1
        done, name = rec.step(act)
        t += 1
        if base <= t - 1 <= last_event and done:
            return rec, False, f"game over at step {t - 1}"
        if t - 1 == base and not np.all(_topology(rec)[moved] == 1):
            return rec, False, "split not visible"
        if t - 1 == base + EVENTS["line_off"] and rec.last("lines_status")[line] != 0:
            return rec, False, "line not off"
        if t - 1 == base + EVENTS["reconnection_refused"] and (name != "IllegalActionException"
                                  or rec.illegal_lines[-1][line] != 1
                                  or rec.last("lines_status")[line] != 0):
            return rec, False, "reconnection not refused"
        if t - 1 == base + EVENTS["line_on"] and (name is not None
                                                  or rec.last("lines_status")[line] != 1):
            return rec, False, "line not back on"
        if t - 1 == base + EVENTS["node_merge"] and np.any(_topology(rec)[moved] != 0):
            return rec, False, "merge not visible"
    if t <= last_event:
        return rec, False, "chronic too short"
    return rec, True, "ok"


def _topology(rec: Recorder) -> np.ndarray:
    return np.concatenate([rec.last(k) for k in ("productions_nodes", "loads_nodes",
                                                 "lines_or_nodes", "lines_ex_nodes")])




def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    job = json.loads(argv[1])
    out_dir = os.path.abspath(argv[2])
    job["parameters"] = os.path.abspath(job["parameters"])
    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    from importlib.metadata import version

    versions = {p: version(p) for p in ("pypownet", "PYPOWER", "numpy", "gym")}
    workdir = tempfile.mkdtemp(prefix="pypownet_driver_")  # pypownet writes ./tmp
    cwd = os.getcwd()
    results = {}
    try:
        os.chdir(workdir)
        probe = None
        for scenario in job["scenarios"]:
            if scenario == "do_nothing":
                rec, plan = do_nothing(job)
                if job.get("max_steps") is None:
                    probe = rec
            elif scenario == "scripted":
                rec, plan = scripted(job, probe)
            else:
                raise ValueError(f"unknown scenario {scenario!r}; use do_nothing or scripted")
            results[scenario] = (rec, plan)
    finally:
        os.chdir(cwd)
        shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(out_dir, exist_ok=True)
    for scenario, (rec, plan) in results.items():
        meta = {"job": {k: v for k, v in job.items() if k != "scenarios"}, "scenario": scenario,
                "chronic_name": rec.chronic_name, "plan": plan, "flag_texts": rec.texts,
                "n_steps": len(rec.actions), "chronic_n_timesteps": len(rec.timestep_ids()),
                "versions": versions, "python": sys.version.split()[0]}
        arrays = rec.arrays()
        arrays["meta_json"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
        np.savez(os.path.join(out_dir, scenario + ".npz"), **arrays)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
