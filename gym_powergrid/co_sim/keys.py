"""CURVE key files for the co-simulation (wrapping ``zmq.auth.create_certificates``).

Layout written by :func:`generate_curve_keys`::

    DIR/public/<name>.key           public key of each peer (give the folder as
                                    ``authorized_keys_dir`` to accept exactly these peers)
    DIR/private/<name>.key_secret   secret key of each peer (its ``secret_key_file``)

Copy a node's ``private/<name>.key_secret`` only to the host that runs that node.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from gym_powergrid.co_sim import _deps


def generate_curve_keys(
    directory: str | Path, names: Iterable[str]
) -> dict[str, tuple[Path, Path]]:
    """Create a CURVE key pair for each name.

    Args:
        directory: Output folder (created); ``public/`` and ``private/`` go inside.
        names: Peer names (e.g. ``"allocator"``, ``"client1"``).

    Returns:
        name -> (public key file, secret key file).
    """
    auth = _deps.zmq_auth()
    directory = Path(directory)
    public_dir, private_dir = directory / "public", directory / "private"
    public_dir.mkdir(parents=True, exist_ok=True)
    private_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(private_dir, 0o700)
    out: dict[str, tuple[Path, Path]] = {}
    for name in names:
        public, secret = auth.create_certificates(str(private_dir), name)
        public_path = public_dir / Path(public).name
        os.replace(public, public_path)
        out[name] = (public_path, Path(secret))
    return out
