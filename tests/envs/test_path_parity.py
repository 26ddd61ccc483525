"""The numba transition and the reference (Python loop) transition agree where the two used to
drift (issue 12): actions over the limits, refused switches and a step without a solution,
including ``env.last_result`` after that step."""

from __future__ import annotations

import dataclasses

import numpy as np

from tests.envs._factory import make_chronic, make_env

N_STEPS = 30
DIVERGE_AT = (12, 13)  # steps whose loads the hook multiplies by 20: no AC solution


def _hook(step, load_p, load_q, prod_p, prod_v):
    if step in DIVERGE_AT:
        load_p *= 20.0
        load_q *= 20.0
    return None


def _actions(env, rng):
    h = env.action_helper
    n = h.action_length
    for t in range(N_STEPS):
        a = h.do_nothing()
        kind = t % 5
        if kind == 1:  # over every limit: replaced by do-nothing
            a[h.offset_status:] = 1
        elif kind == 2:  # a line switch, then (kind 3) the same line again: on cooldown
            a[h.offset_status + 3] = 1
        elif kind == 3:
            a[h.offset_status + 3] = 1
        elif kind == 4:
            a[rng.integers(n)] = 1
        yield a


def _result_fields(r):
    return {f.name: getattr(r, f.name) for f in dataclasses.fields(r)}


def test_fast_and_reference_paths_agree_on_refusals_and_failed_steps():
    chronic = make_chronic(n_steps=N_STEPS + 2, wave=0.1)
    fast = make_env(chronics=[chronic])
    ref = make_env(chronics=[chronic])
    ref._fast = False  # the reference loop (test-only switch)
    for e in (fast, ref):
        e.set_injection_hook(_hook)
        e.reset(seed=5)
    rng = np.random.default_rng(5)
    seen = {"replaced": 0, "cooldown": 0, "failed": 0}
    for a in _actions(fast, rng):
        out = [fast.step(a), ref.step(a)]
        i0, i1 = out[0][4], out[1][4]
        assert i0["illegal"] == i1["illegal"]
        for key in ("game_over_reason", "power_flow_status", "lines_broken", "n_loads_cut",
                    "n_prods_cut"):
            assert i0.get(key) == i1.get(key), key
        seen["replaced"] += bool(i0["illegal"]["replaced_by_do_nothing"])
        seen["cooldown"] += bool(i0["illegal"]["lines_on_cooldown"])
        r0, r1 = fast.last_result, ref.last_result
        assert (r0 is None) == (r1 is None)
        if r0 is not None:
            f0, f1 = _result_fields(r0), _result_fields(r1)
            assert f0["status"] == f1["status"]
            for key, v0 in f0.items():
                if key in ("status", "n_iter"):
                    continue
                np.testing.assert_allclose(np.asarray(v0, float), np.asarray(f1[key], float),
                                           rtol=1e-6, atol=1e-6, err_msg=key)
            if not r0.converged:
                seen["failed"] += 1
                assert r0.load_cut_mask.all() and not r0.bus_vm_pu.any()
        if out[0][2] or out[0][3]:
            for e in (fast, ref):
                e.reset()
    assert seen["replaced"] and seen["cooldown"] and seen["failed"], seen
