"""Baselines let a legacy codebase adopt the hook on day one: recorded findings pass, new ones fail.

A finding is remembered by rule, path and a fingerprint of its code (the flagged expression's text,
whitespace folded), not by line number, so edits elsewhere in the file do not invalidate it. Each
fingerprint carries a count: adding a second identical call fails.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from accelport.codemod.results import Finding

VERSION = 1
Key = Tuple[str, str, str]


class BaselineError(ValueError):
    pass


def fingerprint(finding: Finding) -> str:
    folded = " ".join(finding.snippet.split())
    return hashlib.sha256(f"{finding.rule}\0{folded}".encode()).hexdigest()[:16]


def _key(finding: Finding) -> Key:
    return finding.rule, finding.path, fingerprint(finding)


def load(path: Path) -> Counter:
    if not path.exists():
        return Counter()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document["findings"]
        if document.get("version") != VERSION:
            raise BaselineError(f"{path}: baseline version {document.get('version')!r}, expected {VERSION}")
        return Counter({(e["rule"], e["path"], e["fingerprint"]): int(e.get("count", 1)) for e in entries})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, BaselineError):
            raise
        raise BaselineError(f"{path}: not a valid accelport baseline ({exc})") from None


def new_findings(findings: Sequence[Finding], baseline: Counter) -> List[Finding]:
    """Findings not covered by the baseline, in the order given."""
    remaining = Counter(baseline)
    out = []
    for finding in findings:
        key = _key(finding)
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            out.append(finding)
    return out


def write(path: Path, findings: Sequence[Finding]) -> None:
    counts: Dict[Key, int] = Counter(_key(f) for f in findings)
    entries = [
        {"rule": rule, "path": file, "fingerprint": print_, "count": count}
        for (rule, file, print_), count in sorted(counts.items())
    ]
    text = json.dumps({"version": VERSION, "tool": "accelport", "findings": entries}, indent=2) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
