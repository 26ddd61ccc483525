"""Classic LXC containers as remote co-simulation nodes (the SENS set-up, without LXD).

``gym-powergrid cosim lxc up -n 5`` (:func:`up`), run as root on a host with Debian's ``lxc``
and ``debootstrap`` packages:

1. creates a bridge ``<prefix>0`` with the first address of a subnet of the RFC 2544
   benchmark range 198.18.0.0/15 (default 198.19.254.0/24; the containers cannot reach any
   registry, and nothing else is routed);
2. creates a base container ``<prefix>-base`` (``lxc-create -t debian -- -r bookworm
   --packages=python3,python3-venv,openssh-server``; seconds once lxc's debootstrap cache
   exists), starts it and installs ``gym-powergrid[cosim]`` into ``/opt/gym-powergrid`` over
   SSH from a wheelhouse built on this host (:mod:`gym_powergrid.co_sim.wheelhouse`), then
   stops it; done again only when the project wheel changes;
3. clones it N times (``lxc-copy``) into ``<prefix>-1`` ... ``<prefix>-N``, each with a static
   address, its own SSH host key and the generated client key of root authorised, and starts
   them;
4. writes, in the state folder (default ``/var/lib/gym-powergrid/lxc/<prefix>``), the SSH key,
   ``known_hosts``, the wheelhouse and ``scenario.yaml``: the LV example with its clients spread
   over the containers, the allocator bound on the bridge address.

``gym-powergrid cosim lxc down`` (:func:`down`) removes the containers, the bridge and the state
folder (keys included); ``--keep-base`` keeps the stopped base container and the wheelhouse as a
cache for the next ``up``. Both are idempotent; a failed ``up`` removes what it made.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gym_powergrid.errors import ConfigurationError, PowerGridError

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "gpcosim"
DEFAULT_SUBNET = "198.19.254.0/24"
"""The bridge's subnet: inside :data:`TEST_RANGE`; other tests avoid it."""
TEST_SUBNET = "198.19.255.0/24"
"""The subnet of the test suite's containers (tests/co_sim/test_cosim_lxc.py)."""
RESERVED_SUBNETS = (DEFAULT_SUBNET, TEST_SUBNET)
"""Subnets other tests must not use (the netns test picks its /30s elsewhere)."""
TEST_RANGE = ipaddress.ip_network("198.18.0.0/15")
"""RFC 2544 network benchmark range: the only addresses this module hands out."""
RELEASE = "bookworm"
PACKAGES = "python3,python3-venv,openssh-server"
NODE_VENV = "/opt/gym-powergrid"
APT_LINE = "apt-get install -y lxc debootstrap"
_TOOLS = ("lxc-create", "lxc-copy", "lxc-start", "lxc-stop", "lxc-destroy", "lxc-info",
          "lxc-ls", "debootstrap", "ip", "ssh-keygen")
_FIRST_NODE = 11  # node i gets the subnet's address i + 10; the base container gets .2


class LxcError(PowerGridError, RuntimeError):
    """Provisioning failed; the message says which step, why, and how to fix it."""


