"""Benchmark: ``accelport rewrite --diff`` against LibCST's parse floor, cold vs warm ``check``, memory.

    python bench/bench_rewrite.py [--files 500] [--jobs 2] [--reps 3]

Everything is measured in this one run, side by side, on a corpus written by make_corpus.py into
a temporary folder. The parse floor and the rewrite alternate ``--reps`` times and the medians are
compared (on a shared machine one run of either can be slowed by a third or more), and so is the CPU
time each took (user + system, the process and its workers), which other work on the machine moves far
less than the wall-clock time; the in-process row times ``runner.process`` against
``libcst.parse_module`` file by file, the best of three each, interleaved. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
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
    """(seconds, CPU seconds of the command and the workers it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def peak_rss(cmd, env) -> float:
    """Peak RSS (MiB) of the largest process of ``cmd``, in a fresh interpreter that measures it."""
    code = (
        "import resource,subprocess,sys;"
        "subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def in_process(corpus: Path, files: int = 40) -> float:
    """Per-file cost of reading, porting, verifying and diffing, over LibCST's parse of the same file."""
    import libcst as cst

    from accelport.codemod.files.discovery import Source
    from accelport.codemod.run.runner import Mode, process
    from accelport.codemod.settings import Settings
    from accelport.codemod.engine.statements import parse_ast

    settings, total_parse, total_process = Settings(), 0.0, 0.0
    for path in sorted(corpus.rglob("*.py"))[:files]:
        source, best_parse, best_process = Source(path, str(path), corpus), float("inf"), float("inf")
        for _ in range(3):
            start = time.perf_counter()
            cst.parse_module(path.read_text(encoding="utf-8"))
            best_parse = min(best_parse, time.perf_counter() - start)
            parse_ast.cache_clear()  # the runner remembers the last file's ast: every pass parses afresh
            start = time.perf_counter()
            process(source, settings, Mode.DIFF)
            best_process = min(best_process, time.perf_counter() - start)
        total_parse += best_parse
        total_process += best_process
    return total_process / total_parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    accelport = [sys.executable, "-c", "from accelport.__main__ import main; main()"]
    with tempfile.TemporaryDirectory() as tmp:
        corpus, half = Path(tmp) / "corpus", Path(tmp) / "half"
        lines = write_corpus(corpus, args.files)
        write_corpus(half, args.files // 2)
        env = dict(os.environ, ACCELPORT_CACHE_DIR=str(Path(tmp) / "cache"))
        jobs = ["--jobs", str(args.jobs)]
        floors, rewrites, floor_cpu, rewrite_cpu = [], [], [], []
        for _ in range(args.reps):
            for times, cpus, cmd in (
                (floors, floor_cpu, [sys.executable, "-c", PARSE_FLOOR, str(corpus), str(args.jobs)]),
                (rewrites, rewrite_cpu, [*accelport, "rewrite", "--diff", "--no-cache", *jobs, str(corpus)]),
            ):
                elapsed, cpu = timed(cmd, env)
                times.append(elapsed)
                cpus.append(cpu)
        floor, rewrite = statistics.median(floors), statistics.median(rewrites)
        per_file = in_process(corpus)
        cold, _ = timed([*accelport, "check", *jobs, str(corpus)], env)
        warm = statistics.median(timed([*accelport, "check", *jobs, str(corpus)], env)[0] for _ in range(args.reps))
        mem_full = peak_rss([*accelport, "rewrite", "--diff", "--no-cache", *jobs, str(corpus)], env)
        mem_half = peak_rss([*accelport, "rewrite", "--diff", "--no-cache", *jobs, str(half)], env)
    print(f"Corpus: {args.files} files, {lines} lines; {args.jobs} processes; {os.cpu_count()} cores\n")
    print("| measure | value |")
    print("|---|---|")
    spread = lambda runs: f"{min(runs):.1f}-{max(runs):.1f}"  # noqa: E731
    print(f"| LibCST parse floor ({args.jobs} processes), median of {args.reps} | {floor:.1f} s ({spread(floors)}) |")
    print(f"| `accelport rewrite --diff --no-cache --jobs {args.jobs}`, median of {args.reps} | {rewrite:.1f} s ({spread(rewrites)}) |")
    ratios = ", ".join(f"{r / f:.2f}x" for f, r in zip(floors, rewrites))
    print(f"| ratio rewrite / parse floor | {rewrite / floor:.2f}x (each pair: {ratios}) |")
    cpu_pairs = [r / f for f, r in zip(floor_cpu, rewrite_cpu)]
    cpu_list = ", ".join(f"{r:.2f}x" for r in cpu_pairs)
    print(f"| CPU time ratio, rewrite / parse floor, median of {args.reps} | {statistics.median(cpu_pairs):.2f}x (each pair: {cpu_list}) |")
    print(f"| in one process, per file: `runner.process` / `libcst.parse_module` | {per_file:.2f}x |")
    print(f"| `accelport check` cold (fills the cache) | {cold:.1f} s |")
    print(f"| `accelport check` warm (unchanged files), median of {args.reps} | {warm:.2f} s |")
    print(f"| peak RSS of the largest process, {args.files // 2} files | {mem_half:.0f} MiB |")
    print(f"| peak RSS of the largest process, {args.files} files | {mem_full:.0f} MiB |")


if __name__ == "__main__":
    main()
