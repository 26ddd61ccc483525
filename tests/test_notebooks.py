"""Execute the tutorial notebooks top to bottom (nbclient) so that they never rot.

Each notebook runs in a fresh kernel whose working directory is a temporary folder (what the
notebooks write, e.g. ``runs/``, lands there). A failing cell fails the test with the cell's
traceback.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = ("01_quickstart.ipynb", "02_compare_agents.ipynb", "03_train_sb3.ipynb",
            "04_graph_gnn.ipynb")
#: Seconds allowed per cell; generous for loaded CI machines (each notebook takes well under a
#: minute on an idle 2-core machine).
CELL_TIMEOUT = 300
#: What each notebook needs beyond the core install.
NEEDS = {"03_train_sb3.ipynb": ("stable_baselines3", "sb3_contrib"),
         "04_graph_gnn.ipynb": ("torch",)}


def test_the_tutorials_are_all_there():
    assert sorted(p.name for p in NOTEBOOKS_DIR.glob("*.ipynb")) == sorted(EXPECTED)


def _shipped_case14() -> bool:
    from gym_powergrid.envs.sources import shipped_environments

    return "case14" in shipped_environments()


@pytest.mark.timeout(3 * CELL_TIMEOUT)
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_top_to_bottom(name, tmp_path):
    if not _shipped_case14():
        pytest.skip("the notebooks use the shipped PowerGrid-case14-v0 environment")
    for module in NEEDS.get(name, ()) + ("matplotlib",):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{name} needs {module}")
    nb = nbformat.read(NOTEBOOKS_DIR / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError with the traceback on the first failing cell
    seconds = time.perf_counter() - t0
    errors = [o for cell in nb.cells if cell.cell_type == "code"
              for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    print(f"{name}: {seconds:.1f} s")
