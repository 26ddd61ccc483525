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

    All frames share one palette of ``colors`` entries, built (fast octree) from up to eight
    evenly spaced frames and applied without dithering: the renderer's flat colours stay
    exact, rare colours (legend swatches) survive, and unchanged regions compress well.

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
    arrays = []
    shape = None
    for k, f in enumerate(frames):
        a = np.asarray(f)
        if a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"frame {k} must have shape (H, W, 3), got {a.shape}")
        if shape is not None and a.shape != shape:
            raise ValueError(f"frame {k} has shape {a.shape}, the first frame {shape}")
        shape = a.shape
        arrays.append(np.ascontiguousarray(a, dtype=np.uint8))
    if not arrays:
        raise ValueError("record_gif needs at least one frame")
    sample = np.unique(np.linspace(0, len(arrays) - 1, min(8, len(arrays))).round().astype(int))
    mosaic = image_mod.fromarray(np.concatenate([arrays[i] for i in sample], axis=0), "RGB")
    palette = mosaic.quantize(colors=int(np.clip(colors, 2, 256)),
                              method=image_mod.Quantize.FASTOCTREE)
    images = [image_mod.fromarray(a, "RGB").quantize(palette=palette,
                                                      dither=image_mod.Dither.NONE)
              for a in arrays]
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(out, save_all=True, append_images=images[1:],
                   duration=max(1, int(round(1000 / fps))), loop=int(loop), optimize=False,
                   disposal=1)
    logger.info("wrote %d frames to %s", len(images), out)
    return out
