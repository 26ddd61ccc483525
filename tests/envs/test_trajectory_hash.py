"""Trajectories hash identical to the values the code gave before the lean-step work.

A few hundred seeded steps through ``gymnasium.make`` (and the native vector env) with a mixed
policy (do-nothing, legal and refused switches, actions over the limits), game overs and
resets included. Everything the caller sees goes into the hash: observation (dtype, shape,
bytes), reward, terminated, truncated and ``info`` (types included: a list stays a list), plus
``simulate`` and ``last_result``. The reference digests were computed with the code of main at
commit c856307 (``PYTHONPATH=/work/main``, ``python tests/envs/test_trajectory_hash.py``); a
speed change must leave them as they are.
"""

from __future__ import annotations

import hashlib
import struct
import sys

import gymnasium as gym
import numpy as np
import pytest

import gym_powergrid  # noqa: F401

N_STEPS = 300
N_VECTOR = 4
N_VECTOR_STEPS = 120

#: digests of main's code (see the module docstring); key: (env id, kind)
REFERENCE = {
    ('PowerGrid-case14-v0', 'single'):
        '8571fd0ee31adc78c577caa7fa1695458c3c20bcec290b0be782743dc735d55f',
    ('PowerGrid-case14-dc-v0', 'single'):
        'a85a224bccc58d15b9d18f05abf9b3ab20bf7571352f1642b0915103c8c06b6e',
    ('PowerGrid-case14-hard-v0', 'single'):
        '1963cc5828ace099ee4725c9d710015bfcf5c7c884e28055aef2512fd1f0b9ac',
    ('PowerGrid-case118-v0', 'single'):
        '64d951cb59adc91f7e3c3551734fe76e22012137260886f407475e0d11aced0d',
    ('PowerGrid-case14-hard-v0', 'vector'):
        '4ccb72e5f0a3182b6768af6c167b778ec9be49888e39f262682e4ab336021e63',
    ('PowerGrid-case118-v0', 'vector'):
        '8540df98412c19941f8d027b16eaf5a00883610fa8abd4f211f3e31205d00eb4',
}


def feed(h, x) -> None:
    """Feed a canonical, typed encoding of ``x`` into the hash ``h``."""
    tag = type(x).__name__.encode()
    if isinstance(x, dict):
        h.update(b"{")
        for k in sorted(x):
            feed(h, k)
            feed(h, x[k])
        h.update(b"}")
    elif isinstance(x, np.ndarray):
        h.update(b"A" + x.dtype.str.encode() + repr(x.shape).encode())
        if x.dtype == object:
            for e in x.ravel():
                feed(h, e)
        else:
            h.update(np.ascontiguousarray(x).tobytes())
    elif isinstance(x, (list, tuple)):
        h.update(tag + b"[")
        for e in x:
            feed(h, e)
        h.update(b"]")
    elif isinstance(x, np.generic):
        h.update(tag + np.asarray(x).tobytes())
    elif isinstance(x, float):
        h.update(tag + struct.pack("<d", x))
    elif x is None or isinstance(x, (bool, int, str)):
        h.update(tag + repr(x).encode())
    else:
        raise TypeError(f"cannot hash {type(x)}")


def policy_action(rng, obs: dict, n_act: int) -> np.ndarray:
    """Do-nothing (50 %), a legal line switch, one random switch (maybe refused) or 20 random
    switches (over the limits: replaced by do-nothing)."""
    a = np.zeros(n_act, np.int8)
    n_line = obs["lines_status"].shape[-1]
    r = rng.random()
    if r < 0.2:
        ok = np.flatnonzero(obs["timesteps_before_lines_reactionable"] == 0)
        if ok.size:
            a[n_act - n_line + int(rng.choice(ok))] = 1
    elif r < 0.4:
        a[int(rng.integers(n_act))] = 1
    elif r < 0.5:
        a[rng.choice(n_act, size=20, replace=False)] = 1
    return a


def single_digest(env_id: str) -> tuple[str, dict]:
    env = gym.make(env_id)
    u = env.unwrapped
    n_act = u.action_helper.action_length
    h = hashlib.sha256()
    rng = np.random.default_rng(11)
    obs, info = env.reset(seed=5)
    feed(h, (obs, info))
    stats = {"terminated": 0, "truncated": 0, "broken": 0, "refused": 0, "replaced": 0}
    for step in range(N_STEPS):
        a = policy_action(rng, obs, n_act)
        if step % 10 == 0:
            s_obs, s_rew, s_term, s_info = u.simulate(a)
            feed(h, ("simulate", s_obs, s_rew, s_term, s_info))
        obs, rew, term, trunc, info = env.step(a)
        feed(h, (obs, rew, term, trunc, info))
        if step % 25 == 0:
            r = u.last_result
            feed(h, ("result", int(r.status), r.n_iter, r.bus_vm_pu, r.bus_va_rad, r.line_a_or,
                     r.load_cut_mask, r.prod_cut_mask))
        stats["terminated"] += bool(term)
        stats["truncated"] += bool(trunc)
        stats["broken"] += len(info["lines_broken"])
        stats["refused"] += bool(info["illegal"]["reason"]) and not info["illegal"][
            "replaced_by_do_nothing"]
        stats["replaced"] += bool(info["illegal"]["replaced_by_do_nothing"])
        if term or trunc:
            obs, info = env.reset()
            feed(h, ("reset", obs, info))
        elif step == N_STEPS // 2:  # play a chronic's end: truncated
            c = u.current_chronic
            obs, info = env.reset(options={"chronic": c.name, "start_step": c.n_steps - 8})
            feed(h, ("reset near the end", obs, info))
    env.close()
    return h.hexdigest(), stats


def vector_digest(env_id: str) -> tuple[str, dict]:
    venv = gym.make_vec(env_id, num_envs=N_VECTOR, vectorization_mode="vector_entry_point",
                        max_episode_steps=40)  # truncations too
    n_act = venv.single_action_space.n
    h = hashlib.sha256()
    rng = np.random.default_rng(13)
    obs, info = venv.reset(seed=9)
    feed(h, (obs, info))
    stats = {"terminated": 0, "truncated": 0}
    for _ in range(N_VECTOR_STEPS):
        a = np.stack([policy_action(rng, {k: v[i] for k, v in obs.items()}, n_act)
                      for i in range(N_VECTOR)])
        obs, rew, term, trunc, info = venv.step(a)
        feed(h, (obs, rew, term, trunc, info))
        stats["terminated"] += int(term.sum())
        stats["truncated"] += int(trunc.sum())
    venv.close()
    return h.hexdigest(), stats


CASES = [("PowerGrid-case14-v0", "single"), ("PowerGrid-case14-dc-v0", "single"),
         ("PowerGrid-case14-hard-v0", "single"), ("PowerGrid-case118-v0", "single"),
         ("PowerGrid-case14-hard-v0", "vector"), ("PowerGrid-case118-v0", "vector")]


def digest(env_id: str, kind: str) -> tuple[str, dict]:
    return (single_digest if kind == "single" else vector_digest)(env_id)


@pytest.mark.parametrize("env_id,kind", CASES)
def test_trajectory_hash_unchanged(env_id, kind):
    got, stats = digest(env_id, kind)
    assert got == REFERENCE[(env_id, kind)], f"{env_id} {kind}: trajectory changed ({stats})"


if __name__ == "__main__":  # print the reference digests of the code on sys.path
    for env_id, kind in CASES:
        d, s = digest(env_id, kind)
        print(f"    ({env_id!r}, {kind!r}): {d!r},  # {s}", file=sys.stdout)
