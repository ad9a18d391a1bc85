"""The pre-commit hook on files it has nothing to say about must not pay for LibCST, the rules, the
process pool, or the notebook and report front-ends (what made a one-file check take ~0.9 s)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
from accelport.codemod.frontends.cli import check_main
sys.argv = ["check-torchcuda", *sys.argv[1:]]
try:
    check_main()
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("libcst", "accelport.rules.torch_cuda_call", "accelport.codemod.run.notebook",
                           "accelport.codemod.engine.pipeline", "concurrent.futures.process", "rich") if m in sys.modules)
print("HEAVY", ",".join(heavy), "EXIT", code)
"""


def _probe(tmp_path: Path, *args: str) -> str:
    env = dict(os.environ, ACCELPORT_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("FORCE_COLOR", None)
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return done.stdout.strip().splitlines()[-1]


def test_a_trigger_free_file_is_checked_without_libcst_or_the_rules(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text("import torch\n\nx = torch.randn(3)  # accelport: ignore\n")
    assert _probe(tmp_path, "--no-cache", "clean.py") == "HEAVY  EXIT 0"


def test_a_file_with_a_trigger_still_gets_the_rules(tmp_path: Path) -> None:
    (tmp_path / "sites.py").write_text("import torch\n\nx = torch.randn(3).cuda()\n")
    heavy, _, code = _probe(tmp_path, "--no-cache", "sites.py").partition(" EXIT ")
    assert "libcst" in heavy.split()[1].split(",") and code == "1"


def test_an_unused_suppression_in_a_trigger_free_file_is_still_reported(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text("x = 1  # accelport: ignore\n")
    env = dict(os.environ, ACCELPORT_CACHE_DIR=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "accelport", "check", "--no-cache", "--report-unused-suppressions", "clean.py"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert "clean.py:1:1: unused-suppression" in done.stdout and done.returncode == 1
