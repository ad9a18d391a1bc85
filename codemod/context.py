"""What a rule sees while the tree is walked: names, roles, claims, and where to report."""

from __future__ import annotations

import re
from bisect import bisect_right
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate
from typing import AbstractSet, Any, Dict, Iterator, List, Mapping, Optional, Set, Tuple

import libcst as cst
from libcst._position import CodePosition
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodeRange

from accelport.codemod.names import Scope, ScopeBuilder, resolve_name
from accelport.codemod.suppress import Suppressions

DEVICE = "device"
INDEX = "index"
BACKEND = "backend"

ACCEL_FUNC = "get_accelerator"
# Set in ``ctx.notes`` by a rule whose analysis needs every statement walked (see transform._context).
FULL_WALK = "full-walk"


@dataclass
class Site:
    rule: str
    code: str
    node: cst.CSTNode
    message: str
    replacement: Optional[cst.CSTNode] = None
    # Index of the top-level statement holding ``node``: positions are worked out per statement.
    top: int = -1


class Context:
    def __init__(self, module: cst.Module, scopes: ScopeBuilder, suppressions: Suppressions) -> None:
        self.module = module
        self.scopes = scopes
        self.scope_stack: List[Scope] = [scopes.root]
        self.suppressions = suppressions
        self.roles: Dict[int, str] = {}
        self.claimed: Set[int] = set()
        self.not_refs: Set[int] = set()
        # Top-level statements no rule can match (no trigger in their text): never walked.
        self.skip: AbstractSet[int] = frozenset()
        self.top_index: Dict[int, int] = {id(stmt): index for index, stmt in enumerate(module.body)}
        self.current_top = -1
        self.statements: Optional[Any] = None  # codemod.statements.Statements, when ast could pair them
        self.chain_inner: Set[int] = set()
        self.store_targets: Set[int] = set()
        self.fixes: List[Site] = []
        self.findings: List[Site] = []
        self._qnames: Dict[int, Optional[str]] = {}
        self._statement_positions: Dict[int, object] = {}
        self._positions: Optional[Mapping[cst.CSTNode, CodeRange]] = None
        # Filled by the current-device analysis: id(assignment value) -> decision.
        self.notes: Dict[str, object] = {}

    # -- names ----------------------------------------------------------------------------
    @property
    def scope(self) -> Scope:
        return self.scope_stack[-1]

    def qname(self, node: cst.CSTNode) -> Optional[str]:
        """Qualified name of a dotted expression (``th.cuda.X`` -> ``torch.cuda.X``), else None."""
        key = id(node)
        if key in self._qnames:
            return self._qnames[key]
        result: Optional[str] = None
        if isinstance(node, cst.Name):
            if key not in self.not_refs:
                result = resolve_name(node.value, self.scope)
        elif isinstance(node, cst.Attribute):
            base = self.qname(node.value)
            if base is not None:
                result = f"{base}.{node.attr.value}"
        self._qnames[key] = result
        return result

    def is_chain_top(self, node: cst.CSTNode) -> bool:
        """False for ``torch.cuda`` inside ``torch.cuda.synchronize``: only whole chains are matched."""
        return id(node) not in self.chain_inner

    def skip_unless(self, triggers: Tuple[str, ...]) -> AbstractSet[int]:
        """``self.skip`` plus the top-level statements that hold none of ``triggers`` (or their aliases)."""
        if self.statements is None:
            return self.skip
        body = self.module.body
        return set(self.skip) | {id(body[i]) for i in self.statements.without(triggers)}

    def is_ref(self, node: cst.Name) -> bool:
        return id(node) not in self.not_refs

    # -- roles and claims ---------------------------------------------------------------
    def role(self, node: cst.CSTNode) -> Optional[str]:
        return self.roles.get(id(node))

    def set_role(self, node: cst.CSTNode, role: str) -> None:
        self.roles[id(node)] = role

    def claim(self, node: cst.CSTNode) -> None:
        """The parent's rule will rewrite this node as part of a larger expression."""
        self.claimed.add(id(node))

    # -- building replacements -----------------------------------------------------------
    def accel(self, *attrs: str) -> cst.BaseExpression:
        """``get_accelerator()`` or ``get_accelerator().attr...`` (the import follows from the name in the output)."""
        expr: cst.BaseExpression = cst.Call(func=cst.Name(ACCEL_FUNC))
        for attr in attrs:
            expr = cst.Attribute(value=expr, attr=cst.Name(attr))
        return expr

    def accel_call(self, method: str, *args: cst.Arg) -> cst.Call:
        return cst.Call(func=self.accel(method), args=list(args))

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    # -- reporting -----------------------------------------------------------------------
    def positions(self) -> Mapping[cst.CSTNode, CodeRange]:
        """Every node's ``PositionProvider`` range, worked out only for the nodes asked for."""
        if self._positions is None:
            self._positions = _Positions(self.module)
        return self._positions

    def range_of(self, node: cst.CSTNode, top: int = -1) -> CodeRange:
        """The node's range; generating only its top-level statement's code when that can be placed."""
        if top < 0:
            top = self.current_top
        if self._positions is None and top >= 0 and self.statements is not None:
            spans = self._statement_positions.get(top)
            if spans is None:
                spans = self._statement_positions[top] = _statement_positions(self.module, self.statements, top)
            if spans is not False and node in spans:
                return spans[node]
        return self.positions()[node]

    def suppressed(self, node: cst.CSTNode, rule: str) -> bool:
        if not self.suppressions:
            return False
        where = self.range_of(node)
        if where is None:
            return False
        return self.suppressions.covers(where.start.line, where.end.line, rule)

    def report(self, rule: "object", node: cst.CSTNode, message: str) -> None:
        name = getattr(rule, "NAME")
        if self.suppressed(node, name):
            return
        self.findings.append(Site(name, getattr(rule, "CODE"), node, message, top=self.current_top))


