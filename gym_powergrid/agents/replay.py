"""Record actions to a CSV file and replay them (pypownet's ``ActIOnManager`` and
``ActionsFileReaderControler``).

File format (pypownet's): one action per line, its switches as comma-separated 0/1 integers
in the action layout (prods, loads, line origins, line extremities, line status), no header.
A first line that is not made of numbers (e.g. column names ``a0,a1,...``) is skipped when
reading, so files written with a header by pandas also load::

    0,0,0,1,0,...,0
    0,0,0,0,0,...,1
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ActionError
from .base import Agent

logger = logging.getLogger(__name__)


class ActionsRecorder:
    """Append actions to a CSV file, one line each (pypownet's ``ActIOnManager``).

    Args:
        path: destination file.
        delete: start from an empty file (default) instead of appending.

    Example:
        >>> with ActionsRecorder("actions.csv") as rec:  # doctest: +SKIP
        ...     rec.dump(action)
    """

    def __init__(self, path: str | os.PathLike = "saved_actions.csv", delete: bool = True) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w" if delete else "a", encoding="utf-8")  # noqa: SIM115
        self.n_dumped = 0

    def dump(self, action) -> None:
        """Write one action as a line of comma-separated 0/1 values."""
        a = np.asarray(action).astype(np.int64).ravel()
        self._fh.write(",".join(map(str, a.tolist())) + "\n")
        self._fh.flush()
        self.n_dumped += 1

    def close(self) -> None:
        """Close the file (further dumps raise)."""
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> ActionsRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def load(path: str | os.PathLike, action_length: int | None = None) -> np.ndarray:
        """Read a file of actions into an ``(n, action_length)`` int8 array.

        Raises:
            FileNotFoundError: if the file does not exist.
            ActionError: on a non-binary value or a line of the wrong length (the message
                gives the line number).
        """
        return load_actions(path, action_length)


def load_actions(path: str | os.PathLike, action_length: int | None = None) -> np.ndarray:
    """Read a CSV of actions (format: module docstring); see :meth:`ActionsRecorder.load`."""
    path = Path(path)
    rows: list[list[int]] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            cells = [c.strip() for c in text.split(",")]
            try:
                values = [int(float(c)) for c in cells]
            except ValueError:
                if lineno == 1 and not rows:
                    continue  # header
                raise ActionError(
                    f"{path}:{lineno}: not a list of 0/1 numbers: {text[:60]!r}") from None
            if any(v not in (0, 1) for v in values):
                raise ActionError(f"{path}:{lineno}: actions hold only 0 and 1; got "
                                  f"{sorted(set(values) - {0, 1})}")
            n = action_length if action_length is not None else (len(rows[0]) if rows else None)
            if n is not None and len(values) != n:
                raise ActionError(f"{path}:{lineno}: an action has {n} switches for this grid, "
                                  f"this line has {len(values)}")
            rows.append(values)
    if not rows:
        return np.zeros((0, action_length or 0), dtype=np.int8)
    return np.array(rows, dtype=np.int8)


class ActionsFileReader(Agent):
    """Replays the actions of a CSV file, one per step (pypownet's ``ActionsFileReaderControler``).

    Args:
        env: the environment.
        seed: unused.
        path: the CSV file (format: module docstring).
        loop: start again from the first action when the file is exhausted (default: play
            do-nothing from then on, with a warning).
    """

    name = "replay"

    def __init__(self, env: Any, seed: int | None = None,
                 path: str | os.PathLike = "saved_actions.csv", loop: bool = False) -> None:
        super().__init__(env, seed)
        self.path = Path(path)
        self.actions = load_actions(self.path, self.action_helper.action_length)
        self.loop = bool(loop)
        self.position = 0
        self._warned = False
        logger.info("replaying %d actions from %s", len(self.actions), self.path)

    def act(self, observation: Any) -> np.ndarray:
        if self.position >= len(self.actions):
            if self.loop and len(self.actions):
                self.position = 0
            else:
                if not self._warned:
                    logger.warning("%s: all %d actions replayed; doing nothing from now on",
                                   self.path, len(self.actions))
                    self._warned = True
                return self.do_nothing()
        action = self.actions[self.position].copy()
        self.position += 1
        return action


class RecordingAgent(Agent):
    """Wraps an agent and writes every action it takes to a CSV file (replayable).

    Args:
        agent: the agent to record.
        path: destination file (see :class:`ActionsRecorder`).
    """

    name = "recording"

    def __init__(self, agent: Agent, path: str | os.PathLike) -> None:
        super().__init__(agent.env, agent.seed_value)
        self.agent = agent
        self.recorder = ActionsRecorder(path)

    def reset(self, observation: Any, info: dict | None = None) -> None:
        self.agent.reset(observation, info)

    def act(self, observation: Any) -> np.ndarray:
        action = self.agent.act(observation)
        self.recorder.dump(action)
        return action

    def feed_reward(self, action: np.ndarray, observation: Any, reward: float,
                    info: dict) -> None:
        self.agent.feed_reward(action, observation, reward, info)

    def close(self) -> None:
        self.recorder.close()
        self.agent.close()

    @property
    def stats(self) -> dict[str, float]:
        return self.agent.stats

    def __getattr__(self, name: str):
        # expose the recorded agent's attributes (candidates_per_second, last_choice...)
        if name == "agent":
            raise AttributeError(name)
        return getattr(self.agent, name)
