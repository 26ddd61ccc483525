"""Deployment of a co-simulation: an allocator here, load nodes as local or remote processes.

:class:`SmartGridSimulation` (the SENS ``deploy.py``) starts a :class:`NetworkAllocator` in a
background thread, then nodes:

* :meth:`~SmartGridSimulation.create_local_node`: a ``python -m gym_powergrid.co_sim.node``
  child process (one node, or many multiplexed in one process) with its own log file;
* :meth:`~SmartGridSimulation.create_remote_node`: the same process on another host over SSH
  (paramiko, key file): it checks the package is installed there, uploads the configuration,
  curves and key files to a temporary folder, starts the node detached, and on stop sends it
  SIGTERM (then SIGKILL), downloads its log and removes the folder.

Every process is cleaned up on :meth:`~SmartGridSimulation.stop`, on leaving a ``with`` block,
when a start fails half-way, and at interpreter exit. When this process dies without cleaning
up (``kill -9``), the nodes notice: each stops once its allocator has been silent for its
``allocator_timeout_s``, and every node config carries the allocator's session id, so a node
of an old run is refused by the next one instead of fighting its nodes for their ids.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gym_powergrid.co_sim import _deps
from gym_powergrid.co_sim.allocator import NetworkAllocator
from gym_powergrid.co_sim.config import NodeConfig
from gym_powergrid.co_sim.transport import CurveAuth, check_bind_is_safe
from gym_powergrid.errors import PowerGridError

logger = logging.getLogger(__name__)


class DeploymentError(PowerGridError, RuntimeError):
    """A node could not be started, reached or stopped; the message says where and why."""


def _as_list(config: NodeConfig | Sequence[NodeConfig]) -> list[NodeConfig]:
    return [config] if isinstance(config, NodeConfig) else list(config)


def _configs_json(configs: list[NodeConfig]) -> str:
    import json

    data = [c.to_dict() for c in configs]
    return json.dumps(data[0] if len(data) == 1 else data, sort_keys=True)


class LocalNode:
    """A node process on this machine (see :mod:`gym_powergrid.co_sim.node`).

    Args:
        config: One node configuration, or several to multiplex in one process.
        workdir: Folder for the configuration, log and output files.
        python: Interpreter to run (default: the current one).
        name: File stem (default: the first node id).
    """

    def __init__(
        self,
        config: NodeConfig | Sequence[NodeConfig],
        workdir: str | Path,
        python: str = sys.executable,
        name: str | None = None,
    ) -> None:
        self.configs = _as_list(config)
        self.node_ids = [c.node_id for c in self.configs]
        self.name = name or self.node_ids[0]
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / f"{self.name}.json"
        self.log_path = workdir / f"{self.name}.log"
        self.out_path = workdir / f"{self.name}.out"
        self.config_path.write_text(_configs_json(self.configs))
        with open(self.out_path, "ab") as out:
            self.process = subprocess.Popen(
                [python, "-m", "gym_powergrid.co_sim.node", "--config-file",
                 str(self.config_path), "--log-file", str(self.log_path)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        logger.info("started local node process %s (pid %d)", self.name, self.process.pid)

    @property
    def pid(self) -> int:
        """Process id."""
        return self.process.pid

    def is_alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the process at once (a crash, for fault tests)."""
        if self.is_alive():
            self.process.kill()
        self.process.wait(5)

    def stop(self, timeout: float = 3.0) -> int | None:
        """Wait up to ``timeout`` for a clean exit, then SIGTERM, then SIGKILL; return the code."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(2.0)
        except subprocess.TimeoutExpired:
            logger.warning("node process %s ignored SIGTERM; killing it", self.name)
            self.process.kill()
            return self.process.wait(5)

    def log_text(self) -> str:
        """The node's log plus anything it printed."""
        parts = [p.read_text(errors="replace") for p in (self.log_path, self.out_path)
                 if p.exists()]
        return "".join(parts)


