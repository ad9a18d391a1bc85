"""Give LibCST only the top-level statements a rule can touch.

Parsing is the largest single cost per file, and a def or class whose text holds no trigger is never
walked by any rule: parsing it buys nothing. For LibCST such a statement is replaced by a stub that
binds the same name on the same lines (``def helper(): '''<marker>...'''``), so every line and column
of the statements that are parsed is the file's own, and comments between statements stay where they
are. Stubs are never walked, and the output copies every unchanged statement from the source text
(``Statements.render``). A stub that reaches the output anyway, through any path that regenerates it,
carries the marker; the caller then transforms the file again from a full parse.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import AbstractSet, List, Optional

from accelport.codemod.engine.statements import Statements, scope_skippable

_MARKER = "accelport-stub"


@dataclass(frozen=True)
class Sparse:
    text: str  # what LibCST parses: the file with trigger-free defs and classes stubbed
    marker: str  # occurs in ``text`` only inside stubs, never in the file itself


def _marker(source: str) -> str:
    marker, n = _MARKER, 0
    while marker in source:
        n += 1
        marker = f"{_MARKER}-{n}"
    return marker


def _head(stmt: ast.stmt) -> str:
    if isinstance(stmt, ast.ClassDef):
        return f"class {stmt.name}:"
    prefix = "async def" if isinstance(stmt, ast.AsyncFunctionDef) else "def"
    return f"{prefix} {stmt.name}():"  # type: ignore[attr-defined]


def _stub(stmt: ast.stmt, height: int, marker: str) -> str:
    """A def or class named like ``stmt``, exactly ``height`` lines tall, its body a string holding ``marker``."""
    if height == 1:
        return f"{_head(stmt)} '{marker}'\n"
    return f"{_head(stmt)} '''{marker}\n" + "\n" * (height - 2) + "'''\n"


def sparse(stmts: Statements, skip: AbstractSet[int]) -> Optional[Sparse]:
    """The file's text with the statements in ``skip`` that bind only their own name stubbed; None where
    nothing can be stubbed or the stubs could not keep every line in place."""
    source = stmts.source
    # Stubs end in "\n": they keep line numbers only where every line does (no "\r", a final newline).
    if "\r" in source or not source.endswith("\n"):
        return None
    chosen = [i for i in sorted(skip) if scope_skippable(stmts, i)]
    if not chosen:
        return None
    marker = _marker(source)
    parts: List[str] = []
    line = 1  # the next source line not yet copied
    for index in chosen:
        start, end = stmts.ranges[index]
        parts.extend(stmts.lines[line - 1 : start - 1])
        parts.append(_stub(stmts.groups[index][0], end - start + 1, marker))
        line = end + 1
    parts.extend(stmts.lines[line - 1 :])
    return Sparse("".join(parts), marker)
