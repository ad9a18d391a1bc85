"""Code generation for what the rules rewrote, and positions for what they report.

LibCST's ``CodegenState.record_syntactic_position`` is a generator-based context manager entered for
most nodes: making and stepping a generator per node costs more than the node's own tokens. Plain
generation here never records a position, so it returns one shared do-nothing context; position
generation records a node's syntactic span only for the nodes asked for. For the same reason every
parenthesizable expression's ``_parenthesize`` (also a generator-based context manager, entered by
each expression node) is replaced by a class-based one that writes the same tokens.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from typing import AbstractSet, Dict, Iterator, List, Mapping, Optional, Tuple

import libcst as cst
from libcst._nodes.expression import _BaseParenthesizedNode
from libcst._nodes.internal import CodegenState
from libcst._position import CodePosition
from libcst.metadata import CodeRange


class _Nothing:
    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


_NOTHING = _Nothing()


class _Parens:
    """LibCST's ``_parenthesize``: the node's left parentheses, its tokens inside its syntactic-position
    record, then its right parentheses (not written when generation fails, as with the generator)."""

    __slots__ = ("node", "state", "inner")

    def __init__(self, node: _BaseParenthesizedNode, state: CodegenState) -> None:
        self.node, self.state = node, state

    def __enter__(self) -> None:
        state = self.state
        for lpar in self.node.lpar:
            lpar._codegen(state)
        self.inner = state.record_syntactic_position(self.node)
        self.inner.__enter__()

    def __exit__(self, *exc: object) -> bool:
        if self.inner.__exit__(*exc):
            raise RuntimeError("a position record swallowed a code generation error")  # never: none does
        if exc[0] is None:
            state = self.state
            for rpar in self.node.rpar:
                rpar._codegen(state)
        return False


def _parenthesize(self: _BaseParenthesizedNode, state: CodegenState) -> _Parens:
    return _Parens(self, state)


LIBCST_PARENTHESIZE = _BaseParenthesizedNode._parenthesize  # kept for the test that compares both
_BaseParenthesizedNode._parenthesize = _parenthesize  # type: ignore[assignment,method-assign]


class _PlainState(CodegenState):
    def record_syntactic_position(self, node, *, start_node=None, end_node=None):  # type: ignore[override]
        return _NOTHING


def code_for(module: cst.Module, node: cst.CSTNode) -> str:
    """``module.code_for_node(node)``, the same tokens, without the per-node position bookkeeping."""
    state = _PlainState(default_indent=module.default_indent, default_newline=module.default_newline)
    node._codegen(state)
    return "".join(state.tokens)


class _Unrecorded(LookupError):
    """A wanted node's span is made from a node that was not recorded: record them all instead."""


class _Record:
    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(self, state: "_SpanState", node, start_node, end_node) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node

    def __enter__(self) -> None:
        self.start = len(self.state.tokens)

    def __exit__(self, *exc: object) -> bool:
        spans = self.state.spans
        start, end = self.start, len(self.state.tokens)
        try:
            if self.start_node is not None:
                start = spans[self.start_node][0]
            if self.end_node is not None:
                end = spans[self.end_node][1]
        except KeyError:
            raise _Unrecorded() from None
        spans[self.node] = (start, end)
        return False


class _SpanState(CodegenState):
    """Codegen that records each node's span as token indices, like ``PositionProvider`` records
    line and column: same start/end rules, including its syntactic-position overrides. Turning
    every token into a line and column is what makes ``PositionProvider`` cost twice the parse;
    here only the spans of nodes that are asked for are ever converted. With ``wanted`` (node ids),
    only those nodes are recorded at all."""

    def __init__(self, module: cst.Module, wanted: Optional[AbstractSet[int]] = None) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.spans: Dict[cst.CSTNode, Tuple[int, int]] = {}
        self.stack: List[int] = []
        self.wanted = wanted

    def before_codegen(self, node: cst.CSTNode) -> None:
        if self.wanted is None or id(node) in self.wanted:
            self.stack.append(len(self.tokens))

    def after_codegen(self, node: cst.CSTNode) -> None:
        if self.wanted is None or id(node) in self.wanted:
            start = self.stack.pop()
            if node not in self.spans:
                self.spans[node] = (start, len(self.tokens))

    def record_syntactic_position(self, node, *, start_node=None, end_node=None):  # type: ignore[override]
        if self.wanted is not None and id(node) not in self.wanted:
            return _NOTHING
        return _Record(self, node, start_node, end_node)

    def pop_trailing_newline(self) -> None:
        # Positions were taken with the final newline in place; keep it so indices stay valid.
        pass


_NEWLINE = re.compile(r"\r\n?|\n")


class Positions(Mapping):
    """``{node: CodeRange}`` for a module (or one statement of it), converted from token indices on lookup."""

    def __init__(self, module: cst.Module, wanted: Optional[AbstractSet[int]] = None) -> None:
        state = _SpanState(module, wanted)
        module._codegen(state)
        self._spans = state.spans
        self._offsets = list(accumulate(map(len, state.tokens), initial=0))
        self._line_ends = [m.end() for m in _NEWLINE.finditer("".join(state.tokens))]
        self._cache: Dict[cst.CSTNode, CodeRange] = {}
        self.tokens = state.tokens
        # Only some nodes were recorded: a lookup of another one must generate the spans again.
        self.partial = wanted is not None
        # Lines above this code in the file (a single statement generated on its own).
        self.shift = 0

    def _position(self, index: int) -> CodePosition:
        offset = self._offsets[index]
        line = bisect_right(self._line_ends, offset)
        return CodePosition(line + 1 + self.shift, offset - (self._line_ends[line - 1] if line else 0))

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        found = self._cache.get(node)
        if found is None:
            start, end = self._spans[node]
            found = self._cache[node] = CodeRange(self._position(start), self._position(end))
        return found

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)


def positions(module: cst.Module, wanted: Optional[AbstractSet[int]] = None) -> Positions:
    try:
        return Positions(module, wanted)
    except _Unrecorded:
        return Positions(module)


def statement_positions(module: cst.Module, statements, top: int, wanted: Optional[AbstractSet[int]] = None):
    """``Positions`` of one top-level statement, shifted to where it stands in the file; False when its
    generated code does not match the file's text at the place ``statements`` gives for it."""
    start = statements.start_offset(top, module.body[top])
    # Lines are counted by "\n" below: with "\r" line ends they could not be, whatever the code.
    if start is None or "\r" in statements.source:
        return False
    stmt_module = module.with_changes(body=[module.body[top]], header=[], footer=[], has_trailing_newline=True)
    found = positions(stmt_module, wanted)
    code = "".join(found.tokens)
    if statements.source[start : start + len(code)] != code:
        return False
    found.shift = statements.source.count("\n", 0, start)
    return found