class RemoteNode:
    """A node process on another host, started over SSH with a key file.

    Args:
        hostname: Host to reach over SSH (and to advertise to the allocator by default).
        config: Node configuration(s); local file paths in it are uploaded.
        username: SSH user.
        keyfile: Private key file (a ``.pub`` path is replaced by its private sibling).
        port: SSH port.
        python: Interpreter on the remote host with ``gym-powergrid[cosim]`` installed.
        known_hosts: ``known_hosts`` file with the host's key; None uses the user's files.
        strict_host_key: Refuse hosts whose key is unknown (else accept and log a warning).
        connect_timeout: SSH connection time-out, seconds.
        local_dir: Where the node's log is downloaded on stop.
    """

    def __init__(
        self,
        hostname: str,
        config: NodeConfig | Sequence[NodeConfig],
        *,
        username: str,
        keyfile: str | Path,
        port: int = 22,
        python: str = "python3",
        known_hosts: str | Path | None = None,
        strict_host_key: bool = True,
        connect_timeout: float = 10.0,
        local_dir: str | Path | None = None,
    ) -> None:
        self.hostname = hostname
        self.configs = _as_list(config)
        self.node_ids = [c.node_id for c in self.configs]
        self.name = self.node_ids[0]
        self.python = python
        self.local_dir = Path(local_dir) if local_dir else None
        self.remote_dir: str | None = None
        self.pid: int | None = None
        self.log = ""
        paramiko = _deps.paramiko()
        keyfile = Path(keyfile).expanduser()
        if keyfile.suffix == ".pub" and keyfile.with_suffix("").exists():
            logger.warning("%s is a public key; using the private key %s", keyfile,
                           keyfile.with_suffix(""))
            keyfile = keyfile.with_suffix("")
        self.client = paramiko.SSHClient()
        if known_hosts is not None:
            self.client.load_host_keys(str(known_hosts))
        else:
            self.client.load_system_host_keys()
        self.client.set_missing_host_key_policy(
            paramiko.RejectPolicy() if strict_host_key else paramiko.WarningPolicy()
        )
        try:
            self.client.connect(
                hostname, port=port, username=username, key_filename=str(keyfile),
                timeout=connect_timeout, banner_timeout=connect_timeout,
                auth_timeout=connect_timeout, allow_agent=False, look_for_keys=False,
            )
        except Exception as exc:
            self.client.close()
            raise DeploymentError(f"cannot SSH to {username}@{hostname}:{port}: {exc}") from exc
        try:
            self._start()
        except Exception:
            self.stop(timeout=1.0)
            raise

    def _run(self, command: str, timeout: float = 30.0) -> tuple[int, str, str]:
        _, stdout, stderr = self.client.exec_command(command, timeout=timeout)
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        return stdout.channel.recv_exit_status(), out, err

    def check_installed(self) -> str:
        """Check that the remote interpreter imports the node and its extras; return its version.

        Raises:
            DeploymentError: With the remote error and the install command.
        """
        # find_spec of top-level names does not import them: the check stays cheap
        probe = (
            "import sys, importlib.util as u, importlib.metadata as m\n"
            "missing = [n for n in ('gym_powergrid', 'zmq', 'simpy', 'msgpack') "
            "if u.find_spec(n) is None]\n"
            "if missing: sys.exit('missing modules: ' + ', '.join(missing))\n"
            "print(m.version('gym-powergrid'), sys.version.split()[0])"
        )
        rc, out, err = self._run(f"{shlex.quote(self.python)} -c {shlex.quote(probe)}")
        if rc != 0:
            raise DeploymentError(
                f"{self.hostname}: '{self.python}' cannot import gym_powergrid's co-simulation "
                f"node ({err.strip().splitlines()[-1] if err.strip() else 'exit ' + str(rc)}); "
                f"install it there with: pip install \"gym-powergrid[cosim]\""
            )
        return out.strip()

    def _upload_configs(self, sftp: Any) -> list[NodeConfig]:
        rdir = self.remote_dir
        assert rdir is not None
        uploaded: dict[Path, str] = {}

        def put(local: Path) -> str:
            if local not in uploaded:
                if local.is_dir():
                    target = f"{rdir}/{len(uploaded)}_{local.name}"
                    sftp.mkdir(target)
                    for item in sorted(local.iterdir()):
                        if item.is_file():
                            sftp.put(str(item), f"{target}/{item.name}")
                else:
                    target = f"{rdir}/{len(uploaded)}_{local.name}"
                    sftp.put(str(local), target)
                uploaded[local] = target
            return uploaded[local]

        out = []
        for cfg in self.configs:
            files = {k: put(v) for k, v in cfg.local_files().items()}
            curve = cfg.curve
            if curve is not None:
                curve = CurveAuth(**{
                    name: files.get(f"curve.{name}", getattr(curve, name))
                    for name in ("secret_key_file", "authorized_keys_dir",
                                 "server_public_key_file")
                })
            bind, advertise = cfg.bind, cfg.advertise
            host, _, port = bind.removeprefix("tcp://").rpartition(":")
            if host in ("127.0.0.1", "localhost"):  # unreachable from the allocator's host
                bind, advertise = f"0.0.0.0:{port}", advertise or self.hostname
            check_bind_is_safe(bind, curve)  # a remote node listens on the network
            out.append(cfg.replace(
                bind=bind, advertise=advertise,
                curve_file=files.get("curve_file", cfg.curve_file), curve=curve,
                log_file=None,
                record_file=f"{rdir}/{cfg.node_id}.record.json" if cfg.record_file else None,
            ))
        return out

    def _start(self) -> None:
        version = self.check_installed()
        logger.info("%s has gym_powergrid %s", self.hostname, version)
        rc, out, err = self._run("mktemp -d -t gym-powergrid-cosim.XXXXXX")
        if rc != 0:
            raise DeploymentError(f"{self.hostname}: cannot create a temporary folder: {err}")
        self.remote_dir = rdir = out.strip()
        sftp = self.client.open_sftp()
        try:
            configs = self._upload_configs(sftp)
            with sftp.open(f"{rdir}/node.json", "w") as fh:
                fh.write(_configs_json(configs))
        finally:
            sftp.close()
        q = shlex.quote
        command = (
            f"cd {q(rdir)} || exit 1; setsid nohup {q(self.python)} -m gym_powergrid.co_sim.node "
            f"--config-file {q(rdir + '/node.json')} --log-file {q(rdir + '/node.log')} "
            f"> {q(rdir + '/stdout.log')} 2>&1 < /dev/null & echo $!"
        )
        rc, out, err = self._run(command)
        if rc != 0 or not out.strip().isdigit():
            raise DeploymentError(f"{self.hostname}: cannot start the node: {err or out}")
        self.pid = int(out.strip())
        logger.info("started remote node %s on %s (pid %d, folder %s)", self.name,
                    self.hostname, self.pid, rdir)

    def is_alive(self) -> bool:
        """Whether the remote process is still running."""
        if self.pid is None or self.client.get_transport() is None:
            return False
        rc, _, _ = self._run(f"kill -0 {self.pid}", timeout=10)
        return rc == 0

    def fetch_log(self) -> str:
        """Download the node's log (and stdout) and return it."""
        if self.remote_dir is None or self.client.get_transport() is None:
            return self.log
        rdir = shlex.quote(self.remote_dir)
        _, out, _ = self._run(f"cat {rdir}/node.log {rdir}/stdout.log 2>/dev/null", timeout=20)
        self.log = out
        if self.local_dir is not None:
            self.local_dir.mkdir(parents=True, exist_ok=True)
            (self.local_dir / f"{self.name}.remote.log").write_text(out)
        return out

    def stop(self, timeout: float = 3.0) -> None:
        """Wait up to ``timeout`` for exit, then SIGTERM/SIGKILL; fetch the log; clean up."""
        try:
            if self.pid is not None and self.client.get_transport() is not None:
                deadline = time.monotonic() + timeout
                while self.is_alive() and time.monotonic() < deadline:
                    time.sleep(0.1)
                for sig, wait in (("TERM", 2.0), ("KILL", 1.0)):
                    if not self.is_alive():
                        break
                    self._run(f"kill -{sig} {self.pid}", timeout=10)
                    end = time.monotonic() + wait
                    while self.is_alive() and time.monotonic() < end:
                        time.sleep(0.1)
                self.fetch_log()
            if self.remote_dir is not None and self.client.get_transport() is not None:
                self._run(f"rm -rf {shlex.quote(self.remote_dir)}", timeout=10)
                self.remote_dir = None
        except Exception as exc:  # noqa: BLE001 - cleanup must go on
            logger.warning("cleaning up remote node %s on %s: %s", self.name, self.hostname, exc)
        finally:
            self.client.close()

    def log_text(self) -> str:
        """The last downloaded log."""
        return self.log


