"""Write rendered frames to an animated GIF (uses Pillow, imported only when called)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import require

logger = logging.getLogger(__name__)


def record_gif(frames: Iterable[np.ndarray], path: str | Path, fps: float = 4.0,
               loop: int = 0, colors: int = 256) -> Path:
    """Save RGB frames (``(H, W, 3)`` uint8, e.g. from ``render_mode="rgb_array"``) as a GIF.

    Each frame is quantised to an adaptive palette of ``colors`` entries, which keeps the
    renderer's flat colours exact and the file small.

    Args:
        frames: the frames, all of the same shape.
        path: output file (``.gif``); parent folders are created.
        fps: frames per second of the animation.
        loop: number of loops (0 = forever).
        colors: palette size per frame (2..256).

    Returns:
        The path written.

    Raises:
        ValueError: if there is no frame, shapes differ, or ``fps`` is not positive.
        MissingExtraError: if Pillow is not installed.
    """
    image_mod = require("PIL.Image", "render", "Recording a GIF")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    images = []
    shape = None
    for k, f in enumerate(frames):
        a = np.asarray(f)
        if a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"frame {k} must have shape (H, W, 3), got {a.shape}")
        if shape is not None and a.shape != shape:
            raise ValueError(f"frame {k} has shape {a.shape}, the first frame {shape}")
        shape = a.shape
        img = image_mod.fromarray(np.ascontiguousarray(a, dtype=np.uint8), mode="RGB")
        images.append(img.quantize(colors=int(np.clip(colors, 2, 256)),
                                   method=image_mod.Quantize.MEDIANCUT))
    if not images:
        raise ValueError("record_gif needs at least one frame")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(out, save_all=True, append_images=images[1:],
                   duration=max(1, int(round(1000 / fps))), loop=int(loop), optimize=False,
                   disposal=1)
    logger.info("wrote %d frames to %s", len(images), out)
    return out
