"""What a rule sees while the tree is walked: names, roles, claims, and where to report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from accelport.codemod.names import Scope, ScopeBuilder, resolve_name
from accelport.codemod.suppress import Suppressions

DEVICE = "device"
INDEX = "index"
BACKEND = "backend"

ACCEL_FUNC = "get_accelerator"


@dataclass
class Site:
    rule: str
    code: str
    node: cst.CSTNode
    message: str
    replacement: Optional[cst.CSTNode] = None


class Context:
    def __init__(self, module: cst.Module, scopes: ScopeBuilder, suppressions: Suppressions) -> None:
        self.module = module
        self.scopes = scopes
        self.scope_stack: List[Scope] = [scopes.root]
        self.suppressions = suppressions
        self.roles: Dict[int, str] = {}
        self.claimed: Set[int] = set()
        self.not_refs: Set[int] = set()
        self.chain_inner: Set[int] = set()
        self.store_targets: Set[int] = set()
        self.fixes: List[Site] = []
        self.findings: List[Site] = []
        self._qnames: Dict[int, Optional[str]] = {}
        self._positions: Optional[Dict[cst.CSTNode, CodeRange]] = None
        self.uses_accelerator = False
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
        """``get_accelerator()`` or ``get_accelerator().attr...``; marks the import as needed."""
        self.uses_accelerator = True
        expr: cst.BaseExpression = cst.Call(func=cst.Name(ACCEL_FUNC))
        for attr in attrs:
            expr = cst.Attribute(value=expr, attr=cst.Name(attr))
        return expr

    def accel_call(self, method: str, *args: cst.Arg) -> cst.Call:
        return cst.Call(func=self.accel(method), args=list(args))

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    # -- reporting -----------------------------------------------------------------------
    def positions(self) -> Dict[cst.CSTNode, CodeRange]:
        if self._positions is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = dict(wrapper.resolve(PositionProvider))
        return self._positions

    def position(self, node: cst.CSTNode) -> Tuple[int, int]:
        where = self.positions()[node].start
        return where.line, where.column + 1

    def suppressed(self, node: cst.CSTNode, rule: str) -> bool:
        if not self.suppressions:
            return False
        where = self.positions().get(node)
        if where is None:
            return False
        return self.suppressions.covers(where.start.line, where.end.line, rule)

    def report(self, rule: "object", node: cst.CSTNode, message: str) -> None:
        name = getattr(rule, "NAME")
        if self.suppressed(node, name):
            return
        self.findings.append(Site(name, getattr(rule, "CODE"), node, message))
