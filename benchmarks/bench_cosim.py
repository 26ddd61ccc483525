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

Usage::

    python benchmarks/bench_cosim.py                     # 10, 100, 500 nodes (< 2 minutes)
    python benchmarks/bench_cosim.py --nodes 10,1000 --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from gym_powergrid.co_sim import NetworkAllocator
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


def bench(n_nodes: int, n_procs: int, seconds: float, workdir: Path) -> dict[str, float]:
    """Run one node count and return its figures."""
    gc.collect()
    base_rss = rss_mb()
    alloc = NetworkAllocator("127.0.0.1:0", node_timeout_s=30.0)
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
        cpu0, t0 = time.process_time(), time.perf_counter()
        rounds = late = 0
        while time.perf_counter() - t0 < seconds or rounds < 3:
            result = alloc.lockstep_round(step, timeout=30)
            late += len(result.late)
            alloc.send_voltages(step, dict.fromkeys(result.reports, 1.0))
            rounds += 1
            step += 1
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        stats = alloc.statistics()
    finally:
        alloc.stop_nodes(timeout=30)
        for worker in workers:
            if worker.stop(timeout=10) != 0:
                print(f"warning: worker {worker.name} exited with {worker.process.returncode}",
                      file=sys.stderr)
        alloc.close()
    n = n_nodes
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
    parser.add_argument("--json", type=Path, help="write the figures as a flat JSON object")
    args = parser.parse_args(argv)
    raise_fd_limit()
    counts = [int(x) for x in args.nodes.split(",") if x.strip()]
    results: dict[str, float] = {"cpu_count": float(os.cpu_count() or 1)}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-cosim-") as tmp:
        for n in counts:
            results.update(bench(n, args.processes, args.seconds, Path(tmp)))
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
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, sort_keys=True))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
