"""A tqdm progress bar for SB3 training: steps/s, recent episode length and return."""

from __future__ import annotations

import sys
import time

import numpy as np

try:  # SB3 is an optional extra; this module is imported only when training
    from stable_baselines3.common.callbacks import BaseCallback
except ImportError:  # pragma: no cover - checked by training._require_sb3 first
    BaseCallback = object


class ProgressBar(BaseCallback):
    """Progress of ``model.learn``: steps done, steps/s, and over the last 20 finished
    episodes (SB3's ``Monitor`` info) the mean length and return.

    With guarded actions, a training step is one decision; ``len`` is the decisions per
    episode and ``env steps`` the environment steps they covered (``info["env_steps"]``).

    Args:
        total: the training budget (``model.learn``'s ``total_timesteps``).
        description: text in front of the bar.
        file: stream of the bar (default stderr).
    """

    def __init__(self, total: int, description: str = "training", file=None) -> None:
        super().__init__(0)
        self.total = int(total)
        self.description = description
        self.file = file
        self._bar = None
        self._env_steps = 0
        self._t0 = 0.0
        self._last = 0.0

    def _on_training_start(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=self.total, desc=self.description, unit="step",
                         file=self.file or sys.stderr, smoothing=0.1, dynamic_ncols=True)
        self._t0 = self._last = time.perf_counter()

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", ()):
            self._env_steps += int(info.get("env_steps", 1))
        self._bar.update(self.training_env.num_envs)
        now = time.perf_counter()
        if now - self._last > 0.5:
            self._last = now
            self._bar.set_postfix_str(self.postfix(), refresh=False)
        return True

    def postfix(self) -> str:
        """``env steps/s``, recent episode length and return."""
        rate = self._env_steps / max(time.perf_counter() - self._t0, 1e-9)
        text = f"env steps/s {rate:,.0f}"
        buf = list(getattr(self.model, "ep_info_buffer", []) or [])[-20:]
        if buf:
            text += (f", ep len {np.mean([e['l'] for e in buf]):.1f}"
                     f", ep return {np.mean([e['r'] for e in buf]):.1f}")
        return text

    def _on_training_end(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.postfix())
            self._bar.close()
