"""Play a pypownet agent file with pypownet 2.2.9 itself and print the trajectory as JSON.

Run with the side venv's python (pypownet 2.2.9, gym 0.17, numpy < 2), e.g.::

    /work/venv-pypownet/bin/python play_in_pypownet.py PARAMS_FOLDER level0 agent.py:Class 20

With ``simulate`` instead of the agent spec, plays do-nothing for N steps and prints, at each
step, what ``simulate(action, do_sum=False)`` returns for do-nothing and for every single line
status switch: ``{"simulate": [[[reward components], done, flag class name], ...], ...]}``.

With ``layout`` instead of the agent spec, prints pypownet's switch layout instead: for every
substation its id, number of elements, element types and the 1s of the action setting all its
switches (``set_substation_switches_in_action``).

Prints ``{"actions": [[indices of 1s], ...], "observations": [[...], ...],
"rewards": [[...], ...], "done": [...]}``: the observation each act() received, the action it
returned, the reward components and game-over flag of the step. The loop is pypownet's
``Runner.step`` (act, step with do_sum=False, process_game_over at a game over, feed_reward).
"""
import contextlib
import importlib.util
import io
import json
import sys

import numpy as np


def layout(env):
    space = env.action_space
    subs = []
    for sub in space.substations_ids:
        n = space.get_number_elements_of_substation(sub)
        _, types = space.get_substation_switches_in_action(space.get_do_nothing_action(), sub)
        action = space.set_substation_switches_in_action(space.get_do_nothing_action(), sub,
                                                         [1] * n)
        subs.append({"id": int(sub), "n": int(n), "types": [t.value for t in types],
                     "ones": [int(i) for i in np.flatnonzero(action.as_array())]})
    return {"substations": subs, "action_length": int(space.action_length)}


def simulations(env, n_steps):
    space = env.action_space
    out = []
    for _ in range(n_steps):
        step = []
        for line in range(-1, space.lines_status_subaction_length):
            action = space.get_do_nothing_action(as_class_Action=True)
            if line >= 0:
                space.set_lines_status_switch_from_id(action, line, 1)
            _, rewards, done, flag = env.simulate(action, do_sum=False)
            step.append([[float(r) for r in rewards], bool(done),
                         type(flag).__name__ if flag is not None else None])
        out.append(step)
        env.step(space.get_do_nothing_action(), do_sum=False)
    return {"simulate": out}


def main(folder, level, agent_spec, n_steps=0, seed=0):
    import pypownet.environment

    if agent_spec == "simulate":
        with contextlib.redirect_stdout(io.StringIO()):
            env = pypownet.environment.RunEnv(folder, level, seed=seed)
            result = simulations(env, int(n_steps))
        print(json.dumps(result))
        return

    if agent_spec == "layout":
        with contextlib.redirect_stdout(io.StringIO()):
            env = pypownet.environment.RunEnv(folder, level, seed=seed)
        print(json.dumps(layout(env)))
        return

    path, name = agent_spec.rsplit(":", 1)
    spec = importlib.util.spec_from_file_location("played_agent", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with contextlib.redirect_stdout(io.StringIO()):
        env = pypownet.environment.RunEnv(folder, level, seed=seed)
        agent = getattr(module, name)(env)
    out = {"actions": [], "observations": [], "rewards": [], "done": []}
    observation = env.get_observation()
    for _ in range(int(n_steps)):
        out["observations"].append([float(v) for v in observation])
        with contextlib.redirect_stdout(io.StringIO()):
            action = agent.act(observation)
        vector = env.action_space.array_to_action(action).as_array()
        out["actions"].append([int(i) for i in np.flatnonzero(vector)])
        with contextlib.redirect_stdout(io.StringIO()):
            observation, rewards, done, _ = env.step(action, do_sum=False)
            if done:
                observation = env.process_game_over()
            agent.feed_reward(action, observation, rewards)
        out["rewards"].append([float(r) for r in rewards])
        out["done"].append(bool(done))
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:4], *(int(a) for a in sys.argv[4:6]))
