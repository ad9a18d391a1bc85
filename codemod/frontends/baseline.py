"""Baselines let a legacy codebase adopt the hook on day one: recorded findings pass, new ones fail.

A finding is remembered by rule, path and a fingerprint of its code (the flagged expression's text,
whitespace folded), not by line number, so edits elsewhere in the file and lines moving do not
invalidate it. Each fingerprint carries a count: adding a second identical call fails.

Paths are stored relative to the baseline file's folder, so the same baseline works whatever the
current directory of the run (pre-commit runs from the repository root, CI may not).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from accelport.codemod.results import Finding
from accelport.codemod.files.read import SourceError, read_bounded
from accelport.codemod.files.write import WriteError, remove_stale, write_file

VERSION = 1
MAX_BASELINE_BYTES = 256 * 1024 * 1024
Key = Tuple[str, str, str]


class BaselineError(ValueError):
    pass


def fingerprint(finding: Finding) -> str:
    folded = " ".join(finding.snippet.split())
    return hashlib.sha256(f"{finding.rule}\0{folded}".encode()).hexdigest()[:16]


def relative(path: str, baseline: Path) -> str:
    """``path`` (as displayed: relative to the cwd, or absolute) relative to the baseline's folder."""
    folder = os.path.abspath(baseline.parent)
    return Path(os.path.relpath(os.path.abspath(path), folder)).as_posix()


def _key(finding: Finding, baseline: Path) -> Key:
    return finding.rule, relative(finding.path, baseline), fingerprint(finding)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a count")


def load(path: Path) -> Counter:
    """``(rule, path, fingerprint) -> count``; empty when the file does not exist yet. Anything else than
    the shape ``update`` writes is a BaselineError naming the file and the problem."""
    if not path.exists():
        return Counter()
    try:
        _, raw = read_bounded(path, MAX_BASELINE_BYTES)
        document = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (SourceError, OSError, ValueError, RecursionError, MemoryError) as exc:
        raise BaselineError(f"{path}: not a valid accelport baseline ({_reason(exc)})") from None
    if not isinstance(document, dict):
        raise BaselineError(f"{path}: not a valid accelport baseline (not a JSON object)")
    if document.get("version") != VERSION:
        raise BaselineError(f"{path}: baseline version {document.get('version')!r}, expected {VERSION}")
    entries = document.get("findings")
    if not isinstance(entries, list):
        raise BaselineError(f"{path}: not a valid accelport baseline (\"findings\" must be a list)")
    counts: Counter = Counter()
    for number, entry in enumerate(entries):
        fields = [entry.get(k) for k in ("rule", "path", "fingerprint")] if isinstance(entry, dict) else None
        count = entry.get("count", 1) if isinstance(entry, dict) else None
        if fields is None or not all(isinstance(f, str) for f in fields) or type(count) is not int or count < 1:
            raise BaselineError(
                f"{path}: not a valid accelport baseline (finding {number}: needs string rule, path, "
                "fingerprint and a whole positive count)"
            )
        counts[tuple(fields)] += count
    return counts


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, MemoryError):
        return "too large"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def new_findings(findings: Sequence[Finding], baseline: Counter, baseline_path: Path) -> List[Finding]:
    """Findings not covered by the baseline, in the order given (each recorded count covers that many)."""
    remaining = Counter(baseline)
    out = []
    for finding in findings:
        key = _key(finding, baseline_path)
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            out.append(finding)
    return out


def update(path: Path, findings: Sequence[Finding], checked: Iterable[str], project: Optional[Path] = None) -> int:
    """Rewrite the baseline: today's findings for the files ``checked``; entries of files not checked in
    this run are kept while the file still exists (a hook run on a few files must not forget the rest),
    and entries of fixed findings and deleted files are dropped. Returns the number of findings recorded.

    Written atomically; a symlinked baseline keeps its link (its target is written) when the target
    lies inside ``project``, and is refused otherwise (codemod/files/write.py)."""
    counts: Dict[Key, int] = Counter(_key(f, path) for f in findings)
    seen = {relative(p, path) for p in checked}
    folder = Path(os.path.abspath(path.parent))
    for key, count in load(path).items():
        rule, file, print_ = key
        if file not in seen and (folder / file).is_file():
            counts[key] = count
    entries = [
        {"rule": rule, "path": file, "fingerprint": print_, "count": count}
        for (rule, file, print_), count in sorted(counts.items())
    ]
    text = json.dumps({"version": VERSION, "tool": "accelport", "findings": entries}, indent=2) + "\n"
    try:
        written = write_file(path, text.encode("utf-8"), inside=project or Path.cwd())
    except WriteError as exc:
        raise BaselineError(str(exc)) from None
    remove_stale([written.parent])
    return sum(counts.values())
