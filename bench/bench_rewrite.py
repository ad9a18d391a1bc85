"""Benchmark: ``accelport rewrite --diff`` against LibCST's parse floor, cold vs warm ``check``, memory.

    python bench/bench_rewrite.py [--files 500] [--jobs 2]

Everything is measured in this one run, side by side, on a corpus written by make_corpus.py into
a temporary folder. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from make_corpus import write_corpus  # noqa: E402

PARSE_FLOOR = """
import sys, glob
from concurrent.futures import ProcessPoolExecutor
import libcst as cst
def parse(path):
    with open(path, encoding="utf-8") as f:
        cst.parse_module(f.read())
files = sorted(glob.glob(sys.argv[1] + "/**/*.py", recursive=True))
with ProcessPoolExecutor(int(sys.argv[2])) as pool:
    list(pool.map(parse, files, chunksize=8))
"""


def timed(cmd, env) -> tuple:
    """(seconds, peak RSS in MiB of the command's largest process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def peak_rss(cmd, env) -> float:
    """Peak RSS (MiB) of the largest process of ``cmd``, in a fresh interpreter that measures it."""
    code = (
        "import resource,subprocess,sys;"
        "subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    accelport = [sys.executable, "-c", "from accelport.__main__ import main; main()"]
    with tempfile.TemporaryDirectory() as tmp:
        corpus, half = Path(tmp) / "corpus", Path(tmp) / "half"
        lines = write_corpus(corpus, args.files)
        write_corpus(half, args.files // 2)
        env = dict(os.environ, ACCELPORT_CACHE_DIR=str(Path(tmp) / "cache"))
        jobs = ["--jobs", str(args.jobs)]
        floor, _ = timed([sys.executable, "-c", PARSE_FLOOR, str(corpus), str(args.jobs)], env)
        rewrite, _ = timed([*accelport, "rewrite", "--diff", "--no-cache", *jobs, str(corpus)], env)
        cold, _ = timed([*accelport, "check", *jobs, str(corpus)], env)
        warm, _ = timed([*accelport, "check", *jobs, str(corpus)], env)
        mem_full = peak_rss([*accelport, "rewrite", "--diff", "--no-cache", *jobs, str(corpus)], env)
        mem_half = peak_rss([*accelport, "rewrite", "--diff", "--no-cache", *jobs, str(half)], env)
    print(f"Corpus: {args.files} files, {lines} lines; {args.jobs} processes; {os.cpu_count()} cores\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| LibCST parse floor ({args.jobs} processes) | {floor:.1f} s |")
    print(f"| `accelport rewrite --diff --no-cache --jobs {args.jobs}` | {rewrite:.1f} s |")
    print(f"| ratio rewrite / parse floor | {rewrite / floor:.1f}x |")
    print(f"| `accelport check` cold (fills the cache) | {cold:.1f} s |")
    print(f"| `accelport check` warm (unchanged files) | {warm:.2f} s |")
    print(f"| peak RSS of the largest process, {args.files // 2} files | {mem_half:.0f} MiB |")
    print(f"| peak RSS of the largest process, {args.files} files | {mem_full:.0f} MiB |")


if __name__ == "__main__":
    main()
