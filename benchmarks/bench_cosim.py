"""Co-simulation scale benchmark: lock-step rounds/s and messages/s with 10, 100 and 500 nodes.

One allocator runs in this process (its loop in a background thread); the load nodes run in a
few worker processes, each multiplexing many :class:`~gym_powergrid.co_sim.NetworkLoad` agents
in one event loop (``python -m gym_powergrid.co_sim.node`` with a list of configurations), since
500 Python processes would measure the machine's process scheduler rather than the protocol.
Every node has its own ROUTER socket, DEALER socket and TCP connections, exactly as in a
deployment; only the Python interpreter is shared.

A round is what the env bridge does each step: ``step`` to every node, wait for every node's
``curr_allocation`` report, then ``voltage`` to every node, i.e. 3 messages per node per round.

Reported per node count N (keys ``n{N}_...`` in the JSON):

* ``rounds_per_s`` and ``msgs_per_s`` (all three message kinds, both directions);
* ``alloc_cpu_us_per_node_round``: CPU time of this process (allocator loop + the driving
  thread) per node and round;
* ``alloc_rss_mb`` (resident memory of this process with N nodes joined) and
  ``alloc_kb_per_node`` (growth from before the allocator existed, divided by N, so fixed
  costs dominate at small N); ``marginal_kb_per_node`` is the RSS slope between the two largest
  runs. The SENS design reported about 140 MB plus 50 kB per node up to 1,000 nodes.

Under attack (``--flood-nodes``, default 100; keys ``flood_...``): the same rounds while a plain
pyzmq attacker on this machine floods joins (one connection sending new ids as fast as it can,
plus 10 connections x 50 ids), hijack joins for live ids and spoofed reports for them.
``flood_nodes_held`` is how many real nodes stayed active and registered from their own
address, ``flood_rounds_per_s`` / ``flood_msgs_per_s`` the round rate meanwhile (messages of the
real nodes only; ``flood_attack_msgs`` the attacker's), ``flood_late`` the real node-rounds
lost, ``flood_joins_rate_limited`` / ``flood_identity_conflicts`` / ``flood_spoofed`` what the
allocator refused, ``flood_registry_max`` the largest registry seen, and
``flood_faults_survived`` how many of the three attacks (flood, hijack, spoof) left every
round complete with nothing lost.

Usage::

    python benchmarks/bench_cosim.py                     # 10, 100, 500 nodes (< 2 minutes)
    python benchmarks/bench_cosim.py --nodes 10,1000 --json out.json
    python benchmarks/bench_cosim.py --nodes 10 --flood-nodes 0   # no attack phase
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from gym_powergrid.co_sim import NetworkAllocator
from gym_powergrid.co_sim import protocol as P
from gym_powergrid.co_sim.config import NodeConfig
from gym_powergrid.co_sim.deploy import LocalNode
from gym_powergrid.co_sim.scenarios import SCENARIO_DIR

CURVES = SCENARIO_DIR / "lv_example" / "curves.csv.gz"


def rss_mb() -> float:
    """Resident memory of this process, MB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raise_fd_limit() -> None:
    """Each node costs the allocator a DEALER socket and two TCP connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Attacker(threading.Thread):
    """Floods joins, hijack joins and spoofed reports at the allocator until stopped."""

    def __init__(self, allocator: str, victims: list[str]) -> None:
        super().__init__(daemon=True)
        import zmq

        self.ctx = zmq.Context()
        self.sink = self.ctx.socket(zmq.ROUTER)  # where the refusals go (never read)
        self.sink.setsockopt(zmq.LINGER, 0)
        self.sink.setsockopt(zmq.RCVHWM, 10)
        self.address = f"tcp://127.0.0.1:{self.sink.bind_to_random_port('tcp://127.0.0.1')}"
        self.socks = []
        for _ in range(11):
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 1000)
            sock.connect(allocator)
            self.socks.append(sock)
        self.victims = victims
        self.sent = 0
        self.halt = threading.Event()

    def _send(self, sock, msg_type: str, src: str, payload: dict) -> None:
        import zmq

        try:
            sock.send(P.encode(P.Packet(msg_type, src, "allocator", self.sent, payload)),
                      zmq.NOBLOCK)
            self.sent += 1
        except zmq.Again:
            pass

    def run(self) -> None:
        join = {"address": self.address, "incarnation": "evil", "mode": "lockstep"}
        i = 0
        for c, sock in enumerate(self.socks[1:]):  # 10 connections x 50 ids
            for k in range(50):
                self._send(sock, P.JOIN, f"many{c}-{k}", join)
        while not self.halt.is_set():
            flood = self.socks[0]
            for _ in range(200):
                self._send(flood, P.JOIN, f"fake{i}", join)
                i += 1
            for victim in self.victims[:10]:
                self._send(flood, P.JOIN, victim, join)  # hijack
                self._send(flood, P.CURR_ALLOCATION, victim,  # spoof
                           {"step": 0, "time_s": 0.0, "p_mw": 1e6, "q_mvar": 0.0,
                            "vm_pu": None})
            time.sleep(0.002)

    def close(self) -> None:
        self.halt.set()
        self.join(5)
        for sock in self.socks:
            sock.close()
        self.sink.close()
        self.ctx.term()


def bench(n_nodes: int, n_procs: int, seconds: float, workdir: Path,
          attack: bool = False) -> dict[str, float]:
    """Run one node count and return its figures."""
    gc.collect()
    base_rss = rss_mb()
    alloc = NetworkAllocator("127.0.0.1:0", node_timeout_s=30.0,
                             **({"evict_after_s": 2.0} if attack else {}))
    alloc.start()
    ids = [f"n{i:04d}" for i in range(n_nodes)]
    configs = [
        NodeConfig(node_id=nid, allocator=alloc.address, curve_file=str(CURVES),
                   meters={"load": f"Load_{i % 5 + 1}", "pv": f"PV_{i % 5 + 1}"},
                   keepalive_s=5.0, join_retry_s=0.5)
        for i, nid in enumerate(ids)
    ]
    n_procs = max(1, min(n_procs, n_nodes))
    workers = [
        LocalNode(configs[p::n_procs], workdir, name=f"bench{n_nodes}-{p}")
        for p in range(n_procs)
    ]
    try:
        t0 = time.perf_counter()
        if not alloc.wait_for_nodes(ids, timeout=120):
            missing = sorted(set(ids) - set(alloc.active_nodes()))
            raise RuntimeError(f"{len(missing)} nodes did not join, e.g. {missing[:3]}; "
                               f"log: {workers[0].log_text()[-800:]}")
        join_s = time.perf_counter() - t0
        step = 0
        for _ in range(5):  # warm-up
            alloc.lockstep_round(step, timeout=30)
            step += 1
        rss_joined = rss_mb()
        addresses = {k: v.address for k, v in alloc.nodes().items()}
        attacker = Attacker(alloc.address, ids) if attack else None
        if attacker is not None:
            attacker.start()
        cpu0, t0 = time.process_time(), time.perf_counter()
        rounds = late = registry_max = 0
        complete = True
        while time.perf_counter() - t0 < seconds or rounds < 3:
            result = alloc.lockstep_round(step, ids, timeout=30)
            late += len(result.late) + len(result.gone) + len(result.rejected)
            complete &= len(result.reports) == n_nodes
            alloc.send_voltages(step, dict.fromkeys(result.reports, 1.0))
            rounds += 1
            step += 1
            if attacker is not None and rounds % 10 == 0:
                registry_max = max(registry_max, len(alloc.nodes()))
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        stats = alloc.statistics()
        held = sum(1 for k, v in alloc.nodes().items()
                   if k in addresses and v.status == "active" and v.address == addresses[k])
        attack_msgs = 0
        if attacker is not None:
            attacker.close()
            attack_msgs = attacker.sent
    finally:
        alloc.stop_nodes(timeout=30)
        for worker in workers:
            if worker.stop(timeout=10) != 0:
                print(f"warning: worker {worker.name} exited with {worker.process.returncode}",
                      file=sys.stderr)
        alloc.close()
    n = n_nodes
    if attack:
        survived = sum((stats.get("joins_rate_limited", 0) > 0 and held == n,
                        stats.get("identity_conflicts", 0) > 0 and held == n,
                        stats.get("spoofed", 0) > 0)) if complete and late == 0 else 0
        return {
            "flood_nodes": float(n),
            "flood_nodes_held": float(held),
            "flood_rounds_per_s": rounds / elapsed,
            "flood_msgs_per_s": 3 * n * rounds / elapsed,
            "flood_attack_msgs": float(attack_msgs),
            "flood_late": float(late),
            "flood_joins_rate_limited": float(stats.get("joins_rate_limited", 0)),
            "flood_identity_conflicts": float(stats.get("identity_conflicts", 0)),
            "flood_spoofed": float(stats.get("spoofed", 0)),
            "flood_registry_max": float(registry_max),
            "flood_faults_survived": float(survived),
        }
    return {
        f"n{n}_processes": float(n_procs),
        f"n{n}_join_s": join_s,
        f"n{n}_rounds": float(rounds),
        f"n{n}_rounds_per_s": rounds / elapsed,
        f"n{n}_msgs_per_s": 3 * n * rounds / elapsed,
        f"n{n}_late_reports": float(late),
        f"n{n}_malformed": float(stats.get("malformed", 0)),
        f"n{n}_send_dropped": float(stats.get("send_dropped", 0)),
        f"n{n}_alloc_cpu_us_per_node_round": 1e6 * cpu / (rounds * n),
        f"n{n}_alloc_rss_mb": rss_joined,
        f"n{n}_alloc_kb_per_node": 1024 * (rss_joined - base_rss) / n,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table, optionally write flat JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="10,100,500", help="comma-separated node counts")
    parser.add_argument("--processes", type=int, default=4,
                        help="worker processes hosting the nodes (default 4)")
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="measurement time per node count (default 6)")
    parser.add_argument("--flood-nodes", type=int, default=100,
                        help="real nodes of the attack phase (0: skip it; default 100)")
    parser.add_argument("--json", type=Path, help="write the figures as a flat JSON object")
    args = parser.parse_args(argv)
    raise_fd_limit()
    counts = [int(x) for x in args.nodes.split(",") if x.strip()]
    results: dict[str, float] = {"cpu_count": float(os.cpu_count() or 1)}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-cosim-") as tmp:
        for n in counts:
            results.update(bench(n, args.processes, args.seconds, Path(tmp)))
        if args.flood_nodes > 0:
            results.update(bench(args.flood_nodes, args.processes, args.seconds, Path(tmp),
                                 attack=True))
    results["total_s"] = time.perf_counter() - t_start
    if len(counts) >= 2:  # memory cost of one more node, free of the fixed costs
        lo, hi = sorted(counts)[-2:]
        results["marginal_kb_per_node"] = 1024 * (
            results[f"n{hi}_alloc_rss_mb"] - results[f"n{lo}_alloc_rss_mb"]) / (hi - lo)
    header = (f"{'nodes':>6} {'procs':>5} {'join s':>7} {'rounds/s':>9} {'msgs/s':>9} "
              f"{'late':>5} {'alloc CPU us/node/round':>24} {'alloc RSS MB':>13} "
              f"{'kB/node':>8}")
    print(header)
    print("-" * len(header))
    for n in counts:
        r = {k.split("_", 1)[1]: v for k, v in results.items() if k.startswith(f"n{n}_")}
        print(f"{n:>6} {r['processes']:>5.0f} {r['join_s']:>7.2f} {r['rounds_per_s']:>9.1f} "
              f"{r['msgs_per_s']:>9.0f} {r['late_reports']:>5.0f} "
              f"{r['alloc_cpu_us_per_node_round']:>24.1f} {r['alloc_rss_mb']:>13.1f} "
              f"{r['alloc_kb_per_node']:>8.1f}")
    print(f"total {results['total_s']:.1f} s on {results['cpu_count']:.0f} CPUs; "
          "3 messages per node per round (step, report, voltage)")
    if "marginal_kb_per_node" in results:
        print(f"allocator memory per extra node (between the two largest runs): "
              f"{results['marginal_kb_per_node']:.1f} kB")
    if "flood_nodes" in results:
        r = results
        print(f"under attack ({r['flood_attack_msgs']:.0f} attacker packets: join flood, hijack, "
              f"spoof): {r['flood_nodes_held']:.0f}/{r['flood_nodes']:.0f} nodes held, "
              f"{r['flood_rounds_per_s']:.1f} rounds/s, {r['flood_msgs_per_s']:.0f} msgs/s, "
              f"{r['flood_late']:.0f} node-rounds lost, registry max "
              f"{r['flood_registry_max']:.0f}, refused: {r['flood_joins_rate_limited']:.0f} "
              f"rate-limited joins, {r['flood_identity_conflicts']:.0f} hijacks, "
              f"{r['flood_spoofed']:.0f} spoofed reports; faults survived "
              f"{r['flood_faults_survived']:.0f}/3")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
