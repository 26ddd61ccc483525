"""Offline install of ``gym-powergrid[cosim]`` on nodes that cannot reach a package registry.

A *wheelhouse* is a folder of wheels built on this host (which can reach PyPI): the project's
own wheel plus every dependency of ``gym-powergrid[cosim]``, for the nodes' Python version, and
a ``wheelhouse.json`` manifest (project wheel, version, Python ``major.minor``, sha256)::

    gym-powergrid cosim wheelhouse ./wheelhouse                     # this host's Python
    gym-powergrid cosim wheelhouse ./wheelhouse --python-version 3.12  # other nodes' Python

:func:`install_on_node` then runs over an open SSH connection (paramiko): it checks the node's
Python (``>= 3.10``, and the wheelhouse's ``major.minor``), creates a venv there if needed,
and, unless the venv already holds this exact project wheel (version and sha256 checked), uploads
the missing wheels and installs them with ``pip install --no-index``. The SSH deployment
(:class:`~gym_powergrid.co_sim.deploy.RemoteNode` with ``wheelhouse=``) calls it before
starting each node.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gym_powergrid.co_sim.deploy import DeploymentError
from gym_powergrid.errors import ConfigurationError

logger = logging.getLogger(__name__)

MIN_PYTHON = (3, 10)
"""Oldest Python the package supports (``requires-python`` of pyproject.toml)."""
DEFAULT_VENV = ".gym-powergrid/venv"
"""Venv on a node, relative to the SSH user's home folder."""
MANIFEST = "wheelhouse.json"
_MARKER = "gym-powergrid-wheel.sha256"  # in the node's venv: sha256 of the installed wheel
_PROJECT_FILES = ("pyproject", "setup", "README", "LICENSE", "MANIFEST")  # copied to build
_PLATFORMS = ("manylinux_2_17", "manylinux_2_24", "manylinux_2_26", "manylinux_2_27",
              "manylinux_2_28", "manylinux_2_31", "manylinux_2_34", "manylinux2014")


@dataclass(frozen=True)
class Wheelhouse:
    """A built wheelhouse (see the module docstring).

    Attributes:
        path: The folder.
        project_wheel: File name of the gym-powergrid wheel in it.
        version: Its version.
        python: ``major.minor`` of the Python the binary wheels were built for.
        sha256: Digest of the project wheel (what a node's venv is checked against).
    """

    path: Path
    project_wheel: str
    version: str
    python: str
    sha256: str

    def wheels(self) -> list[Path]:
        """The wheel files."""
        return sorted(self.path.glob("*.whl"))


