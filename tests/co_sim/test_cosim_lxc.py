"""The LV example through classic-LXC containers, and the offline-install checks.

``test_lv_example_in_lxc_containers`` (marked ``lxc``) provisions two containers with
:func:`gym_powergrid.co_sim.lxc.up`, runs the LV example lock-step with its five clients in
them and compares with the same scenario on local node processes (to 1e-9 p.u.), kills a
container mid-run and checks the report, then tears down and checks that nothing is left.
It needs root and Debian's ``lxc`` and ``debootstrap`` (CI: ``apt-get install -y lxc
debootstrap``; the first run builds lxc's debootstrap cache from the Debian registry) and is
skipped with the reason otherwise. The stopped base container and the wheelhouse are kept
between runs as a cache (``GYM_POWERGRID_LXC_KEEP_BASE=0`` removes them too).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gym_powergrid.co_sim import lxc
from gym_powergrid.co_sim import wheelhouse as whm
from gym_powergrid.co_sim.deploy import DeploymentError
from gym_powergrid.co_sim.scenario import load_scenario, run_scenario
from gym_powergrid.errors import ConfigurationError

STEPS = 24
KILL_AT = 6


def _lxc_unavailable() -> str | None:
    try:
        lxc.check_host()
    except lxc.LxcError as exc:
        return str(exc)
    try:
        import paramiko  # noqa: F401
    except ImportError:
        return 'paramiko missing (pip install "gym-powergrid[cosim]")'
    return None


def _leftovers(prefix: str) -> list[str]:
    """Processes and interfaces still carrying the prefix."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f"{prefix}-" in cmd and "pytest" not in cmd:
                found.append(f"pid {proc.name}: {cmd}")
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    found += [ln for ln in links.splitlines() if ln.startswith(prefix)]
    return found


@pytest.mark.lxc
@pytest.mark.timeout(1500)
def test_lv_example_in_lxc_containers(tmp_path: Path) -> None:
    reason = _lxc_unavailable()
    if reason:
        pytest.skip(reason)
    lab = lxc.LxcLab(prefix="gpctest", subnet=lxc.TEST_SUBNET)
    keep_base = os.environ.get("GYM_POWERGRID_LXC_KEEP_BASE", "1") != "0"
    try:
        path = lxc.up(2, lab)
        scn = load_scenario(path)
        hosts = {n["id"]: n["host"]["hostname"] for n in scn.nodes}
        assert hosts == {"client1": lab.address(1), "client2": lab.address(2),
                         "client3": lab.address(1), "client4": lab.address(2),
                         "client5": lab.address(1)}
        assert lxc.status(lab)["containers"] == {lab.node(1): True, lab.node(2): True,
                                                 lab.base: False}
        with pytest.raises(lxc.LxcError, match=f"container {lab.prefix}-99 failed to start"):
            lxc._start(lab, f"{lab.prefix}-99", lab.address(99), timeout=5)
        remote = run_scenario(scn, steps=STEPS, workdir=tmp_path / "lxc")
        local_scn = dataclasses.replace(
            scn, nodes=[{**n, "host": "local"} for n in scn.nodes],
            allocator={**scn.allocator, "bind": "127.0.0.1:0"})
        local = run_scenario(local_scn, steps=STEPS, workdir=tmp_path / "local")
        assert len(remote["rounds"]) == len(local["rounds"]) == STEPS
        for r, q in zip(remote["rounds"], local["rounds"]):
            assert not r["late"] and not r["gone"] and r["converged"]
            for key in ("vm_pu", "bus_vm_pu"):
                assert r[key].keys() == q[key].keys()
                for name, value in r[key].items():
                    assert abs(value - q[key][name]) <= 1e-9, (r["step"], key, name)
        assert len({r["vm_pu"]["client1"] for r in remote["rounds"]}) > 1
        assert "client2 stops" in remote["logs"]["client2"]  # the log came back from the node

        # kill container 2 (clients 2 and 4) mid-run: reported late, then gone
        def kill(record: dict[str, Any]) -> None:
            if record["step"] == KILL_AT:
                subprocess.run(["lxc-stop", "-n", lab.node(2), "-k"], check=True, timeout=60)

        killed = run_scenario(scn, steps=STEPS, workdir=tmp_path / "killed", progress=kill)
        rounds = killed["rounds"]
        assert len(rounds) == STEPS and all(r["converged"] for r in rounds)
        before, after = rounds[:KILL_AT + 1], rounds[KILL_AT + 1:]
        assert all(not r["late"] and not r["gone"] for r in before)
        # as with local node processes: late while the allocator waits, gone once silent for
        # node_timeout_s (here at once: step_timeout_s > node_timeout_s), never anybody else
        assert all(set(r["late"]) | set(r["gone"]) <= {"client2", "client4"} for r in after)
        assert all(set(r["gone"]) == {"client2", "client4"} for r in after[3:])
        assert not lxc.status(lab)["containers"][lab.node(2)]
        # the surviving container's clients kept feeding the grid, as with local nodes
        for r, q in zip(rounds, local["rounds"]):
            for name in ("client1", "client3", "client5"):
                assert name in r["vm_pu"]
            if r["step"] <= KILL_AT:
                assert abs(r["bus_vm_pu"][1] - q["bus_vm_pu"][1]) <= 1e-9
    finally:
        removed = lxc.down(lab, keep_base=keep_base)
    assert lab.node(1) in removed and lab.node(2) in removed and lab.bridge in removed
    assert lxc.containers(lab) == ([lab.base] if keep_base else [])
    assert lxc.status(lab)["bridge"] is None
    assert not lab.key.exists() and not lab.known_hosts.exists() and not lab.scenario.exists()
    assert _leftovers(lab.prefix) == []
    if keep_base:
        assert not lxc.status(lab)["containers"][lab.base]