@dataclass(frozen=True)
class LxcLab:
    """Names and addresses of one set of containers (everything carries ``prefix``).

    Args:
        prefix: Name prefix of containers, bridge, veth ends (lowercase, 2-8 characters).
        subnet: IPv4 subnet of the bridge, inside 198.18.0.0/15.
        state_dir: Keys, known_hosts, wheelhouse, logs and scenario (default
            ``/var/lib/gym-powergrid/lxc/<prefix>``).
        release: Debian release of the containers (its python3 must be >= 3.10).
    """

    prefix: str = DEFAULT_PREFIX
    subnet: str = DEFAULT_SUBNET
    state_dir: Path | None = None
    release: str = RELEASE
    network: ipaddress.IPv4Network = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]{1,7}", self.prefix):
            raise ConfigurationError(
                f"LXC prefix must be 2-8 lowercase letters/digits starting with a letter, "
                f"got {self.prefix!r}")
        try:
            net = ipaddress.ip_network(self.subnet, strict=True)
        except ValueError as exc:
            raise ConfigurationError(f"bad LXC subnet {self.subnet!r}: {exc}") from None
        if not isinstance(net, ipaddress.IPv4Network) or not net.subnet_of(TEST_RANGE) \
                or net.prefixlen > 28:
            raise ConfigurationError(
                f"LXC subnet {self.subnet} must be an IPv4 subnet of {TEST_RANGE} (RFC 2544 "
                "test range) of /28 or larger, e.g. 198.19.254.0/24")
        object.__setattr__(self, "network", net)
        if self.state_dir is None:
            object.__setattr__(self, "state_dir",
                               Path("/var/lib/gym-powergrid/lxc") / self.prefix)
        else:
            object.__setattr__(self, "state_dir", Path(self.state_dir).expanduser().resolve())

    @property
    def state(self) -> Path:
        """The state folder."""
        assert self.state_dir is not None
        return self.state_dir

    @property
    def bridge(self) -> str:
        """Bridge interface name."""
        return f"{self.prefix}0"

    @property
    def base(self) -> str:
        """Base container name."""
        return f"{self.prefix}-base"

    def node(self, i: int) -> str:
        """Name of node container ``i`` (1-based)."""
        return f"{self.prefix}-{i}"

    @property
    def max_nodes(self) -> int:
        """How many node addresses the subnet holds."""
        return self.network.num_addresses - 2 - _FIRST_NODE

    def address(self, i: int) -> str:
        """Address of node ``i`` (0 = the bridge on this host, -1 = the base container)."""
        offset = 1 if i == 0 else 2 if i == -1 else _FIRST_NODE - 1 + i
        return str(self.network.network_address + offset)

    @property
    def key(self) -> Path:
        """Private SSH key authorised in the containers."""
        return self.state / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        """``known_hosts`` with every container's host key."""
        return self.state / "known_hosts"

    @property
    def wheelhouse(self) -> Path:
        """Wheelhouse folder."""
        return self.state / "wheelhouse"

    @property
    def scenario(self) -> Path:
        """The written scenario."""
        return self.state / "scenario.yaml"


