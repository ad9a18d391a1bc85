"""Bytes <-> text without losing anything: encoding cookie, BOM, line endings, final newline."""

from __future__ import annotations

import codecs
import io
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