def test_lab_names_and_subnet_checks() -> None:
    lab = lxc.LxcLab()
    assert (lab.bridge, lab.base, lab.node(3)) == ("gpcosim0", "gpcosim-base", "gpcosim-3")
    assert (lab.address(0), lab.address(-1), lab.address(1)) == (
        "198.19.254.1", "198.19.254.2", "198.19.254.11")
    for bad in ("10.0.3.0/24", "192.168.1.0/24", "8.8.8.0/24", "198.20.0.0/24"):
        with pytest.raises(ConfigurationError, match="198.18.0.0/15"):
            lxc.LxcLab(subnet=bad)
    with pytest.raises(ConfigurationError, match="prefix"):
        lxc.LxcLab(prefix="Bad-Prefix")
    with pytest.raises(ConfigurationError, match="-n must be in 1..243"):
        lxc.up(0, lab)


def test_check_host_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(lxc.LxcError, match="need root"):
        lxc.check_host()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(lxc.shutil, "which", lambda tool: None)
    with pytest.raises(lxc.LxcError, match="apt-get install -y lxc debootstrap"):
        lxc.check_host()


class _Stream:
    def __init__(self, data: bytes, rc: int = 0) -> None:
        self.data = data
        self.channel = self
        self.rc = rc

    def read(self) -> bytes:
        return self.data

    def recv_exit_status(self) -> int:
        return self.rc


class _LocalClient:
    """The part of paramiko.SSHClient that install_on_node uses, running commands here."""

    def exec_command(self, command: str, timeout: float | None = None) -> tuple:
        proc = subprocess.run(["bash", "-c", command], capture_output=True, timeout=timeout)
        return None, _Stream(proc.stdout, proc.returncode), _Stream(proc.stderr)


def _fake_python(tmp_path: Path, version: str) -> str:
    exe = tmp_path / f"python{version}"
    exe.write_text(f"#!/bin/sh\necho {version.replace('.', ' ')}\n")
    exe.chmod(0o755)
    return str(exe)


def test_node_python_too_old_or_missing_is_a_clear_error(tmp_path: Path) -> None:
    client = _LocalClient()
    with pytest.raises(DeploymentError, match=r"Python 3\.8\.10, too old: .*>= 3\.10"):
        whm.node_python_version(client, "lab1", _fake_python(tmp_path, "3.8.10"))
    with pytest.raises(DeploymentError, match="cannot run '/no/python3'.*python3-venv"):
        whm.node_python_version(client, "lab1", "/no/python3")
    assert whm.node_python_version(client, "lab1", _fake_python(tmp_path, "3.12.1")) == (3, 12, 1)
    wh = whm.Wheelhouse(tmp_path, "gym_powergrid-0.1.0-py3-none-any.whl", "0.1.0", "3.11", "0")
    with pytest.raises(DeploymentError, match="--python-version 3.12"):
        whm.install_on_node(client, "lab1", wh, venv=str(tmp_path / "venv"),
                            python=_fake_python(tmp_path, "3.12.1"))


def test_wheelhouse_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="gym-powergrid cosim wheelhouse"):
        whm.load_wheelhouse(tmp_path)
    with pytest.raises(ConfigurationError, match=r">= 3\.10"):
        whm.build_wheelhouse(tmp_path, python_version="3.9")
    with pytest.raises(ConfigurationError, match="like '3.11'"):
        whm.build_wheelhouse(tmp_path, python_version="3")


def test_min_python_matches_pyproject() -> None:
    root = whm.project_root()
    if root is None:
        pytest.skip("not a source checkout")
    text = (root / "pyproject.toml").read_text()
    assert f'requires-python = ">={whm.MIN_PYTHON[0]}.{whm.MIN_PYTHON[1]}"' in text
