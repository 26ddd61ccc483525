"""Import layering: ``core/`` builds on nothing above it; ``agents`` and ``runner`` do not import
each other's module at import time; the pieces split out of ``pf_kernel`` keep its names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = sorted(p.stem for p in (ROOT / "gym_powergrid" / "core").glob("*.py")
              if p.stem != "__init__")


def _loaded_after(module: str) -> set[str]:
    """The ``gym_powergrid`` modules a fresh interpreter holds after ``import module``."""
    code = (f"import sys, {module}\n"
            "print('\\n'.join(m for m in sys.modules if m.startswith('gym_powergrid')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    return set(out.split())


@pytest.fixture(scope="module")
def package_modules() -> set[str]:
    """What ``import gym_powergrid`` alone loads (the registration of the ids)."""
    return _loaded_after("gym_powergrid")


@pytest.mark.parametrize("name", CORE)
def test_core_module_imports_no_upper_layer(name, package_modules):
    extra = _loaded_after(f"gym_powergrid.core.{name}") - package_modules
    upper = sorted(m for m in extra if not m.startswith("gym_powergrid.core")
                   and m not in ("gym_powergrid.errors",))
    assert not upper, f"gym_powergrid.core.{name} imports {upper}"


def test_agents_package_does_not_load_runner():
    assert "gym_powergrid.runner" not in _loaded_after("gym_powergrid.agents")


def test_pf_kernel_keeps_its_public_names():
    from gym_powergrid.core import network, pf_kernel, pf_layout, pf_pack

    own = [n for n in dir(pf_layout) if n.isupper() and not hasattr(network, n)]
    assert len(own) > 40
    for name in own + ["PFSizes", "sizes", "pack_grid", "new_workspace", "default_fill_capacity",
                       "workspace_needs_growth", "pack_topology", "pack_injections",
                       "result_views"]:
        src = pf_layout if hasattr(pf_layout, name) else pf_pack
        assert getattr(pf_kernel, name) is getattr(src, name), name
    assert callable(pf_kernel.run_powerflow)
