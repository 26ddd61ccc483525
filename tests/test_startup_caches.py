"""Start-up caches: the grid-array cache of parameter folders (no pandapower the second time),
the numba cache refresh on changed core sources and the cold-compile notice."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gym_powergrid.core import jit_cache
from gym_powergrid.envs.sources import SHIPPED_PARAMS_DIR
from gym_powergrid.grid import cache as grid_cache
from gym_powergrid.params import ParameterFolder

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": env.pop("PYTHONPATH", str(ROOT)), **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


# ---------------------------------------------------------------- grid cache
def test_cached_grid_equals_the_converted_one(tmp_path, monkeypatch):
    monkeypatch.setenv(grid_cache.ENV_VAR, str(tmp_path))
    first = ParameterFolder(SHIPPED_PARAMS_DIR / "case14")
    g0, o0 = first.grid, first.column_order
    assert len(list((tmp_path / "grids").glob("*.npz"))) == 1
    hit = grid_cache.load(first.reference_grid_path, g0.name)
    assert hit is not None
    g1, o1 = hit
    for f in dataclasses.fields(g0):
        a, b = getattr(g0, f.name), getattr(g1, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, f.name
            assert [type(x) for x in a.ravel()[:2]] == [type(x) for x in b.ravel()[:2]], f.name
            np.testing.assert_array_equal(a, b, err_msg=f.name)
        elif isinstance(a, dict):
            assert a.keys() == b.keys()
            for k in a:
                np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a == b and type(a) is type(b), f.name
    for k in ("prod", "load", "line"):
        np.testing.assert_array_equal(getattr(o0, k), getattr(o1, k))
    second = ParameterFolder(SHIPPED_PARAMS_DIR / "case14")
    assert second.grid.name == g0.name and "net" not in second.__dict__  # no conversion


def test_an_edited_grid_file_gets_a_new_entry(tmp_path, monkeypatch):
    monkeypatch.setenv(grid_cache.ENV_VAR, str(tmp_path / "cache"))
    folder = tmp_path / "case14"
    shutil.copytree(SHIPPED_PARAMS_DIR / "case14" / "level0", folder / "level0")
    pf = ParameterFolder(folder)
    limits = pf.grid.line_limit_a.copy()
    grid_file = pf.reference_grid_path
    assert grid_cache.load(grid_file, pf.grid.name) is not None
    # halve the first branch's rateA: a new grid, the old entry must not be used
    lines = grid_file.read_text().splitlines(keepends=True)
    start = next(i for i, x in enumerate(lines) if "mpc.branch" in x and "=" in x)
    cols = lines[start + 1].split()
    cols[5] = str(float(cols[5]) / 2)
    lines[start + 1] = "\t" + "\t".join(cols) + "\n"
    grid_file.write_text("".join(lines))
    assert grid_cache.load(grid_file, pf.grid.name) is None
    edited = ParameterFolder(folder)
    assert edited.grid.line_limit_a[0] == pytest.approx(limits[0] / 2)
    np.testing.assert_array_equal(edited.grid.line_limit_a[1:], limits[1:])
    assert len(list((tmp_path / "cache" / "grids").glob("*.npz"))) == 2


def test_an_unwritable_cache_folder_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(grid_cache.ENV_VAR, str(blocker / "below"))
    pf = ParameterFolder(SHIPPED_PARAMS_DIR / "case14")
    assert pf.grid.n_sub == 14
    assert grid_cache.store(pf.reference_grid_path, pf.grid.name, pf.grid,
                            pf.column_order) is None
    monkeypatch.setenv(grid_cache.ENV_VAR, "off")
    assert grid_cache.cache_folder() is None


def test_second_construction_does_not_import_pandapower(tmp_path):
    code = """
        import sys
        from gym_powergrid.envs import PowerGridEnv
        env = PowerGridEnv("case14")
        print("PANDAPOWER", "pandapower" in sys.modules)
    """
    first = _run(code, GYM_POWERGRID_CACHE_DIR=str(tmp_path))
    assert first.returncode == 0, first.stderr[-2000:]
    assert "PANDAPOWER True" in first.stdout  # converted once
    second = _run(code, GYM_POWERGRID_CACHE_DIR=str(tmp_path))
    assert second.returncode == 0, second.stderr[-2000:]
    assert "PANDAPOWER False" in second.stdout


# ---------------------------------------------------------------- numba cache of core/
def test_clear_if_stale_deletes_only_core_cache_files(tmp_path):
    core_files = [tmp_path / "game_rules.cut_flag-293.py311.nbi",
                  tmp_path / "game_rules.cut_flag-293.py311.1.nbc"]
    other = [tmp_path / "elsewhere.f-1.py311.nbi", tmp_path / "game_rules.cpython-311.pyc"]
    for p in core_files + other:
        p.write_bytes(b"x")
    assert jit_cache.clear_if_stale(tmp_path, "digest-a") == 2
    assert not any(p.exists() for p in core_files) and all(p.exists() for p in other)
    assert (tmp_path / jit_cache.STAMP_NAME).read_text().strip() == "digest-a"
    core_files[0].write_bytes(b"x")
    assert jit_cache.clear_if_stale(tmp_path, "digest-a") == 0  # same sources: kept
    assert core_files[0].exists()
    assert jit_cache.clear_if_stale(tmp_path, "digest-b") == 1


@pytest.mark.slow
def test_a_changed_callee_module_recompiles_the_kernel(tmp_path):
    """numba alone would load ``game_rules.cut_flag`` from its cache after an edit of
    ``network.py`` (game_rules.py is unchanged); the core's source stamp makes it recompile."""
    pkg = tmp_path / "src" / "gym_powergrid"
    shutil.copytree(ROOT / "gym_powergrid", pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "params", "*.nbi", "*.nbc"))
    code = f"""
        import numpy as np
        import gym_powergrid
        from gym_powergrid.core.game_rules import cut_flag
        assert gym_powergrid.__file__.startswith({str(pkg)!r}), gym_powergrid.__file__
        cut_flag(0, 0, np.zeros(11, np.int64))
        s = cut_flag.stats
        print("HITS", sum(s.cache_hits.values()), "MISSES", sum(s.cache_misses.values()))
    """
    env = {"PYTHONPATH": str(tmp_path / "src"), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def run() -> str:
        out = _run(code, cwd=tmp_path, **env)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.strip().splitlines()[-1]

    assert run() == "HITS 0 MISSES 1"  # cold
    assert run() == "HITS 1 MISSES 0"  # cached
    with open(pkg / "core" / "network.py", "a") as f:
        f.write("\n# an edited callee module\n")
    assert run() == "HITS 0 MISSES 1"  # stale cache cleared
    assert run() == "HITS 1 MISSES 0"


def test_cold_cache_notice_on_stderr(tmp_path):
    out = _run("""
        from gym_powergrid.core.jit_cache import warn_if_cold
        from gym_powergrid.core.pf_layout import AC_NEWTON
        from gym_powergrid.core.step_kernel import ENV_STEP_BY_MODE
        k = ENV_STEP_BY_MODE[AC_NEWTON]
        print("FIRST", warn_if_cold(k), "SECOND", warn_if_cold(k))
    """, NUMBA_CACHE_DIR=str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "FIRST True SECOND False" in out.stdout
    assert "first run: compiling numba kernels" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
