"""Grid model: named cases, pandapower/MATPOWER -> :class:`GridArrays`, topologies."""

from .arrays import BRANCH_LINE, BRANCH_TRAFO, PROD_PQ, PROD_PV, PROD_SLACK, GridArrays
from .cases import NAMED_CASES, load_grid, load_net, pandapower_case
from .convert import check_supported, from_pandapower
from .topology import Topology

__all__ = [
    "BRANCH_LINE", "BRANCH_TRAFO", "PROD_PQ", "PROD_PV", "PROD_SLACK", "GridArrays",
    "NAMED_CASES", "load_grid", "load_net", "pandapower_case", "check_supported",
    "from_pandapower", "Topology",
]
