"""The process pool gives exactly the serial answers, in the same order, and only the parent prints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accelport.codemod.files.discovery import discover
from accelport.codemod.run.runner import Mode, run
from accelport.codemod.settings import Settings

BODY = [
    "import torch\n\ntorch.cuda.synchronize()\n",
    "import torch as th\n\nx = th.zeros(2).cuda()\nprint(th.cuda.get_device_name(0))\n",
    "x = 1\n",
    "import torch\n\ndef f(:\n    torch.cuda.synchronize()\n",  # does not parse: an error, reported for this file only
    "import torch\nfrom torch import cuda\n\nif cuda.is_available():\n    d = torch.device('cuda:0')\n",
]


def _tree(root: Path, n: int = 23) -> Path:
    for i in range(n):
        folder = root / f"pkg{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"m{i:02d}.py").write_text(BODY[i % len(BODY)])
    return root


def _strip(outcomes):
    return [(o.display, o.changed, o.diff, o.counts, o.findings, o.fixes, o.error) for o in outcomes]


@pytest.mark.parametrize("mode", [Mode.CHECK, Mode.DIFF])
def test_pool_equals_serial(tmp_path: Path, mode: Mode) -> None:
    sources, _ = discover([str(_tree(tmp_path))])
    serial = run(sources, Settings(), mode, jobs=1)
    pooled = run(sources, Settings(), mode, jobs=2)
    assert _strip(pooled) == _strip(serial)
    assert [o.display for o in pooled] == sorted(o.display for o in pooled)
    assert any(o.error for o in pooled) and any(o.changed for o in pooled)


def _cli(args, cwd: Path, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ACCELPORT_CACHE_DIR=str(cache))
    return subprocess.run(
        [sys.executable, "-c", "from accelport.__main__ import main; main()", *args],
        cwd=cwd, capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("command", [["check"], ["rewrite", "--diff"]])
def test_cli_output_does_not_depend_on_jobs(tmp_path: Path, command) -> None:
    root = _tree(tmp_path / "tree")
    one = _cli([*command, "--no-cache", "-j", "1", "."], root, tmp_path / "c")
    two = _cli([*command, "--no-cache", "-j", "2", "."], root, tmp_path / "c")
    assert one.returncode == two.returncode == 123
    assert one.stdout == two.stdout and one.stderr == two.stderr
    assert one.stdout  # something was reported, by the parent, once
    # No progress bar and no worker chatter when stderr is not a terminal.
    assert "\r" not in two.stderr and "accelport  " not in two.stderr


PRELOAD_PROBE = """
import sys
from accelport.codemod.files.discovery import discover
from accelport.codemod.run.runner import Mode, run
from accelport.codemod.settings import Settings
outcomes = run(discover([sys.argv[1]])[0], Settings(), Mode.DIFF, jobs=2)
print(sum(o.changed for o in outcomes), "libcst" in sys.modules)
"""


@pytest.mark.parametrize("with_trigger", [False, True])
def test_parent_imports_libcst_only_when_a_file_needs_it(tmp_path: Path, with_trigger: bool) -> None:
    # Forked workers inherit what the parent imported, so it imports LibCST once for both; but a pool run
    # over trigger-free files (a hook on unrelated changes) must not pay for it at all.
    for i in range(6):
        (tmp_path / f"m{i}.py").write_text("x = 1\n")
    if with_trigger:
        (tmp_path / "m9.py").write_text(BODY[0])
    done = subprocess.run([sys.executable, "-c", PRELOAD_PROBE, str(tmp_path)], capture_output=True, text=True, check=True)
    import multiprocessing

    forked = multiprocessing.get_start_method(allow_none=False) == "fork"
    assert done.stdout.split() == [str(int(with_trigger)), str(with_trigger and forked)]


def test_chunks_leave_no_long_tail() -> None:
    from accelport.codemod.run.workers import MAX_CHUNK, chunk_size

    assert chunk_size(1, 2) == 1 and chunk_size(15, 2) == 1
    assert chunk_size(200, 2) == MAX_CHUNK and chunk_size(10_000, 2) == MAX_CHUNK
