"""Findings moved onto the rewritten text: after ``rewrite`` writes a file, a finding's position must
point at the file as it now is on disk (the added import alone shifts every line below it).

Lines are paired by a line diff of the old and new text. A finding on an unchanged line moves with
it, column kept; one on a rewritten line (a statement that also held a ported site) goes to the new
line at the same offset into the changed block, and its column to the same occurrence of its own
source text on that line: reported code is never rewritten, so its text is still there, only shifted
by the ported expressions before it.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Dict, List, Sequence, Tuple

from accelport.codemod.results import Finding


def _line_map(old: Sequence[str], new: Sequence[str]) -> Dict[int, Tuple[int, bool]]:
    """0-based old line -> (0-based new line, whether the line itself is unchanged)."""
    out: Dict[int, Tuple[int, bool]] = {}
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for i in range(i1, i2):
            if tag == "equal":
                out[i] = (j1 + i - i1, True)
            else:  # replaced or deleted: the same offset into the new block, or its last line
                out[i] = (max(j1, min(j1 + i - i1, j2 - 1)), False)
    return out


def _hits(line: str, needle: str) -> List[int]:
    hits, at = [], line.find(needle)
    while at >= 0:
        hits.append(at + 1)
        at = line.find(needle, at + 1)
    return hits


def _column(old_line: str, new_line: str, snippet: str, col: int) -> int:
    """1-based column on ``new_line`` of the occurrence of ``snippet`` that stood at ``col`` on
    ``old_line`` (the k-th there is the k-th here: ported code elsewhere on the line only shifts it);
    ``col`` itself when the snippet is not found."""
    needle = snippet.splitlines()[0] if snippet else ""
    new_hits = _hits(new_line, needle) if needle else []
    if not new_hits:
        return col
    old_hits = _hits(old_line, needle)
    if col in old_hits and len(old_hits) == len(new_hits):
        return new_hits[old_hits.index(col)]
    return min(new_hits, key=lambda hit: abs(hit - col))


def relocate(findings: List[Finding], old_text: str, new_text: str) -> List[Finding]:
    """``findings`` (positions in ``old_text``) with positions in ``new_text``."""
    if not findings or old_text == new_text:
        return findings
    old, new = old_text.splitlines(), new_text.splitlines()
    mapping = _line_map(old, new)
    moved = []
    for finding in findings:
        target = mapping.get(finding.line - 1)
        if target is None:  # past the end (a finding on a final line without a newline): leave it
            moved.append(finding)
            continue
        index, same = target
        line = index + 1
        col = finding.col if same else _column(old[finding.line - 1], new[index], finding.snippet, finding.col)
        span = finding.end_line - finding.line if finding.end_line else None
        changes = {"line": line, "col": col}
        if span is not None:
            changes["end_line"] = line + span
            if span == 0 and finding.end_col:
                changes["end_col"] = finding.end_col + col - finding.col
        moved.append(dataclasses.replace(finding, **changes))
    return moved