def _sh(args: Sequence[str], what: str, timeout: float = 120.0,
        check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise LxcError(f"{what}: '{' '.join(args)}' did not finish within {timeout:.0f} s") \
            from None
    if check and proc.returncode != 0:
        tail = "\n".join((proc.stderr.strip() or proc.stdout.strip()).splitlines()[-15:])
        raise LxcError(f"{what}: '{' '.join(args)}' failed (exit {proc.returncode}):\n{tail}")
    return proc


def check_host() -> None:
    """Raise :class:`LxcError` unless we are root and the LXC tools are installed."""
    if os.geteuid() != 0:
        raise LxcError("LXC containers and the bridge need root: run this command as root "
                       "(e.g. sudo gym-powergrid cosim lxc ...)")
    missing = [t for t in _TOOLS if shutil.which(t) is None]
    if missing:
        raise LxcError(f"missing {', '.join(missing)}: install classic LXC with: {APT_LINE} "
                       "(ip: iproute2, ssh-keygen: openssh-client)")


def containers(lab: LxcLab) -> list[str]:
    """Existing containers of ``lab`` (base last)."""
    out = _sh(["lxc-ls", "-1"], "listing containers").stdout.split()
    names = [n for n in out if n == lab.base or re.fullmatch(rf"{lab.prefix}-\d+", n)]
    return sorted(names, key=lambda n: (n == lab.base, n))


def _running(name: str) -> bool:
    proc = _sh(["lxc-info", "-n", name, "-s"], f"state of {name}", check=False)
    return "RUNNING" in proc.stdout


def _rootfs(name: str) -> Path:
    """The folder to write the container's files into (an overlay clone's upper folder)."""
    for line in _config_path(name).read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "lxc.rootfs.path":
            value = value.strip()
            if value.startswith("overlay"):  # overlay:LOWER:UPPER
                return Path(value.rsplit(":", 1)[1])
            return Path(value.split(":", 1)[1] if ":" in value else value)
    raise LxcError(f"{_config_path(name)} has no lxc.rootfs.path")


def _config_path(name: str) -> Path:
    return Path(_sh(["lxc-config", "lxc.lxcpath"], "lxc path").stdout.strip()) / name / "config"


def _set_network(lab: LxcLab, name: str, address: str, veth: str) -> None:
    """Replace the container's network section by one veth on our bridge at ``address``."""
    config = _config_path(name)
    lines = [ln for ln in config.read_text().splitlines()
             if not ln.strip().startswith(("lxc.net.", "lxc.apparmor.profile"))
             and ln.strip() != "# gym-powergrid network"]
    mac = "02:67:70:" + ":".join(f"{int(b):02x}" for b in address.split(".")[1:])
    lines += [
        "# gym-powergrid network",
        "lxc.net.0.type = veth", f"lxc.net.0.link = {lab.bridge}", "lxc.net.0.flags = up",
        f"lxc.net.0.veth.pair = {veth}", f"lxc.net.0.hwaddr = {mac}",
        f"lxc.net.0.ipv4.address = {address}/{lab.network.prefixlen}",
        f"lxc.net.0.ipv4.gateway = {lab.address(0)}",
        "lxc.apparmor.profile = unconfined",
    ]
    config.write_text("\n".join(lines) + "\n")
    rootfs = _rootfs(name)
    # eth0 is configured by LXC: no DHCP client in the container (it would find no server)
    (rootfs / "etc/network").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/network/interfaces").write_text("auto lo\niface lo inet loopback\n")


def _ensure_bridge(lab: LxcLab) -> None:
    want = f"{lab.address(0)}/{lab.network.prefixlen}"
    show = _sh(["ip", "-j", "addr", "show", "dev", lab.bridge], "bridge", check=False)
    if show.returncode == 0:
        addrs = {f"{a['local']}/{a['prefixlen']}" for d in json.loads(show.stdout or "[]")
                 for a in d.get("addr_info", []) if a.get("family") == "inet"}
        if want not in addrs:
            raise LxcError(f"interface {lab.bridge} exists without {want}: it is not ours; "
                           "remove it or choose another --prefix")
    else:
        routes = json.loads(_sh(["ip", "-j", "-4", "route", "show"], "routes").stdout or "[]")
        for route in routes:
            dst = route.get("dst", "")
            if dst != "default" and "/" in dst and ipaddress.ip_network(dst, strict=False) \
                    .overlaps(lab.network):
                raise LxcError(f"subnet {lab.subnet} overlaps route {dst} on {route.get('dev')}; "
                               "choose another --subnet inside 198.18.0.0/15")
        _sh(["ip", "link", "add", "name", lab.bridge, "type", "bridge"], "creating the bridge")
        _sh(["ip", "addr", "add", want, "dev", lab.bridge], "addressing the bridge")
    _sh(["ip", "link", "set", lab.bridge, "up"], "bringing the bridge up")


def _host_key(lab: LxcLab, name: str, address: str) -> str:
    """Give the container its own ed25519 host key; return its known_hosts line."""
    ssh = _rootfs(name) / "etc/ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    for old in ssh.glob("ssh_host_*key*"):
        old.unlink()
    key = ssh / "ssh_host_ed25519_key"
    _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{name}", "-f", str(key)],
        f"host key of {name}")
    return f"{address} {key.with_suffix('.pub').read_text().strip()}"


def _authorize(lab: LxcLab, name: str) -> None:
    ssh = _rootfs(name) / "root/.ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_text(lab.key.with_suffix(".pub").read_text())
    os.chmod(ssh / "authorized_keys", 0o600)