_NEWLINE = re.compile(r"\r\n?|\n")


class _SpanState(CodegenState):
    """Codegen that records each node's span as token indices, like ``PositionProvider`` records
    line and column: same start/end rules, including its syntactic-position overrides. Turning
    every token into a line and column is what makes ``PositionProvider`` cost twice the parse;
    here only the spans of nodes that are asked for are ever converted."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.spans: Dict[cst.CSTNode, Tuple[int, int]] = {}
        self.stack: List[int] = []

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.stack.append(len(self.tokens))

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self.stack.pop()
        if node not in self.spans:
            self.spans[node] = (start, len(self.tokens))

    @contextmanager
    def record_syntactic_position(
        self, node: cst.CSTNode, *, start_node: Optional[cst.CSTNode] = None, end_node: Optional[cst.CSTNode] = None
    ) -> Iterator[None]:
        start = len(self.tokens)
        try:
            yield
        finally:
            end = len(self.tokens)
            if start_node is not None:
                start = self.spans[start_node][0]
            if end_node is not None:
                end = self.spans[end_node][1]
            self.spans[node] = (start, end)

    def pop_trailing_newline(self) -> None:
        # Positions were taken with the final newline in place; keep it so indices stay valid.
        pass


class _Positions(Mapping):
    """``{node: CodeRange}`` for a module, converted from token indices on lookup."""

    def __init__(self, module: cst.Module) -> None:
        state = _SpanState(module)
        module._codegen(state)
        self._spans = state.spans
        self._offsets = list(accumulate(map(len, state.tokens), initial=0))
        self._line_ends = [m.end() for m in _NEWLINE.finditer("".join(state.tokens))]
        self._cache: Dict[cst.CSTNode, CodeRange] = {}
        self.tokens = state.tokens
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


def _statement_positions(module: cst.Module, statements, top: int):
    """``_Positions`` of one top-level statement, shifted to where it stands in the file; False when its
    generated code does not match the file's text at the place ``statements`` gives for it."""
    start = statements.start_offset(top, module.body[top])
    if start is None:
        return False
    stmt_module = module.with_changes(body=[module.body[top]], header=[], footer=[], has_trailing_newline=True)
    positions = _Positions(stmt_module)
    code = "".join(positions.tokens)
    if statements.source[start : start + len(code)] != code:
        return False
    line_shift = statements.source.count("\n", 0, start) if "\r" not in statements.source else None
    if line_shift is None:
        return False
    positions.shift = line_shift
    return positions
