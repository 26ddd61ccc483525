"""A node deployed over SSH into a network namespace (veth pair + Debian's sshd) started here.

Needs root (network namespaces), ``ip`` (iproute2), ``/usr/sbin/sshd`` and ``ssh-keygen``
(Debian's openssh-server) and paramiko; otherwise the test is skipped with the reason. In CI:
``apt-get install -y openssh-server iproute2``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gym_powergrid.co_sim.bridge import PandapowerBridge
from gym_powergrid.co_sim.deploy import DeploymentError, process_exists
from gym_powergrid.co_sim.keys import generate_curve_keys
from gym_powergrid.co_sim.scenarios import lv_example_net
from gym_powergrid.co_sim.transport import CurveAuth
from gym_powergrid.errors import ConfigurationError

pytestmark = pytest.mark.timeout(90)

SSHD = "/usr/sbin/sshd"


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=20)


@pytest.fixture
def ssh_namespace(tmp_path: Path) -> Iterator[dict]:
    """A network namespace reachable through a veth pair, running sshd with generated keys."""
    pytest.importorskip("paramiko")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "ssh-keygen"):
        if shutil.which(tool) is None:
            pytest.skip(f"'{tool}' not found (apt-get install -y openssh-server iproute2)")
    if not os.path.exists(SSHD):
        pytest.skip(f"{SSHD} not found (apt-get install -y openssh-server)")
    tag = f"{os.getpid() % 10000}{random.randrange(100)}"
    ns, veth_host, veth_ns = f"cosim{tag}", f"vch{tag}", f"vcn{tag}"
    # a /30 in 198.18.0.0/15, the range reserved for network benchmark tests (RFC 2544)
    base = f"198.{random.randrange(18, 20)}.{random.randrange(256)}.{4 * random.randrange(64)}"
    prefix, last = base.rsplit(".", 1)
    host_ip, ns_ip = f"{prefix}.{int(last) + 1}", f"{prefix}.{int(last) + 2}"
    created_ns = created_link = False
    sshd = None
    try:
        try:
            _sh("ip", "netns", "add", ns)
            created_ns = True
            _sh("ip", "link", "add", veth_host, "type", "veth", "peer", "name", veth_ns)
            created_link = True
            _sh("ip", "link", "set", veth_ns, "netns", ns)
            _sh("ip", "addr", "add", f"{host_ip}/30", "dev", veth_host)
            _sh("ip", "link", "set", veth_host, "up")
            _sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", veth_ns)
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", veth_ns, "up")
            _sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        except (subprocess.CalledProcessError, OSError) as exc:
            detail = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else exc
            pytest.skip(f"cannot create a network namespace with a veth pair: {detail}")
        host_key, client_key = tmp_path / "host_key", tmp_path / "client_key"
        for key in (host_key, client_key):
            _sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
        (tmp_path / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
        config = tmp_path / "sshd_config"
        config.write_text(
            f"Port 22\nListenAddress {ns_ip}\nHostKey {host_key}\n"
            f"AuthorizedKeysFile {tmp_path}/authorized_keys\nPubkeyAuthentication yes\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            f"PidFile {tmp_path}/sshd.pid\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n"
        )
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation folder
        log = open(tmp_path / "sshd.log", "wb")  # noqa: SIM115 - closed in finally
        sshd = subprocess.Popen(["ip", "netns", "exec", ns, SSHD, "-D", "-e", "-f", str(config)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((ns_ip, 22), timeout=0.5).close()
                break
            except OSError:
                if sshd.poll() is not None or time.monotonic() > deadline:
                    pytest.skip("sshd did not start in the namespace: "
                                + (tmp_path / "sshd.log").read_text()[-500:])
                time.sleep(0.1)
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(f"{ns_ip} {Path(f'{host_key}.pub').read_text()}")
        yield {"host_ip": host_ip, "ns_ip": ns_ip, "key": client_key,
               "known_hosts": known_hosts, "ns": ns, "log": tmp_path / "sshd.log"}
    finally:
        if created_ns:  # kill whatever still runs in the namespace (sshd sessions, nodes)
            pids = _sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        if sshd is not None:
            if sshd.poll() is None:
                sshd.kill()
            sshd.wait(5)
            log.close()
        if created_link:
            _sh("ip", "link", "del", veth_host, check=False)
        if created_ns:
            _sh("ip", "netns", "del", ns, check=False)


def test_remote_node_over_ssh_joins_and_feeds_the_grid(ssh_namespace, sim_factory, lv_config,
                                                       tmp_path):
    ns = ssh_namespace
    with pytest.raises(ConfigurationError, match="without CURVE"):  # the network needs CURVE
        sim_factory(allocator_bind=f"{ns['host_ip']}:0")
    keys = generate_curve_keys(tmp_path / "keys", ["allocator", "client1", "client2"])
    public = str(tmp_path / "keys" / "public")
    sim = sim_factory(allocator_bind=f"{ns['host_ip']}:0",
                      curve=CurveAuth(str(keys["allocator"][1]), public))

    def curve(name: str) -> CurveAuth:
        return CurveAuth(str(keys[name][1]), public, str(keys["allocator"][0]))

    ssh = {"username": "root", "keyfile": ns["key"], "known_hosts": ns["known_hosts"],
           "python": sys.executable}
    with pytest.raises(ConfigurationError, match="without CURVE"):  # a remote node listens too
        sim.create_remote_node(ns["ns_ip"], lv_config(sim, 2), **ssh)
    with pytest.raises(DeploymentError, match=r'pip install "gym-powergrid\[cosim\]"'):
        sim.create_remote_node(ns["ns_ip"], lv_config(sim, 2, curve=curve("client2")),
                               **{**ssh, "python": "/no/python"})
    node = sim.create_remote_node(ns["ns_ip"], lv_config(sim, 1, curve=curve("client1")), **ssh)
    remote_dir, pid = node.remote_dir, node.pid
    assert remote_dir and Path(remote_dir).is_dir() and node.is_alive()
    sim.wait_for_nodes(["client1"], timeout=60)
    assert sim.allocator.nodes()["client1"].address.startswith(f"tcp://{ns['ns_ip']}:")
    bridge = PandapowerBridge(lv_example_net(), sim.allocator,
                              {"client1": {"load": "Load_1", "pv": "PV_1"}}, timeout_s=10)
    history = [bridge.step(k) for k in range(5)]
    assert all(r["converged"] and not r["late"] and not r["gone"] for r in history)
    assert len({r["vm_pu"]["client1"] for r in history}) > 1
    logs = sim.stop(timeout=5)
    assert "client1 stops: 5 voltages received" in logs["client1"]
    assert not Path(remote_dir).exists()  # the remote folder was removed
    assert not process_exists(pid)