def _start(lab: LxcLab, name: str, address: str, timeout: float = 90.0) -> None:
    """Start ``name`` (if stopped) and wait until its sshd answers at ``address``."""
    log = lab.state / f"{name}.lxc.log"
    if not _running(name):
        proc = _sh(["lxc-start", "-n", name, "-d", "-o", str(log), "-l", "INFO"],
                   f"starting container {name}", check=False)
        if proc.returncode != 0:
            raise LxcError(f"container {name} failed to start (exit {proc.returncode}): "
                           f"{proc.stderr.strip()}\n{_tail(log)}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, 22), timeout=1.0) as sock:
                sock.settimeout(2.0)
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if not _running(name):
            raise LxcError(f"container {name} stopped right after starting\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise LxcError(f"container {name} runs but its sshd at {address}:22 did not answer "
                           f"within {timeout:.0f} s\n{_tail(log)}")
        time.sleep(0.5)


def _tail(log: Path, n: int = 15) -> str:
    if not log.exists():
        return "(no lxc log)"
    return f"last lines of {log}:\n" + "\n".join(log.read_text(errors="replace")
                                                   .splitlines()[-n:])


def _stop(name: str, clean: bool = False) -> None:
    """Stop a container: a clean shutdown (up to 20 s) or at once (nodes keep no state)."""
    if _running(name):
        if clean:
            _sh(["lxc-stop", "-n", name, "-t", "20"], f"stopping {name}", timeout=60,
                check=False)
        if _running(name):
            _sh(["lxc-stop", "-n", name, "-k"], f"killing {name}", timeout=30)


def _ssh(lab: LxcLab, address: str) -> Any:
    from gym_powergrid.co_sim import _deps

    paramiko = _deps.paramiko()
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(address, username="root", key_filename=str(lab.key), timeout=15,
                   allow_agent=False, look_for_keys=False)
    return client


def _container_python(lab: LxcLab, name: str) -> str:
    target = os.readlink(_rootfs(name) / "usr/bin/python3")
    match = re.fullmatch(r"(?:.*/)?python(3\.\d+)", target)
    if not match:
        raise LxcError(f"cannot tell the Python version of {name} (python3 -> {target})")
    return match.group(1)


def _prepare_base(lab: LxcLab, source: str | Path | None) -> None:
    """Create the base container if needed and install the current wheelhouse into it."""
    from gym_powergrid.co_sim import wheelhouse as whm

    if lab.base not in containers(lab):
        logger.info("creating %s (Debian %s; ~80 s without lxc's cache)", lab.base, lab.release)
        conf = lab.state / "base.conf"
        conf.write_text("lxc.net.0.type = empty\n")
        try:
            _sh(["lxc-create", "-n", lab.base, "-t", "debian", "-f", str(conf), "--", "-r",
                 lab.release, f"--packages={PACKAGES}"], f"creating {lab.base}", timeout=900)
        except LxcError:
            _sh(["lxc-destroy", "-n", lab.base, "-f"], "removing a half-made base", check=False)
            raise
    version = _container_python(lab, lab.base)
    major, minor = (int(v) for v in version.split("."))
    if (major, minor) < whm.MIN_PYTHON:
        raise LxcError(f"Debian {lab.release}'s python3 is {version}; gym-powergrid needs "
                       ">= 3.10: use --release bookworm or newer")
    wh = whm.build_wheelhouse(lab.wheelhouse, source=source, python_version=version)
    marker = _rootfs(lab.base) / NODE_VENV.lstrip("/") / "gym-powergrid-wheel.sha256"
    if marker.exists() and marker.read_text().strip() == wh.sha256:
        return
    for name in containers(lab):  # clones copied from an older base are out of date
        if name != lab.base:
            _destroy(name)
    address = lab.address(-1)
    _set_network(lab, lab.base, address, f"{lab.prefix}-vb")
    lab.known_hosts.write_text(_host_key(lab, lab.base, address) + "\n")
    _authorize(lab, lab.base)
    _start(lab, lab.base, address)
    try:
        client = _ssh(lab, address)
        try:
            whm.install_on_node(client, lab.base, wh, venv=NODE_VENV, python="/usr/bin/python3")
        finally:
            client.close()
    finally:
        _stop(lab.base, clean=True)
        (_rootfs(lab.base) / "root/.ssh/authorized_keys").unlink(missing_ok=True)


def _clone(lab: LxcLab, name: str) -> None:
    """An overlay snapshot of the base (instant, a few MB), else a full copy."""
    snap = _sh(["lxc-copy", "-n", lab.base, "-N", name, "-s", "-B", "overlay"],
               f"cloning {lab.base} to {name}", check=False)
    if snap.returncode != 0:
        logger.info("no overlay snapshot (%s); copying %s in full", snap.stderr.strip(), lab.base)
        _sh(["lxc-destroy", "-n", name, "-f"], f"removing a half-made {name}", check=False)
        _sh(["lxc-copy", "-n", lab.base, "-N", name], f"cloning {lab.base} to {name}",
            timeout=600)
    logger.info("cloned %s", name)


def _destroy(name: str) -> None:
    _stop(name)
    _sh(["lxc-destroy", "-n", name, "-f"], f"removing {name}", timeout=120)
    logger.info("removed container %s", name)


def write_scenario(lab: LxcLab, n: int, path: Path | None = None) -> Path:
    """Write the LV example with its 5 clients spread over containers 1..n (round robin)."""
    import yaml

    from gym_powergrid.co_sim.scenarios import SCENARIO_DIR, scenario_path

    data = yaml.safe_load(scenario_path("lv_example").read_text())
    data["name"] = "lv_example_lxc"
    data["description"] = f"the LV example with its clients in {n} LXC containers"
    data["curves"] = str(SCENARIO_DIR / "lv_example" / data["curves"])
    data["step_timeout_s"] = max(float(data.get("step_timeout_s", 2.0)), 5.0)
    # binding the bridge address needs CURVE: one key pair per peer, each node's key bound to its id
    from gym_powergrid.co_sim.keys import generate_curve_keys

    keys = generate_curve_keys(lab.state / "curve",
                               ["allocator", *(node["id"] for node in data["nodes"])])
    public_dir = str(keys["allocator"][0].parent)
    data["allocator"] = {**data.get("allocator", {}), "bind": f"{lab.address(0)}:0",
                         "curve": {"secret_key_file": str(keys["allocator"][1]),
                                   "authorized_keys_dir": public_dir}}
    for k, node in enumerate(data["nodes"]):
        node["curve"] = {"secret_key_file": str(keys[node["id"]][1]),
                         "server_public_key_file": str(keys["allocator"][0]),
                         "authorized_keys_dir": public_dir}
        node["host"] = {
            "hostname": lab.address(k % n + 1), "username": "root", "keyfile": str(lab.key),
            "known_hosts": str(lab.known_hosts), "python": "/usr/bin/python3",
            "wheelhouse": str(lab.wheelhouse), "venv": NODE_VENV,
        }
    path = path or lab.scenario
    path.write_text(f"# written by gym-powergrid cosim lxc up -n {n}\n"
                    + yaml.safe_dump(data, sort_keys=False))
    return path


def up(n: int, lab: LxcLab | None = None, *, source: str | Path | None = None) -> Path:
    """Provision ``n`` node containers (see the module docstring); return the scenario path.

    Args:
        n: Number of node containers.
        lab: Names, subnet, state folder (default :class:`LxcLab`).
        source: Project folder or wheel to install on the nodes (default this checkout).

    Raises:
        LxcError: Not root, LXC missing (with the apt line), a container failing to start...
            Whatever this call created is removed again (the base container is kept).
    """
    lab = lab or LxcLab()
    if not 1 <= n <= lab.max_nodes:
        raise ConfigurationError(f"-n must be in 1..{lab.max_nodes} for {lab.subnet}, got {n}")
    check_host()
    lab.state.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.state, 0o700)
    try:
        _ensure_bridge(lab)
        if not lab.key.exists():
            _sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{lab.prefix}-client",
                 "-f", str(lab.key)], "generating the SSH key")
        _prepare_base(lab, source)
        for name in containers(lab):  # nodes beyond n from an earlier, larger up
            if name != lab.base and int(name.rsplit("-", 1)[1]) > n:
                _destroy(name)
        known = []
        existing = containers(lab)
        for i in range(1, n + 1):
            name, address = lab.node(i), lab.address(i)
            if name not in existing:
                _clone(lab, name)
            _stop(name)  # reconfigured from scratch: key, address, host key
            _set_network(lab, name, address, f"{lab.prefix}-v{i}")
            known.append(_host_key(lab, name, address))
            _authorize(lab, name)
        lab.known_hosts.write_text("\n".join(known) + "\n")
        for i in range(1, n + 1):
            _start(lab, lab.node(i), lab.address(i))
            logger.info("%s is up at %s", lab.node(i), lab.address(i))
        return write_scenario(lab, n)
    except BaseException:
        logger.error("lxc up failed: removing the node containers and the bridge")
        try:
            down(lab, keep_base=True)
        except Exception:  # noqa: BLE001 - the original error is the one to report
            logger.exception("cleaning up after the failed lxc up")
        raise


