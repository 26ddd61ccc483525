"""Entry point of a load-node process: ``python -m gym_powergrid.co_sim.node --config-file F``.

The configuration is a JSON object accepted by
:meth:`gym_powergrid.co_sim.config.NodeConfig.from_dict`, or a JSON list of them: the nodes of a
list are multiplexed in one thread of one process (one event loop polling all their sockets),
which is how the benchmark runs hundreds of nodes on one machine.

SIGTERM and SIGINT make every node leave its allocator politely (``leave``, up to 1 s) and exit
with status 0; ``stop`` from the allocator also ends the process once all its nodes stopped.
Exit status 2 means a bad configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gym_powergrid.co_sim.config import NodeConfig
from gym_powergrid.errors import PowerGridError

logger = logging.getLogger("gym_powergrid.co_sim.node")


def load_configs(text: str) -> list[NodeConfig]:
    """Parse a JSON object or list of objects into node configurations."""
    data: Any = json.loads(text)
    items = data if isinstance(data, list) else [data]
    return [NodeConfig.from_dict(item) for item in items]


def run_nodes(configs: Sequence[NodeConfig]) -> int:
    """Create the nodes, run them in this thread until they stop; return an exit status."""
    from gym_powergrid.co_sim.agent import run_agents
    from gym_powergrid.co_sim.load import NetworkLoad

    nodes: list[NetworkLoad] = []
    try:
        for cfg in configs:
            nodes.append(NetworkLoad(cfg))
    except Exception:
        for node in nodes:
            node.transport.close(linger_ms=0)
        raise

    def on_signal(signum: int, frame: Any) -> None:
        logger.info("signal %d: nodes leave", signum)
        for node in nodes:
            node.leave(reason=f"signal {signum}", timeout_s=1.0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run_agents(nodes)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one node process; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m gym_powergrid.co_sim.node")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--config-file", type=Path, help="JSON node configuration (or list)")
    src.add_argument("--config", help="JSON node configuration (or list) as text")
    parser.add_argument("--log-file", type=Path, help="log here instead of stderr")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    text = args.config if args.config is not None else args.config_file.read_text()
    log_file = args.log_file
    try:
        configs = load_configs(text)
    except (ValueError, PowerGridError) as exc:
        logging.basicConfig(level=logging.ERROR)
        logger.error("bad node configuration: %s", exc)
        return 2
    if log_file is None and configs and configs[0].log_file:
        log_file = Path(configs[0].log_file)
    handler: logging.Handler = (
        logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    )
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
        handlers=[handler],
    )
    try:
        return run_nodes(configs)
    except (PowerGridError, KeyError, OSError) as exc:
        logger.error("node process failed: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
