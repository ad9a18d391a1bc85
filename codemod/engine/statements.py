"""Top-level statements as line ranges, from Python's own (C-fast) parser.

Most statements of a real file cannot match any rule: no trigger substring occurs in their text. The
LibCST walks skip them, which is where the per-file time goes. ``ast`` gives each statement's lines for
a tenth of LibCST's parse cost; when its statements cannot be paired one-to-one with LibCST's top-level
statements (a grammar ``ast`` of this Python rejects, say), nothing is skipped.
"""

from __future__ import annotations

import ast
import functools
import re
import warnings
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

import libcst as cst

from accelport.codemod.engine.codegen import code_for


@dataclass
class Statements:
    """``groups[i]`` holds the ``ast`` statements of LibCST's ``module.body[i]``."""

    lines: List[str]
    ranges: List[Tuple[int, int]]
    groups: List[List[ast.stmt]]
    source: str = ""
    _starts: Optional[List[int]] = field(default=None, repr=False)
    _without: Dict[Tuple[str, ...], FrozenSet[int]] = field(default_factory=dict, repr=False)

    def start_offset(self, index: int, stmt: cst.CSTNode) -> Optional[int]:
        """Where LibCST's statement ``index`` (its leading comment lines included) starts in ``source``.

        A guess from ``ast``'s line numbers; callers compare the statement's code with the text there.
        """
        line = self.ranges[index][0] - len(getattr(stmt, "leading_lines", ()))
        if line < 1:
            return None
        if self._starts is None:
            self._starts = list(accumulate(map(len, self.lines), initial=0))
        return self._starts[line - 1] if line - 1 < len(self._starts) else None

    def text(self, index: int) -> str:
        start, end = self.ranges[index]
        return "".join(self.lines[start - 1 : end])

    def without(self, triggers: Iterable[str]) -> FrozenSet[int]:
        """Indices of statements whose text holds none of ``triggers`` nor a module-level alias of one.

        ``from torch.cuda import synchronize as sync`` makes ``sync()`` a match although its statement
        never spells ``cuda``: the local names of such imports count as triggers too. Remembered per
        trigger set: the sparse parse and the transform of the same file both ask.
        """
        key = tuple(triggers)
        found = self._without.get(key)
        if found is None:
            words = key + tuple(self._aliases(key))
            found = self._without[key] = frozenset(
                i for i in range(len(self.ranges)) if not any(w in self.text(i) for w in words)
            )
        return found

    def render(self, original: cst.Module, new: cst.Module) -> Optional[str]:
        """``new.code``, copying the statements ``new`` shares with ``original`` from the source text.

        Code generation costs half a parse; most statements are unchanged, and their text is already
        here. None where the statements cannot be placed with certainty (the caller generates it all).
        """
        body = original.body
        if (
            not body
            or not new.body
            or "\r" in self.source
            or new.header is not original.header
            or new.footer is not original.footer
            or not original.has_trailing_newline
            or not new.has_trailing_newline
        ):
            return None
        footer = ""
        if original.footer:
            footer = cst.Module(body=[], header=list(original.footer), default_newline=original.default_newline).code
        if not self.source.endswith(footer):
            return None
        starts: List[int] = []
        for index, stmt in enumerate(body):
            start = self.start_offset(index, stmt)
            if start is None or (starts and start <= starts[-1]) or not self._leading_lines_match(index, stmt):
                return None
            starts.append(start)
        ends = starts[1:] + [len(self.source) - len(footer)]
        where = {id(stmt): index for index, stmt in enumerate(body)}
        parts = [self.source[: starts[0]]]
        for stmt in new.body:
            index = where.get(id(stmt))
            if index is None:
                parts.append(code_for(new, stmt))
            else:
                parts.append(self.source[starts[index] : ends[index]])
        parts.append(footer)
        return "".join(parts)

    def _leading_lines_match(self, index: int, stmt: cst.CSTNode) -> bool:
        """The comment lines LibCST put above the statement are the lines ``ast`` places there."""
        leading = getattr(stmt, "leading_lines", ())
        first = self.ranges[index][0] - len(leading)
        for offset, empty in enumerate(leading):
            line = self.lines[first - 1 + offset].strip()
            expected = empty.comment.value if empty.comment is not None else ""
            if line != expected:
                return False
        decorators = getattr(stmt, "decorators", ())
        return not decorators or not decorators[0].leading_lines

    def _aliases(self, triggers: Sequence[str]) -> Set[str]:
        out: Set[str] = set()
        for group in self.groups:
            for stmt in group:
                for node in _module_level(stmt):
                    if isinstance(node, ast.Import):
                        for alias in node.names:
                            if any(t in alias.name for t in triggers):
                                out.add(alias.asname or alias.name.split(".")[0])
                    elif isinstance(node, ast.ImportFrom):
                        base = node.module or ""
                        for alias in node.names:
                            if any(t in f"{base}.{alias.name}" for t in triggers):
                                out.add(alias.asname or alias.name)
        return out

    def names(self, indices: Iterable[int]) -> Tuple[FrozenSet[str], bool]:
        """Names read in these statements (imports aside), and whether ``torch.cuda`` is spelled there."""
        found: Set[str] = set()
        torch_cuda = False
        for index in indices:
            for stmt in self.groups[index]:
                for node in ast.walk(stmt):
                    if isinstance(node, ast.Name):
                        found.add(node.id)
                    elif (
                        isinstance(node, ast.Attribute)
                        and node.attr == "cuda"
                        and isinstance(node.value, ast.Name)
                        and node.value.id == "torch"
                    ):
                        torch_cuda = True
        return frozenset(found), torch_cuda