def down(lab: LxcLab | None = None, *, keep_base: bool = False) -> list[str]:
    """Remove the containers, the bridge and the state folder; return what was removed.

    Args:
        lab: As given to :func:`up`.
        keep_base: Keep the (stopped) base container and the wheelhouse for the next ``up``.
    """
    lab = lab or LxcLab()
    check_host()
    removed = []
    for name in containers(lab):
        if name == lab.base and keep_base:
            _stop(name)
            (_rootfs(name) / "root/.ssh/authorized_keys").unlink(missing_ok=True)
            continue
        _destroy(name)
        removed.append(name)
    if _sh(["ip", "link", "show", "dev", lab.bridge], "bridge", check=False).returncode == 0:
        _sh(["ip", "link", "del", "dev", lab.bridge], "removing the bridge")
        removed.append(lab.bridge)
    if lab.state.exists():
        for item in lab.state.iterdir():
            if keep_base and item.name == lab.wheelhouse.name:
                continue
            shutil.rmtree(item) if item.is_dir() else item.unlink()
        if not keep_base:
            lab.state.rmdir()
        removed.append(str(lab.state))
    return removed


def status(lab: LxcLab | None = None) -> dict[str, Any]:
    """Containers (name -> running), whether the bridge exists, and the scenario path."""
    lab = lab or LxcLab()
    check_host()
    bridge = _sh(["ip", "link", "show", "dev", lab.bridge], "bridge", check=False)
    return {"containers": {n: _running(n) for n in containers(lab)},
            "bridge": lab.bridge if bridge.returncode == 0 else None,
            "scenario": str(lab.scenario) if lab.scenario.exists() else None}


