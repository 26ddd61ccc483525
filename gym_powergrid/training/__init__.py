"""Train stable-baselines3 agents on gym_powergrid and compare them with the baselines.

Default recipe (the README's Training section): MaskablePPO (sb3-contrib) on
``PowerGrid-case14-hard-v0`` with
:class:`~gym_powergrid.training.candidates.CandidateActions` (the policy is asked only when a
line is loaded at 95% of its limit or more, the reconnection heuristic plays the other steps; in
danger it picks one of 7 slots: reconnect's move, greedy's move, do-nothing and the DC
look-ahead's next 4 moves, each described by its AC simulation after the scaled
:class:`~gym_powergrid.envs.wrappers.FlatObservation`), ``reward="survival"`` (times 0.01), in
``n_envs`` ``SubprocVecEnv`` processes. ``n_heldout`` chronics drawn at random with
``split_seed`` are
held out; the trained policy then plays them (once per ``eval_seeds`` seed) next to
do-nothing, reconnect, greedy and the ablations of
:mod:`gym_powergrid.training.ablations` through the agent benchmark
(:mod:`gym_powergrid.agents.compare`: episodes end at the first game over, env's own reward)::

    python -m gym_powergrid.training --json results/training.json

``--out`` receives ``model.zip``, ``model.json`` (the recipe, to rebuild the wrappers),
``monitor/`` (SB3 ``Monitor`` CSVs, one row per training episode), ``learning_curve.png`` and
``evaluation/`` (the benchmark's ``episodes.csv``, ``agents.csv``, ``survival.png``).

Algorithms: ``maskable-ppo`` and ``dqn`` (``--action-space discrete``), ``ppo`` (``discrete``
or ``multibinary``, the raw switches). Observations: ``flat`` (``MlpPolicy``) or ``dict``
(``MultiInputPolicy`` on pypownet's ``Dict``). In Python::

    result = train(TrainConfig(timesteps=20_000, out="runs/demo"))
    agent = PolicyAgent(env, path=result.model_path)  # an Agent: act(observation) -> switches

and from the command line, like any agent: ``gym-powergrid run PowerGrid-case14-v0 --agent
gym_powergrid.training:PolicyAgent --agent-option path=runs/demo/model.zip``.
"""

from __future__ import annotations

from .cli import build_parser, config_from_args, main
from .config import (
    ACTION_SPACES,
    ALGOS,
    CHOICES,
    MODEL_ENV_VAR,
    OBSERVATIONS,
    TrainConfig,
    algo_class,
)
from .envs import ChronicSubset, make_training_env, make_vec_env, split_chronics, wrap_env
from .policy import PolicyAgent, build_model, load_model, save_recipe
from .results import (
    POLICY_AGENT,
    POLICY_LABEL,
    TrainResult,
    evaluate_policy,
    format_evaluation,
    load_monitor,
    plot_learning_curve,
)
from .run import chronic_split, train

__all__ = [
    "ACTION_SPACES", "ALGOS", "CHOICES", "MODEL_ENV_VAR", "OBSERVATIONS", "POLICY_AGENT",
    "POLICY_LABEL", "ChronicSubset", "PolicyAgent", "TrainConfig", "TrainResult", "algo_class",
    "build_model", "build_parser", "chronic_split", "config_from_args", "evaluate_policy",
    "format_evaluation", "load_model", "load_monitor", "main", "make_training_env",
    "make_vec_env", "plot_learning_curve", "save_recipe", "split_chronics", "train", "wrap_env",
]
