"""Run the transform over a real code base (default: the installed ``torch`` package) in-process.

For every file: transform it; the output must parse (``ast.parse``) and a second pass over the
output must change nothing. Prints files, sites per rule, findings, errors (with reasons),
non-parsing and non-idempotent files, and the time.

    python bench/torch_source.py [ROOT] [--jobs 2]
"""

from __future__ import annotations

import argparse
import ast
import collections
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Tuple

from accelport.codemod.settings import Settings
from accelport.codemod.files.read import SourceError, decode
from accelport.codemod.engine.pipeline import transform_source


def check_file(path: str) -> Tuple[str, Dict[str, int], int, str, str]:
    """(path, sites per rule, findings, error or "", problem or "")."""
    try:
        text = decode(Path(path).read_bytes()).text
    except (OSError, SourceError) as exc:
        return path, {}, 0, f"cannot read: {exc}", ""
    settings = Settings()
    first = transform_source(text, path, settings)
    if first.error is not None:
        return path, {}, 0, first.error, ""
    if not first.changed:
        return path, {}, len(first.findings), "", ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(first.new_text)
    except SyntaxError as exc:
        return path, first.counts, len(first.findings), "", f"output does not parse: {exc}"
    second = transform_source(first.new_text, path, settings)
    if second.error is not None:
        return path, first.counts, len(first.findings), "", f"second pass failed: {second.error}"
    if second.new_text != first.new_text:
        return path, first.counts, len(first.findings), "", "second pass changed the output"
    return path, first.counts, len(first.findings), "", ""


def main() -> None:
    import torch  # only to find its folder; nothing of it runs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=str(Path(torch.__file__).parent))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    files = sorted(str(p) for p in Path(args.root).rglob("*.py"))
    start = time.perf_counter()
    counts: collections.Counter = collections.Counter()
    findings = changed = 0
    errors: List[Tuple[str, str]] = []
    problems: List[Tuple[str, str]] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for path, sites, found, error, problem in pool.map(check_file, files, chunksize=8):
            counts.update(sites)
            findings += found
            changed += bool(sites)
            if error:
                errors.append((path, error))
            if problem:
                problems.append((path, problem))
    elapsed = time.perf_counter() - start
    print(f"root: {args.root}")
    print(f"files: {len(files)}, rewritten: {changed}, sites: {sum(counts.values())}, findings: {findings}")
    for rule, n in sorted(counts.items()):
        print(f"  {rule}: {n}")
    print(f"errors (not processed): {len(errors)}")
    for path, error in errors:
        print(f"  {path}: {error}")
    print(f"non-parsing or non-idempotent outputs: {len(problems)}")
    for path, problem in problems:
        print(f"  {path}: {problem}")
    print(f"time: {elapsed:.1f} s with {args.jobs} processes")
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
