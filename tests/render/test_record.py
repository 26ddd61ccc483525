"""record_gif writes an animated GIF of rendered frames."""

from __future__ import annotations

import numpy as np
import pytest

from gym_powergrid.render import record_gif

Image = pytest.importorskip("PIL.Image")


def test_record_gif_roundtrip(tmp_path):
    frames = [np.full((40, 60, 3), k * 40, dtype=np.uint8) for k in range(4)]
    frames[2][10:20, 10:30] = (255, 0, 0)
    path = record_gif(frames, tmp_path / "sub" / "out.gif", fps=5)
    with Image.open(path) as im:
        assert im.n_frames == 4
        assert im.size == (60, 40)
        assert im.info["duration"] == 200
        im.seek(2)
        assert im.convert("RGB").getpixel((15, 15)) == (255, 0, 0)


@pytest.mark.parametrize("frames", [[], [np.zeros((4, 4))],
                                    [np.zeros((4, 4, 3)), np.zeros((5, 4, 3))]])
def test_record_gif_rejects_bad_frames(tmp_path, frames):
    with pytest.raises(ValueError):
        record_gif(frames, tmp_path / "x.gif")
