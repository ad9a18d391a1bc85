"""Bytes <-> text without losing anything: encoding cookie, BOM, line endings, final newline."""

from __future__ import annotations

import codecs
import io
import os
import re
import stat
import tokenize
from dataclasses import dataclass

BOM = codecs.BOM_UTF8


class SourceError(ValueError):
    """The file cannot be read as Python source; the message is the reason, for one line of output."""


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    bom: bool

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return BOM + data if self.bom else data


def decode(data: bytes) -> Decoded:
    if b"\0" in data:
        raise SourceError("binary file (contains NUL bytes)")
    bom = data.startswith(BOM)
    body = data[len(BOM) :] if bom else data
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise SourceError(f"bad encoding declaration: {exc}") from None
    if encoding == "utf-8-sig":
        encoding = "utf-8"
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise SourceError(f"not valid {encoding} ({reason}); add a coding declaration") from None
    return Decoded(text, encoding, bom)


# Limits, checked before LibCST sees a file: over one, the file is named with the reason and left
# byte-identical, in about the time of reading it (docs/safety.md; options in [tool.accelport]).
MAX_FILE_SIZE = 8 * 1024 * 1024  # bytes; LibCST needs ~100x a file's size in memory
MAX_LINE_LENGTH = 20_000  # characters; LibCST's time grows with the tokens of one logical line
MAX_NESTING = 1_000  # syntax-tree depth; LibCST's time and memory grow faster than linearly with it


def read_bounded(path: "os.PathLike[str] | str", limit: int) -> "tuple[os.stat_result, bytes]":
    """The stat and bytes of the regular file ``path``; SourceError for anything else (a FIFO, a device,
    a folder) and for a file over ``limit`` bytes, which is never read past the limit.

    Opened without blocking, so a FIFO is recognised rather than waited on.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(f"not a regular file ({kind_of(st.st_mode)}); not read")
        if st.st_size > limit:
            raise SourceError(f"file too large ({st.st_size} bytes, limit {limit}: max-file-size); left unchanged")
        chunks = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            raise SourceError(f"file too large (over {limit} bytes: max-file-size); left unchanged")
        return st, data
    finally:
        os.close(fd)


def kind_of(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"),
    ):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def long_line(text: str, limit: int) -> "int | None":
    """The 1-based number of the first line longer than ``limit`` characters, or None (one linear scan)."""
    if len(text) <= limit:
        return None
    found = re.compile("[^\r\n]{%d}" % (limit + 1)).search(text)
    if found is None:
        return None
    before = text[: found.start()]
    return before.count("\n") + before.count("\r") - before.count("\r\n") + 1