def _cleanup(handles: list[Any]) -> None:
    for handle in handles:
        try:
            if isinstance(handle, LocalNode):
                if handle.is_alive():
                    handle.kill()
            else:
                handle.stop(timeout=0.5)
        except Exception:  # noqa: BLE001 - interpreter exit: best effort
            pass


class SmartGridSimulation:
    """An allocator in this process plus load nodes in local or remote processes.

    Args:
        allocator_bind: ``host:port`` of the allocator (use ``0.0.0.0:port`` plus ``advertise``
            for remote nodes).
        advertise: Host that nodes use to reach the allocator when binding a wildcard host.
        mode: ``"lockstep"`` or ``"realtime"``.
        speed: Real-time speed factor.
        curve: CURVE key files of the allocator.
        workdir: Folder for node configurations and logs (default: a temporary folder removed
            on stop).
        python: Interpreter of local node processes.
        **allocator_kwargs: More :class:`NetworkAllocator` arguments (``node_timeout_s``...).
    """

    def __init__(
        self,
        *,
        allocator_bind: str = "127.0.0.1:0",
        advertise: str | None = None,
        mode: str = "lockstep",
        speed: float = 1.0,
        curve: CurveAuth | None = None,
        workdir: str | Path | None = None,
        python: str = sys.executable,
        **allocator_kwargs: Any,
    ) -> None:
        self.mode = mode
        self.speed = speed
        self.python = python
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="gym-powergrid-cosim-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.allocator = NetworkAllocator(
            allocator_bind, advertise=advertise, mode=mode, speed=speed, curve=curve,
            **allocator_kwargs,
        )
        self.allocator.start()
        self.handles: list[LocalNode | RemoteNode] = []
        self.logs: dict[str, str] = {}
        self._finalizer = weakref.finalize(self, _cleanup, self.handles)

    @property
    def address(self) -> str:
        """The allocator's address, to put in node configurations."""
        return self.allocator.address

    def node_config(self, node_id: str, **fields: Any) -> NodeConfig:
        """A :class:`NodeConfig` for this simulation (allocator address, mode and speed set)."""
        fields.setdefault("mode", self.mode)
        fields.setdefault("speed", self.speed)
        fields.setdefault("allocator_id", self.allocator.node_id)
        fields.setdefault("session", self.allocator.session)
        return NodeConfig(node_id=node_id, allocator=self.address, **fields)

    def _own_session(self, config: NodeConfig | Sequence[NodeConfig]) -> list[NodeConfig]:
        """The configs with this run's session id where they have none."""
        return [c if c.session is not None else c.replace(session=self.allocator.session)
                for c in _as_list(config)]

    def create_local_node(
        self, config: NodeConfig | Sequence[NodeConfig], name: str | None = None
    ) -> LocalNode:
        """Start node process(es) on this machine; see :class:`LocalNode`."""
        config = self._own_session(config)
        self._retire([c.node_id for c in config])
        handle = LocalNode(config, self.workdir, python=self.python, name=name)
        self.handles.append(handle)
        return handle

    def _retire(self, node_ids: list[str]) -> None:
        """Forget dead handles of nodes that are being started again (keeping their logs)."""
        for handle in list(self.handles):
            if set(handle.node_ids) & set(node_ids) and not handle.is_alive():
                handle.stop(timeout=0.1)
                self.logs[f"{handle.name}.previous"] = handle.log_text()
                self.handles.remove(handle)

    def create_remote_node(
        self, hostname: str, config: NodeConfig | Sequence[NodeConfig], **ssh: Any
    ) -> RemoteNode:
        """Start a node process on ``hostname`` over SSH; ``ssh`` goes to :class:`RemoteNode`."""
        ssh.setdefault("local_dir", self.workdir)
        config = self._own_session(config)
        self._retire([c.node_id for c in config])
        handle = RemoteNode(hostname, config, **ssh)
        self.handles.append(handle)
        return handle

    def wait_for_nodes(self, node_ids: Sequence[str] | None = None, timeout: float = 20.0) -> None:
        """Wait until the nodes joined (default: every created node).

        Raises:
            DeploymentError: Naming the missing nodes, with the tail of their logs.
        """
        ids = list(node_ids) if node_ids is not None else [
            n for h in self.handles for n in h.node_ids
        ]
        deadline = time.monotonic() + timeout
        dead: list[str] = []
        while True:
            if self.allocator.wait_for_nodes(ids, min(0.25, max(0.0, deadline - time.monotonic()))):
                return
            dead = [n for h in self.handles if isinstance(h, LocalNode) and not h.is_alive()
                    for n in h.node_ids]
            if dead or time.monotonic() >= deadline:
                break
        active = set(self.allocator.active_nodes())
        missing = [n for n in ids if n not in active]
        if dead:
            missing = sorted(set(missing) | set(dead))
        tails = []
        for handle in self.handles:
            if set(handle.node_ids) & set(missing):
                text = handle.log_text() if isinstance(handle, LocalNode) else handle.fetch_log()
                tails.append(f"--- {handle.name} ---\n" + "\n".join(text.splitlines()[-15:]))
        why = f"node processes of {dead} exited" if dead else f"not within {timeout} s"
        raise DeploymentError(
            f"nodes {missing} did not join {self.address} ({why})\n" + "\n".join(tails)
        )

    def stop(self, timeout: float = 5.0) -> dict[str, str]:
        """Stop every node (``stop`` messages, then signals), collect logs, stop the allocator.

        Returns:
            Handle name -> log text.
        """
        try:
            if self.allocator.running:
                self.allocator.stop_nodes(timeout=timeout)
            for handle in list(self.handles):
                handle.stop(timeout=timeout)
                self.logs[handle.name] = handle.log_text()
        finally:
            _cleanup(self.handles)
            self.handles.clear()
            self.allocator.close()
            if self._own_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return self.logs

    def __enter__(self) -> SmartGridSimulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def process_exists(pid: int) -> bool:
    """Whether a local process ``pid`` exists (used by tests)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
