"""What a rule sees while the tree is walked: names, roles, claims, and where to report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

import libcst as cst
from libcst.metadata import CodeRange

from accelport.codemod.engine import codegen
from accelport.codemod.engine.names import Scope, ScopeBuilder, resolve_name
from accelport.codemod.engine.suppress import Suppressions

DEVICE = "device"
INDEX = "index"
BACKEND = "backend"
# A backend name compared with the backend in use (``dist.get_backend() == "nccl"``): a question, which
# is already right on every backend (only CUDA runs use NCCL), never a backend to pass.
BACKEND_QUESTION = "backend-question"
# A backend name a library reads itself, not torch (DeepSpeed's 1-bit optimizers' ``comm_backend_name``
# picks their NcclBackend / MpiBackend / HcclBackend by comparing names).
OWN_BACKEND = "own-backend"
# The "nccl" among an argparse option's ``choices`` for the backend, where no other backend is offered.
BACKEND_CHOICE = "backend-choice"

ACCEL_FUNC = "get_accelerator"
# Set in ``ctx.notes`` by a rule whose analysis needs every statement walked (see transform._walk).
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
        # Top-level statement index -> ids of the nodes whose positions will be asked for.
        self._wanted: Dict[int, Set[int]] = {}
        # Filled by the current-device analysis: id(assignment value) -> decision.
        self.notes: Dict[str, object] = {}
        # The name rewrites call the accelerator by: ``get_accelerator`` or an alias that shadows
        # nothing the file binds (codemod/engine/accel_binding.py).
        self.accel_name = ACCEL_FUNC

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
        """``get_accelerator()`` or ``get_accelerator().attr...``, spelled with the file's ``accel_name``
        (the import follows from the name in the output)."""
        expr: cst.BaseExpression = cst.Call(func=cst.Name(self.accel_name))
        for attr in attrs:
            expr = cst.Attribute(value=expr, attr=cst.Name(attr))
        return expr

    def accel_call(self, method: str, *args: cst.Arg) -> cst.Call:
        return cst.Call(func=self.accel(method), args=list(args))

    def code(self, node: cst.CSTNode) -> str:
        return codegen.code_for(self.module, node)

    # -- reporting -----------------------------------------------------------------------
    def positions(self) -> Mapping[cst.CSTNode, CodeRange]:
        """Every node's ``PositionProvider`` range, worked out only for the nodes asked for."""
        if self._positions is None:
            self._positions = codegen.positions(self.module)
        return self._positions

    def want_positions(self, sites: Iterable[Site]) -> None:
        """Positions will be asked for these sites' nodes: record only theirs (and whatever is already
        known of their statements)."""
        for site in sites:
            self._wanted.setdefault(site.top, set()).add(id(site.node))

    def range_of(self, node: cst.CSTNode, top: int = -1) -> CodeRange:
        """The node's range; generating only its top-level statement's code when that can be placed."""
        if top < 0:
            top = self.current_top
        if self._positions is None and top >= 0 and self.statements is not None:
            spans = self._statement_positions.get(top)
            if spans is None or (spans is not False and spans.partial and node not in spans):
                wanted = self._wanted.get(top) if spans is None else None
                spans = codegen.statement_positions(self.module, self.statements, top, wanted)
                self._statement_positions[top] = spans
            if spans is not False and node in spans:
                return spans[node]
        return self.positions()[node]

    def suppressed(self, node: cst.CSTNode, rule: str, top: int = -1) -> bool:
        if not self.suppressions:
            return False
        where = self.range_of(node, top)
        if where is None:
            return False
        return self.suppressions.covers(where.start.line, where.end.line, rule)

    def report(self, rule: "object", node: cst.CSTNode, message: str, top: int = -1) -> None:
        """A finding at ``node``, in top-level statement ``top`` (default: the one being walked)."""
        name = getattr(rule, "NAME")
        top = self.current_top if top < 0 else top
        if self.suppressed(node, name, top):
            return
        self.findings.append(Site(name, getattr(rule, "CODE"), node, message, top=top))
