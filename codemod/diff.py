"""Unified diffs that ``git apply`` accepts: ``a/`` and ``b/`` prefixes, ``\\ No newline`` markers.

The diff is made from the file's bytes, not its decoded text, so it carries exactly what is on disk:
a UTF-8 BOM, a latin-1 file's bytes, ``\\r\\n`` endings, a lone ``\\r`` or a form feed inside a line.
"""

from __future__ import annotations

import difflib
import os
from typing import List

NO_NEWLINE = "\\ No newline at end of file\n"


def lines(text: str) -> List[str]:
    """Split on ``\n`` only, as git does (``str.splitlines`` also splits on form feeds and ``\r``)."""
    parts = text.split("\n")
    out = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def unified_diff(old: bytes, new: bytes, path: str) -> bytes:
    """The diff turning ``old`` into ``new`` for ``path`` (relative, ``/``-separated); b"" if equal."""
    # latin-1 maps every byte to one character and back: the diff is byte-transparent.
    old_lines = lines(old.decode("latin-1"))
    new_lines = lines(new.decode("latin-1"))
    name = os.fsencode(path).decode("latin-1")
    out: List[str] = []
    for number, line in enumerate(difflib.unified_diff(old_lines, new_lines, f"a/{name}", f"b/{name}", n=3)):
        if number < 2:  # the --- / +++ header
            out.append(line.rstrip("\r\n") + "\n")
        elif line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n" + NO_NEWLINE)
    return "".join(out).encode("latin-1")
