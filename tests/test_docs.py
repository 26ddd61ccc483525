"""Every ```bash and ```python block of README.md, docs/*.md and benchmarks/README*.md runs.

Markers (the block's FIRST line, shown to readers as a comment):

* ``# doc-test: <shorter command>``: the test runs that instead of the block (a bash command
  for bash blocks, one line of Python for python blocks), for blocks too long for CI;
* ``# doc-test: skip <reason>``: the block cannot run in CI (a cluster, real remote hosts); the
  test is skipped with that reason.

The two Quickstart commands are run by CI itself (``.ci/run``) and are skipped here. Each block
runs in a fresh interpreter / shell with its own temporary working directory holding a copy of
``benchmarks/``, ``docs/`` and ``README.md`` (so ``python benchmarks/x.py`` works and nothing is
written into the repository); ``python`` and ``gym-powergrid`` on its PATH are this
interpreter with this checkout first on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "benchmarks").glob("README*.md"))]
FENCE = re.compile(r"^```(bash|python)[^\n]*\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"^#\s*doc-test:\s*(.*)$")
TIMEOUT = 600
#: Modules of optional extras: a block failing only because one is missing is skipped (CI
#: installs the test extras, which bring them).
OPTIONAL_MODULES = {"moviepy": "render", "pygame": "render", "grid2op": "grid2op",
                    "lightsim2grid": "grid2op", "ray": "ray"}


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    code: str
    section: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def collect_blocks(paths=DOC_FILES) -> list[Block]:
    """The bash and python blocks of ``paths``, with their line and the section they are in."""
    blocks = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            before = text[: m.start()]
            headings = re.findall(r"^#+ (.+)$", before, flags=re.M)
            blocks.append(Block(path, before.count("\n") + 1, m.group(1), m.group(2),
                                headings[-1].strip() if headings else ""))
    return blocks


def what_to_run(block: Block) -> tuple[str | None, str | None]:
    """``(code, skip_reason)`` for a block: its marker's command, or the block itself."""
    if block.path.name == "README.md" and block.path.parent == ROOT \
            and block.section == "Quickstart":
        return None, "the Quickstart commands are run by CI itself (.ci/run)"
    first, _, rest = block.code.partition("\n")
    m = MARKER.match(first.strip())
    if m is None:
        return block.code, None
    command = m.group(1).strip()
    if command == "skip" or command.startswith("skip "):
        return None, command[4:].strip() or "marked doc-test: skip"
    if not command:
        raise ValueError(f"{block.id}: empty '# doc-test:' marker; give a command or 'skip "
                         "<reason>'")
    return command, None


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("benchmarks", "docs"):
        shutil.copytree(ROOT / name, work / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "README.md", work / "README.md")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, body in (("python", f'exec "{sys.executable}" "$@"'),
                       ("python3", f'exec "{sys.executable}" "$@"'),
                       ("gym-powergrid", f'exec "{sys.executable}" -m gym_powergrid "$@"')):
        script = bindir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return work


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("SDL_VIDEODRIVER", "dummy")
    env.setdefault("SDL_AUDIODRIVER", "dummy")
    env.setdefault("MPLBACKEND", "Agg")
    env["TQDM_DISABLE"] = "1"
    return env


BLOCKS = collect_blocks()


def test_blocks_are_collected():
    assert len(BLOCKS) >= 5
    assert any(b.lang == "python" for b in BLOCKS)
    ids = [b.id for b in BLOCKS]
    assert len(ids) == len(set(ids))


def test_markers_are_understood(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("# T\n\n```bash\n# doc-test: echo short\nlong command\n```\n\n"
                   "```python\n# doc-test: skip needs a cluster\nimport ray\n```\n\n"
                   "```python\nprint(1)\n```\n")
    short, skip, plain = collect_blocks([doc])
    assert what_to_run(short) == ("echo short", None)
    assert what_to_run(skip) == (None, "needs a cluster")
    assert what_to_run(plain) == ("print(1)\n", None)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_doc_block_runs(block: Block, tmp_path):
    code, reason = what_to_run(block)
    if reason is not None:
        pytest.skip(f"{block.id}: {reason}")
    work = _workdir(tmp_path)
    if block.lang == "python":
        argv = [sys.executable, "-c", code]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", code]
    proc = subprocess.run(argv, cwd=work, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=TIMEOUT)
    if proc.returncode != 0:
        for module, extra in OPTIONAL_MODULES.items():
            if (f"No module named '{module}'" in proc.stderr
                    or (module == "moviepy" and "pip install moviepy" in proc.stderr)):
                pytest.skip(f"{block.id}: needs {module} (pip install "
                            f'"gym-powergrid[{extra}]")')
    assert proc.returncode == 0, (
        f"{block.id} ({block.lang}) failed with exit code {proc.returncode}:\n{code}\n"
        f"--- stdout (end)\n{proc.stdout[-3000:]}\n--- stderr (end)\n{proc.stderr[-3000:]}")