def _module_level(stmt: ast.stmt) -> Iterable[ast.AST]:
    """``stmt`` and what it contains, except function and class bodies (their imports are local)."""
    todo = [stmt]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        todo.extend(ast.iter_child_nodes(node))


@functools.lru_cache(maxsize=2)
def parse_ast(text: str) -> ast.Module:
    """``ast.parse`` without warnings, remembered for the file in hand: the runner's nesting guard and
    the statement map both need it, and parsing twice would cost a tenth of LibCST's parse again."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text)


def whole_file(stmts: Optional[Statements], module: cst.Module) -> Tuple[ast.Module, List[str]]:
    """Python's ``ast`` of the whole file and its lines, for analyses that need every statement (the
    sparse parse stubs some): from ``stmts`` where paired, else a parse of ``module``'s code (which
    is then a full parse). Raises what ``ast.parse`` raises."""
    if stmts is not None:
        return ast.Module(body=[node for group in stmts.groups for node in group], type_ignores=[]), stmts.lines
    source = module.code
    return ast.parse(source), source.splitlines(True)


def statements(text: str, module: cst.Module, found: Optional[Statements] = None) -> Optional[Statements]:
    """The layout of ``text`` (``found``, where the caller has it already), paired with LibCST's
    ``module.body``; None where they cannot be paired."""
    found = found if found is not None else layout(text)
    return found if found is not None and len(found.ranges) == len(module.body) else None


def layout(text: str) -> Optional[Statements]:
    """Top-level statements of ``text`` from ``ast`` alone (LibCST's grouping of ``a; b``); None where
    this Python's ``ast`` rejects the text."""
    try:
        tree = parse_ast(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    ranges: List[Tuple[int, int]] = []
    groups: List[List[ast.stmt]] = []
    for stmt in tree.body:
        decorators: Sequence[ast.expr] = getattr(stmt, "decorator_list", ())
        start = min([stmt.lineno, *(d.lineno for d in decorators)])
        end = stmt.end_lineno or stmt.lineno
        if ranges and start <= ranges[-1][1]:
            # `a = 1; b = 2` is one LibCST statement line.
            ranges[-1] = (ranges[-1][0], max(end, ranges[-1][1]))
            groups[-1].append(stmt)
        else:
            ranges.append((start, end))
            groups.append([stmt])
    return Statements(_LINE.findall(text), ranges, groups, text)


# Python's own line ends: \r\n, \r or \n (``str.splitlines`` also splits on form feeds).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def scope_skippable(stmts: Statements, index: int) -> bool:
    """Whether scope building may skip a statement the rules skip: only a def or class, whose body binds
    nothing outside it (its own name is recorded without walking it). Other statements bind module
    names (``torch = None``, imports inside ``try``) that resolution must see."""
    return all(isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for stmt in stmts.groups[index])
