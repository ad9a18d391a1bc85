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


_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def quote_name(name: bytes) -> str:
    """``name`` as git writes it in a header: as it is, or (with a control character, a quote, a
    backslash or a byte over 126) C-quoted with octal escapes, as git's
    ``core.quotePath`` does. A newline in a name can then never start a line of the diff."""
    if not any(b < 0x20 or b in (0x22, 0x5C) or b >= 0x7F for b in name):
        return name.decode("ascii")
    out = ['"']
    for b in name:
        if b in _ESCAPES:
            out.append(_ESCAPES[b])
        elif b < 0x20 or b >= 0x7F:
            out.append(f"\\{b:03o}")
        else:
            out.append(chr(b))
    out.append('"')
    return "".join(out)


def headers(path: str) -> List[str]:
    """The ``---``/``+++`` names for ``path`` as displayed: ``a/``/``b/`` prefixed and relative to the
    current folder; a file outside it keeps its absolute path, unprefixed (``patch -p0`` applies it;
    git refuses paths outside the repository whatever they are called)."""
    name = os.fsencode(path)
    if name.startswith(b"/"):
        return [quote_name(name)] * 2
    return [quote_name(b"a/" + name), quote_name(b"b/" + name)]


def unified_diff(old: bytes, new: bytes, path: str) -> bytes:
    """The diff turning ``old`` into ``new`` for ``path`` (relative, ``/``-separated); b"" if equal."""
    # latin-1 maps every byte to one character and back: the diff is byte-transparent.
    old_lines = lines(old.decode("latin-1"))
    new_lines = lines(new.decode("latin-1"))
    before, after = headers(path)
    out: List[str] = []
    for number, line in enumerate(difflib.unified_diff(old_lines, new_lines, before, after, n=3)):
        if number < 2:  # the --- / +++ header
            out.append(line.rstrip("\r\n") + "\n")
        elif line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n" + NO_NEWLINE)
    return "".join(out).encode("latin-1")
