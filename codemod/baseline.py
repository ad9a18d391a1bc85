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
from typing import Dict, Iterable, List, Sequence, Tuple

from accelport.codemod.results import Finding

VERSION = 1
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


def load(path: Path) -> Counter:
    """``(rule, path, fingerprint) -> count``; empty when the file does not exist yet."""
    if not path.exists():
        return Counter()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise TypeError("not a JSON object")
        if document.get("version") != VERSION:
            raise BaselineError(f"{path}: baseline version {document.get('version')!r}, expected {VERSION}")
        entries = document["findings"]
        return Counter({(e["rule"], e["path"], e["fingerprint"]): int(e.get("count", 1)) for e in entries})
    except BaselineError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BaselineError(f"{path}: not a valid accelport baseline ({type(exc).__name__}: {exc})") from None


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


def update(path: Path, findings: Sequence[Finding], checked: Iterable[str]) -> int:
    """Rewrite the baseline: today's findings for the files ``checked``; entries of files not checked in
    this run are kept while the file still exists (a hook run on a few files must not forget the rest),
    and entries of fixed findings and deleted files are dropped. Returns the number of findings recorded."""
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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return sum(counts.values())
