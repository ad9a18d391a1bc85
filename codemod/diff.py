"""Unified diffs that ``git apply`` accepts: ``a/`` and ``b/`` prefixes, ``\\ No newline`` markers."""

from __future__ import annotations

import difflib
from typing import List

NO_NEWLINE = "\\ No newline at end of file\n"


def lines(text: str) -> List[str]:
    """Split on ``\n`` only, as git does (``str.splitlines`` also splits on form feeds and ``\r``)."""
    parts = text.split("\n")
    out = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def unified_diff(old: str, new: str, path: str) -> str:
    old_lines = lines(old)
    new_lines = lines(new)
    out: List[str] = []
    for number, line in enumerate(difflib.unified_diff(old_lines, new_lines, f"a/{path}", f"b/{path}", n=3)):
        if number < 2:  # the --- / +++ header
            out.append(line.rstrip("\r\n") + "\n")
        elif line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n" + NO_NEWLINE)
    return "".join(out)
