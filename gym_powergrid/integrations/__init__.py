"""Adapters to engines users already run, imported lazily (their extras are optional).

* :mod:`gym_powergrid.integrations.rllib`: the envs registered with RLlib and a PPO recipe
  (``pip install "gym-powergrid[rllib]"``).
"""