def project_root() -> Path | None:
    """The source checkout holding the imported package, or None for an installed wheel."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pip(args: list[str], what: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    logger.info("+ %s", " ".join(cmd))
    # fixed zip timestamps: the same sources give the same wheel, so nodes are not reinstalled
    env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "315532800")}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise DeploymentError(f"{what} failed (pip exit {proc.returncode}):\n{tail}")


def build_wheelhouse(
    dest: str | Path,
    *,
    source: str | Path | None = None,
    python_version: str | None = None,
    machine: str | None = None,
) -> Wheelhouse:
    """Build a wheelhouse for nodes: the project's wheel plus its ``[cosim]`` dependencies.

    Args:
        dest: Output folder (created; wheels already there are reused by pip).
        source: Project folder (with pyproject.toml) or a gym-powergrid wheel; default the
            checkout this package is imported from.
        python_version: ``major.minor`` of the nodes' Python; default this interpreter's.
            Another version downloads binary wheels only (``pip download --only-binary``).
        machine: CPU architecture of the nodes for another Python version (default this
            host's, e.g. ``x86_64``).

    Returns:
        The :class:`Wheelhouse`; its manifest is written to ``dest/wheelhouse.json``.

    Raises:
        ConfigurationError: No source found, or a bad ``python_version``.
        DeploymentError: pip failed (its last lines are in the message).
    """
    dest = Path(dest).expanduser().resolve()
    dest.mkdir(parents=True, exist_ok=True)
    src = Path(source).expanduser().resolve() if source else project_root()
    if src is None or not (src.suffix == ".whl" or (src / "pyproject.toml").is_file()):
        raise ConfigurationError(
            f"no gym-powergrid source to build a wheel from ({source or 'this install'}): pass "
            "the project folder (with pyproject.toml) or a gym_powergrid-*.whl as source"
        )
    host = f"{sys.version_info[0]}.{sys.version_info[1]}"
    python_version = python_version or host
    parts = python_version.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ConfigurationError(f"python_version must look like '3.11', got {python_version!r}")
    if tuple(int(p) for p in parts) < MIN_PYTHON:
        raise ConfigurationError(
            f"python_version {python_version} is older than gym-powergrid supports "
            f"(>= {'.'.join(map(str, MIN_PYTHON))})")
    for old in dest.glob("gym_powergrid-*.whl"):
        old.unlink()  # the project wheel is rebuilt every time: one per wheelhouse
    if src.suffix == ".whl":
        project = dest / src.name
        project.write_bytes(src.read_bytes())
    else:
        with tempfile.TemporaryDirectory(prefix="gym-powergrid-wheel-") as tmp:
            # a clean copy: no stale build/ folder (deleted modules) ends up in the wheel
            for item in src.iterdir():
                if item.name == "gym_powergrid":
                    shutil.copytree(item, Path(tmp) / item.name,
                                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                elif item.is_file() and item.name.split(".")[0] in _PROJECT_FILES:
                    shutil.copy2(item, tmp)
            _pip(["wheel", "--quiet", "--no-deps", "-w", str(dest), tmp],
                 f"building the gym-powergrid wheel from {src}")
        project = next(dest.glob("gym_powergrid-*.whl"))
    version = project.name.split("-")[1]
    spec = f"gym-powergrid[cosim]=={version}"
    if python_version == host:
        _pip(["wheel", "--quiet", "-w", str(dest), "--find-links", str(dest), spec],
             "building the dependency wheels")
    else:
        arch = machine or platform.machine()
        plats = [a for p in _PLATFORMS for a in ("--platform", f"{p}_{arch}")]
        _pip(["download", "--quiet", "--only-binary=:all:", "--python-version", python_version,
              "--implementation", "cp", *plats, "-d", str(dest), "--find-links", str(dest),
              spec], f"downloading dependency wheels for Python {python_version}")
    wh = Wheelhouse(dest, project.name, version, python_version, _sha256(project))
    (dest / MANIFEST).write_text(json.dumps(
        {"project_wheel": wh.project_wheel, "version": wh.version, "python": wh.python,
         "sha256": wh.sha256}, indent=2, sort_keys=True))
    logger.info("wheelhouse %s: %d wheels for Python %s", dest, len(wh.wheels()), python_version)
    return wh


def load_wheelhouse(path: str | Path) -> Wheelhouse:
    """Read a wheelhouse built by :func:`build_wheelhouse`.

    Raises:
        ConfigurationError: No manifest, or its project wheel is missing.
    """
    path = Path(path).expanduser().resolve()
    try:
        data = json.loads((path / MANIFEST).read_text())
        wh = Wheelhouse(path, str(data["project_wheel"]), str(data["version"]),
                        str(data["python"]), str(data["sha256"]))
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigurationError(
            f"{path} is not a wheelhouse ({exc}); build one with: "
            f"gym-powergrid cosim wheelhouse {path}") from None
    if not (path / wh.project_wheel).is_file():
        raise ConfigurationError(f"wheelhouse {path} lacks {wh.project_wheel}; rebuild it")
    return wh


def _run(client: Any, command: str, timeout: float = 60.0) -> tuple[int, str, str]:
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode(errors="replace")
    err = stderr.read().decode(errors="replace")
    return stdout.channel.recv_exit_status(), out, err


def _last_line(text: str, rc: int) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else f"exit {rc}"


def node_python_version(client: Any, host: str, python: str = "python3") -> tuple[int, ...]:
    """The ``(major, minor, micro)`` version of ``python`` on the node.

    Raises:
        DeploymentError: No such interpreter, or it is older than :data:`MIN_PYTHON`.
    """
    q = shlex.quote
    rc, out, err = _run(client, f"{q(python)} -c {q('import sys; print(*sys.version_info[:3])')}")
    need = ".".join(map(str, MIN_PYTHON))
    if rc != 0:
        raise DeploymentError(
            f"{host}: cannot run '{python}' ({_last_line(err, rc)}); install Python >= {need} "
            "with its venv module there (Debian/Ubuntu: apt-get install python3 python3-venv) "
            "or give its path as the host's 'python'")
    version = tuple(int(v) for v in out.split())
    if version[:2] < MIN_PYTHON:
        raise DeploymentError(
            f"{host}: '{python}' is Python {'.'.join(map(str, version))}, too old: "
            f"gym-powergrid needs Python >= {need}; install a newer one there (Debian bookworm "
            "has 3.11) and give its path as the host's 'python'")
    return version


def _installed(client: Any, venv: str) -> tuple[str, str]:
    """(version, wheel sha256) of gym-powergrid in the node's venv, or empty strings."""
    q = shlex.quote
    probe = (
        "import sys, importlib.metadata as m, importlib.util as u, pathlib\n"
        "missing = [n for n in ('gym_powergrid', 'zmq', 'simpy', 'msgpack') "
        "if u.find_spec(n) is None]\n"
        "if missing: sys.exit('missing ' + ' '.join(missing))\n"
        f"marker = pathlib.Path(sys.prefix, {_MARKER!r})\n"
        "print(m.version('gym-powergrid'), marker.read_text().strip() if marker.exists() "
        "else '-')"
    )
    rc, out, _ = _run(client, f"{q(venv + '/bin/python')} -c {q(probe)}")
    parts = out.split()
    return (parts[0], parts[1]) if rc == 0 and len(parts) == 2 else ("", "")


def install_on_node(
    client: Any, host: str, wheelhouse: Wheelhouse, *, venv: str = DEFAULT_VENV,
    python: str = "python3", timeout: float = 900.0,
) -> str:
    """Make ``venv`` on the node hold exactly the wheelhouse's gym-powergrid; return its python.

    Args:
        client: A connected ``paramiko.SSHClient``.
        host: Host name, for messages.
        wheelhouse: From :func:`build_wheelhouse` / :func:`load_wheelhouse`.
        venv: Venv folder on the node (relative paths are relative to the SSH user's home).
        python: Interpreter on the node that creates the venv.
        timeout: Seconds allowed for ``pip install`` there.

    Raises:
        DeploymentError: Python missing or too old, or of another version than the
            wheelhouse's; venv creation or pip failed; version check failed after install.
    """
    q = shlex.quote
    version = node_python_version(client, host, python)
    if f"{version[0]}.{version[1]}" != wheelhouse.python:
        raise DeploymentError(
            f"{host}: '{python}' is Python {version[0]}.{version[1]} but the wheelhouse "
            f"{wheelhouse.path} holds wheels for Python {wheelhouse.python}; build one for the "
            f"node with: gym-powergrid cosim wheelhouse DIR --python-version "
            f"{version[0]}.{version[1]}")
    if _installed(client, venv) == (wheelhouse.version, wheelhouse.sha256):
        logger.info("%s: %s already has gym-powergrid %s (%s)", host, venv, wheelhouse.version,
                    wheelhouse.sha256[:12])
        return f"{venv}/bin/python"
    rc, _, err = _run(client, f"test -x {q(venv + '/bin/python')} || {q(python)} -m venv "
                      f"{q(venv)}", timeout=120)
    if rc != 0:
        raise DeploymentError(
            f"{host}: cannot create the venv {venv} ({_last_line(err, rc)}); install the venv "
            "module there (Debian/Ubuntu: apt-get install python3-venv)")
    remote = f"{venv}/wheelhouse"
    _run(client, f"mkdir -p {q(remote)}")
    sftp = client.open_sftp()
    try:
        present = {a.filename: a.st_size for a in sftp.listdir_attr(remote)}
        sent = 0
        for wheel in wheelhouse.wheels():
            if present.get(wheel.name) != wheel.stat().st_size:
                sftp.put(str(wheel), f"{remote}/{wheel.name}")
                sent += 1
    finally:
        sftp.close()
    logger.info("%s: uploaded %d wheels to %s", host, sent, remote)
    pip = f"{q(venv + '/bin/python')} -m pip --disable-pip-version-check install --quiet " \
          f"--no-index --find-links {q(remote)}"
    project = q(f"{remote}/{wheelhouse.project_wheel}")
    for args in (f"{project}[cosim]", f"--force-reinstall --no-deps {project}"):
        rc, out, err = _run(client, f"{pip} {args}", timeout=timeout)
        if rc != 0:
            raise DeploymentError(
                f"{host}: offline install into {venv} failed (pip exit {rc}):\n"
                + "\n".join((err or out).strip().splitlines()[-12:]))
    _run(client, f"cd {q(venv)} && echo {wheelhouse.sha256} > {_MARKER}")
    found = _installed(client, venv)
    if found != (wheelhouse.version, wheelhouse.sha256):
        raise DeploymentError(
            f"{host}: after installing, {venv} reports gym-powergrid {found[0] or 'missing'} "
            f"instead of {wheelhouse.version} ({wheelhouse.sha256[:12]})")
    logger.info("%s: installed gym-powergrid %s into %s", host, wheelhouse.version, venv)
    return f"{venv}/bin/python"


def add_parser(sub: Any, common: Any) -> None:
    """The ``gym-powergrid cosim wheelhouse`` sub-command."""
    p = sub.add_parser("wheelhouse", parents=[common],
                       help="build a wheelhouse for offline node installs")
    p.add_argument("directory", type=Path, help="output folder")
    p.add_argument("--source", type=Path,
                   help="project folder or gym_powergrid wheel (default: this checkout)")
    p.add_argument("--python-version", help="nodes' Python major.minor (default: this one's)")
    p.add_argument("--machine", help="nodes' CPU architecture for another Python version")


def run_cli(args: Any) -> int:
    """Run ``gym-powergrid cosim wheelhouse``."""
    wh = build_wheelhouse(args.directory, source=args.source,
                          python_version=args.python_version, machine=args.machine)
    print(f"wrote {wh.path}: {len(wh.wheels())} wheels for Python {wh.python} "  # noqa: T201
          f"(gym-powergrid {wh.version}, sha256 {wh.sha256[:12]})")
    return 0