def add_parser(sub: Any, common: Any) -> None:
    """The ``gym-powergrid cosim lxc {up,down,status}`` sub-commands."""
    p = sub.add_parser("lxc", parents=[common],
                       help="LXC containers as remote nodes (root; needs lxc, debootstrap)")
    p.add_argument("action", choices=("up", "down", "status"))
    p.add_argument("-n", "--nodes", type=int, default=5, help="node containers for 'up' (5)")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"name prefix ({DEFAULT_PREFIX})")
    p.add_argument("--subnet", default=DEFAULT_SUBNET,
                   help=f"bridge subnet inside 198.18.0.0/15 ({DEFAULT_SUBNET})")
    p.add_argument("--state-dir", type=Path,
                   help="keys, wheelhouse, scenario (default /var/lib/gym-powergrid/lxc/PREFIX)")
    p.add_argument("--release", default=RELEASE, help=f"Debian release ({RELEASE})")
    p.add_argument("--source", type=Path,
                   help="project folder or wheel installed on the nodes (default: this checkout)")
    p.add_argument("--keep-base", action="store_true",
                   help="'down': keep the stopped base container and wheelhouse as a cache")


def run_cli(args: Any) -> int:
    """Run ``gym-powergrid cosim lxc ...``."""
    lab = LxcLab(prefix=args.prefix, subnet=args.subnet, state_dir=args.state_dir,
                 release=args.release)
    if args.action == "up":
        path = up(args.nodes, lab, source=args.source)
        for i in range(1, args.nodes + 1):
            print(f"{lab.node(i)}  {lab.address(i)}")  # noqa: T201
        print(f"wrote {path}\nrun it: gym-powergrid cosim run {path} --out results/")  # noqa: T201
    elif args.action == "down":
        for item in down(lab, keep_base=args.keep_base):
            print(f"removed {item}")  # noqa: T201
    else:
        state = status(lab)
        for name, running in state["containers"].items():
            print(f"{name}  {'RUNNING' if running else 'STOPPED'}")  # noqa: T201
        print(f"bridge: {state['bridge'] or '-'}\nscenario: {state['scenario'] or '-'}")  # noqa: T201
    return 0
