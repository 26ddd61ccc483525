"""pypownet 2.2.9 reference traces: where things live, the side venv, the trace file format.

Shared by ``record_traces.py`` (writes traces), ``replay.py`` (plays them on PowerGridEnv) and
the tests. Runs with the project's python; pypownet itself only ever runs in the side venv.

A trace is one ``.npz`` file per (parameter folder, chronic, scenario), written
deterministically (fixed zip timestamps, sorted members, DEFLATE) so that recording twice gives
identical bytes. Index conventions: ``action[k]``, ``action_applied[k]``, ``reward[k]``,
``flag[k]`` describe step ``k`` (0-based); ``obs_*[k + 1]`` is the observation the agent sees
after it (after a soft game over: the observation of the restart, one timestep later);
``obs_*[0]`` is the first observation. ``obs_valid[k + 1]`` is False when there is none
(a game over at the chronic's last timestep: pypownet would restart in the next chronic).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TRACES_DIR = HERE / "traces"
DRIVER = HERE / "_pypownet_driver.py"

PYPOWNET_VERSION = "2.2.9"
PIP_REQUIREMENTS = (f"pypownet=={PYPOWNET_VERSION}", "gym==0.17.3", "numpy<2")
#: environment variable naming the side venv (default: :data:`DEFAULT_VENV`)
VENV_ENV = "GYM_POWERGRID_PYPOWNET_VENV"
#: environment variable naming a folder that holds pypownet's parameter folders
PARAMETERS_ENV = "GYM_POWERGRID_PYPOWNET_PARAMETERS"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gym_powergrid"
DEFAULT_VENV = CACHE / f"pypownet-{PYPOWNET_VERSION}"
WHEEL_PARAMETERS = CACHE / f"pypownet-{PYPOWNET_VERSION}-parameters"

LEVEL = "level0"
GAME_OVER_MODE = "soft"
SCENARIOS = ("do_nothing", "scripted")
#: folder -> chronic indices recorded (pypownet's ``start_id``; chronics sorted by name)
FOLDERS = {"default14": tuple(range(12)), "default30": (0,), "default118": (0,)}

#: pypownet's step flags (the exception class its step returns), as stored in ``flag``
FLAG_NAMES = {0: None, 1: "IllegalActionException", 2: "DivergingLoadflowException",
              3: "TooManyConsumptionsCut", 4: "TooManyProductionsCut"}
#: game-over flags and gym_powergrid's ``info["game_over_reason"]`` for each
GAME_OVER_REASON = {2: "diverged", 3: "too_many_loads_cut", 4: "too_many_prods_cut"}
#: pypownet's reward list order (its ``CustomRewardSignal``); the trace's ``reward`` columns
PYPOWNET_REWARD_NAMES = ("load_cut_reward", "prod_cut_reward", "action_cost_reward",
                         "reference_grid_distance_reward", "line_usage_reward")


# ---------------------------------------------------------------------- side venv
def side_venv(path: str | os.PathLike | None = None) -> Path:
    """The side venv: ``path``, else ``$GYM_POWERGRID_PYPOWNET_VENV``, else the cache one."""
    if path:
        return Path(path).expanduser()
    env = os.environ.get(VENV_ENV)
    return Path(env).expanduser() if env else DEFAULT_VENV


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def venv_ready(venv: Path) -> str | None:
    """None when ``venv`` runs pypownet 2.2.9, else the reason it does not."""
    py = venv_python(venv)
    if not py.exists():
        return f"{py} does not exist"
    code = ("from importlib.metadata import version; import pypownet.environment; "
            "print(version('pypownet'))")
    try:
        out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{py} does not run: {exc}"
    if out.returncode != 0:
        return f"{py} cannot import pypownet: {out.stderr.strip().splitlines()[-1:]}"
    if out.stdout.strip() != PYPOWNET_VERSION:
        return f"{py} has pypownet {out.stdout.strip()}, not {PYPOWNET_VERSION}"
    return None


def find_base_python() -> str:
    """A python for the side venv: pypownet 2.2.9 and gym 0.17.3 install on 3.8 to 3.11."""
    for name in ("python3.11", "python3.10", "python3.9", "python3.8"):
        found = shutil.which(name)
        if found:
            return found
    return sys.executable


def build_venv(venv: Path, python: str | None = None, log=print) -> Path:
    """Create ``venv`` (if needed) and pip-install pypownet 2.2.9 into it.

    Raises:
        RuntimeError: when venv creation or pip fails (the message holds pip's last lines).
    """
    if venv_ready(venv) is None:
        return venv
    base = python or find_base_python()
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = []
    if not venv_python(venv).exists():
        steps.append([base, "-m", "venv", str(venv)])
    steps.append([str(venv_python(venv)), "-m", "pip", "install", "--quiet", *PIP_REQUIREMENTS])
    for cmd in steps:
        log("$ " + " ".join(cmd))
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-15:])
            raise RuntimeError(f"building the pypownet side venv failed at {' '.join(cmd)}:\n"
                               f"{tail}\nFix it or point {VENV_ENV} (or --venv) at a venv "
                               f"with {' '.join(PIP_REQUIREMENTS)}")
    why = venv_ready(venv)
    if why is not None:
        raise RuntimeError(f"the side venv {venv} was built but does not work: {why}")
    return venv


# ---------------------------------------------------------------------- parameter folders
def _has_folders(root: Path) -> bool:
    return all((root / f / LEVEL / "configuration.yaml").is_file() for f in FOLDERS)


def parameters_root(venv: str | os.PathLike | None = None, download: bool = False,
                    log=print) -> Path | None:
    """Folder holding pypownet's ``default14``, ``default30``, ``default118``.

    Looked for, in order: ``$GYM_POWERGRID_PYPOWNET_PARAMETERS``; ``<side venv>/parameters``
    (pypownet's wheel installs them there); the cache's copy extracted from the wheel. With
    ``download=True`` and none found, ``pip download pypownet==2.2.9 --no-deps`` fetches the
    wheel (19 MB) and its ``parameters/`` are extracted into the cache. None if not found.
    """
    env = os.environ.get(PARAMETERS_ENV)
    candidates = [Path(env).expanduser()] if env else []
    candidates += [side_venv(venv) / "parameters", WHEEL_PARAMETERS]
    for root in candidates:
        if _has_folders(root):
            return root
    if not download:
        return None
    return _extract_wheel_parameters(log)


def _extract_wheel_parameters(log=print) -> Path | None:
    tmp = CACHE / "wheel-download"
    tmp.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(tmp),
           f"pypownet=={PYPOWNET_VERSION}"]
    log("$ " + " ".join(cmd))
    out = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(tmp.glob(f"pypownet-{PYPOWNET_VERSION}-*.whl"))
    if out.returncode != 0 or not wheels:
        log(f"pip download failed: {(out.stdout + out.stderr).strip()[-500:]}")
        return None
    prefix = f"pypownet-{PYPOWNET_VERSION}.data/data/parameters/"
    partial = WHEEL_PARAMETERS.with_name(WHEEL_PARAMETERS.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(wheels[0]) as z:
        for name in z.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                dest = partial / name[len(prefix):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(name))
    shutil.rmtree(WHEEL_PARAMETERS, ignore_errors=True)
    partial.rename(WHEEL_PARAMETERS)
    shutil.rmtree(tmp, ignore_errors=True)
    return WHEEL_PARAMETERS if _has_folders(WHEEL_PARAMETERS) else None


# ---------------------------------------------------------------------- trace files
def trace_name(folder: str, chronic: str, scenario: str) -> str:
    return f"{folder}_{chronic}_{scenario}.npz"


def write_trace(path: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write a trace deterministically (same content, same bytes)."""
    members = dict(arrays)
    members["meta_json"] = np.frombuffer(
        json.dumps(meta, sort_keys=True, separators=(",", ":")).encode(), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as z:
        for key in sorted(members):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(members[key]),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, buf.getvalue(), compresslevel=9)
    tmp.replace(path)


@dataclass(frozen=True)
class Trace:
    """One recorded pypownet run (see the module docstring for the index conventions)."""

    path: Path
    meta: dict
    arrays: dict

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def folder(self) -> str:
        return self.meta["folder"]

    @property
    def chronic(self) -> str:
        return self.meta["chronic_name"]

    @property
    def scenario(self) -> str:
        return self.meta["scenario"]

    @property
    def n_steps(self) -> int:
        return int(self.arrays["action"].shape[0])

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def datetime(self, obs_index: int) -> str:
        m = int(self.arrays["datetime_minutes"][obs_index])
        return str(np.datetime64(m, "m")).replace("T", " ")


def read_trace(path: str | os.PathLike) -> Trace:
    """Read a trace written by :func:`write_trace`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a trace (no ``meta_json`` member).
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if "meta_json" not in arrays:
        raise ValueError(f"{path} is not a pypownet trace (no meta_json member); record traces "
                         "with tests/pypownet/record_traces.py")
    meta = json.loads(bytes(arrays.pop("meta_json")).decode())
    return Trace(path, meta, arrays)


def committed_traces() -> list[Path]:
    return sorted(TRACES_DIR.glob("*.npz"))
