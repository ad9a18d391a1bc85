"""Benchmark: the pre-commit hook on one changed file, side by side with ``python -c pass``.

    python bench/bench_hook.py [--reps 15]

The hook's cost is mostly start-up: interpreter, imports, config. Each round runs, in turn, the
interpreter floor (``python -c pass``), ``check-torchcuda`` on one trigger-free file, on one file with
CUDA sites (LibCST and the rules imported), and on that file again from the cache; medians over
``--reps`` rounds, and each one's ratio to the floor (the ratio holds when the machine's speed drifts).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLEAN = "import torch\n\n\ndef step(model, batch):\n    return model(batch).sum()\n"
SITES = "import torch\n\nx = torch.randn(3).cuda()\ntorch.cuda.synchronize()\n"


def _hook() -> list:
    script = shutil.which("check-torchcuda", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-c", "from accelport.codemod.frontends.cli import check_main; check_main()"]


def _wall(cmd: list, cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "clean.py").write_text(CLEAN)
        (work / "sites.py").write_text(SITES)
        env = dict(os.environ, ACCELPORT_CACHE_DIR=str(work / "cache"))
        hook = _hook()
        cases = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "hook, trigger-free file": [*hook, "--no-cache", "clean.py"],
            "hook, file with sites": [*hook, "--no-cache", "sites.py"],
            "hook, file with sites, cached": [*hook, "sites.py"],
        }
        _wall(cases["hook, file with sites, cached"], work, env)  # fills the cache; warms the disk
        times = {name: [] for name in cases}
        for _ in range(args.reps):
            for name, cmd in cases.items():
                times[name].append(_wall(cmd, work, env))
    floor = statistics.median(times["python -c pass (floor)"])
    print("| case | median wall (s) | ratio to the floor |\n|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {median / floor:.1f}x |")


if __name__ == "__main__":
    main()
