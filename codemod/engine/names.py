"""Cheap qualified-name resolution: a per-scope import table plus the set of locally bound names.

LibCST's ``QualifiedNameProvider`` answers the same question through full scope analysis, which
costs many times the parse. accelport only needs to know what ``th.cuda.synchronize`` means, so one
walk records, per scope, which names are bound by imports and which by anything else. A name is
resolved through the import table of the nearest scope that binds it; a name bound by an assignment,
parameter, loop target and so on in a function resolves to nothing (it shadows the import).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AbstractSet, Dict, List, Optional, Set, Union

import libcst as cst

from accelport.codemod.engine import tree_walk

# The one name a star import is taken to bind: `torch`, for `torch.cuda.X` below `from .x import *`.
STAR_BOUND = "torch"

ScopeNode = Union[cst.Module, cst.FunctionDef, cst.Lambda, cst.ClassDef, cst.BaseComp]


@dataclass
class Scope:
    node: cst.CSTNode
    parent: Optional["Scope"]
    is_class: bool = False
    is_module: bool = False
    imports: Dict[str, str] = field(default_factory=dict)
    bound: Set[str] = field(default_factory=set)
    globals_: Set[str] = field(default_factory=set)
    # `from .module import *` (or any star import) at module level: it may bind `torch`.
    star: bool = False

    def module(self) -> "Scope":
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope


def dotted(node: cst.BaseExpression) -> Optional[str]:
    """``a.b.c`` as a string, or None when the expression is not a plain dotted name."""
    parts: List[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def _target_names(target: cst.CSTNode, out: Set[str]) -> None:
    if isinstance(target, cst.Name):
        out.add(target.value)
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            _target_names(element.value, out)
    elif isinstance(target, cst.StarredElement):
        _target_names(target.value, out)


class ScopeBuilder(tree_walk.Visitor):
    """One walk that builds the scope tree; ``scopes`` maps id(scope node) to its Scope."""

    def __init__(self, module: cst.Module, skip: AbstractSet[int] = frozenset()) -> None:
        self.skip = skip
        self.root = Scope(module, None, is_module=True)
        self.scopes: Dict[int, Scope] = {id(module): self.root}
        self.stack: List[Scope] = [self.root]

    def on_visit(self, node: cst.CSTNode) -> bool:
        if id(node) in self.skip:
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
                self.stack[-1].bound.add(node.name.value)
            return False
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if id(original_node) not in self.skip:
            super().on_leave(original_node)

    # -- scope entry and exit -------------------------------------------------------------
    def _push(self, node: cst.CSTNode, is_class: bool = False) -> Scope:
        scope = Scope(node, self.stack[-1], is_class=is_class)
        self.scopes[id(node)] = scope
        self.stack.append(scope)
        return scope

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.stack[-1].bound.add(node.name.value)
        scope = self._push(node)
        self._params(node.params, scope)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.stack.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        scope = self._push(node)
        self._params(node.params, scope)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self.stack.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.stack[-1].bound.add(node.name.value)
        self._push(node, is_class=True)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.stack.pop()

    def _visit_comp(self, node: cst.BaseComp) -> None:
        scope = self._push(node)
        comp_for: Optional[cst.CompFor] = node.for_in
        while comp_for is not None:
            _target_names(comp_for.target, scope.bound)
            comp_for = comp_for.inner_for_in

    def _leave_comp(self, node: cst.BaseComp) -> None:
        self.stack.pop()

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_comp
    leave_ListComp = leave_SetComp = leave_DictComp = leave_GeneratorExp = _leave_comp

    @staticmethod
    def _params(params: cst.Parameters, scope: Scope) -> None:
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            scope.bound.add(param.name.value)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                scope.bound.add(star.name.value)

    # -- bindings -------------------------------------------------------------------------
    def visit_Import(self, node: cst.Import) -> bool:
        scope = self.stack[-1]
        for alias in node.names:
            full = dotted(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                scope.imports[alias.asname.name.value] = full
            else:
                top = full.split(".")[0]
                scope.imports[top] = top
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        scope = self.stack[-1]
        if node.relative or node.module is None:
            # A relative import can never be torch; it only binds local names (a star: maybe `torch`).
            if isinstance(node.names, cst.ImportStar):
                scope.star = True
            else:
                for alias in node.names:
                    scope.bound.add(alias.evaluated_alias or alias.evaluated_name)
            return False
        base = dotted(node.module)
        if isinstance(node.names, cst.ImportStar):
            scope.star = True
            return False
        if base is None:
            return False
        for alias in node.names:
            name = alias.evaluated_name
            local = alias.evaluated_alias or name
            scope.imports[local] = f"{base}.{name}"
        return False

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        _target_names(node.target, self.stack[-1].bound)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        _target_names(node.target, self.stack[-1].bound)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        _target_names(node.target, self.stack[-1].bound)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        # PEP 572: the walrus binds in the enclosing function, not in the comprehension.
        scope = self.stack[-1]
        while isinstance(scope.node, cst.BaseComp) and scope.parent is not None:
            scope = scope.parent
        _target_names(node.target, scope.bound)

    def visit_For(self, node: cst.For) -> None:
        _target_names(node.target, self.stack[-1].bound)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            _target_names(node.asname.name, self.stack[-1].bound)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            _target_names(node.name.name, self.stack[-1].bound)

    def visit_Global(self, node: cst.Global) -> None:
        self.stack[-1].globals_.update(item.name.value for item in node.names)


def build_scopes(module: cst.Module, skip: AbstractSet[int] = frozenset()) -> ScopeBuilder:
    """Scopes of ``module``; statements whose id is in ``skip`` are not walked (see codemod/engine/statements.py)."""
    builder = ScopeBuilder(module, skip)
    tree_walk.visit(module, builder)
    return builder


def resolve_name(name: str, scope: Scope) -> Optional[str]:
    """The qualified name ``name`` refers to in ``scope``, or None for a local or unknown name."""
    if name in scope.globals_:
        scope = scope.module()
    first = True
    current: Optional[Scope] = scope
    while current is not None:
        # Class bodies are not visible from the functions nested inside them.
        if current.is_class and not first:
            current = current.parent
            continue
        first = False
        if name in current.imports:
            if current.is_module or name not in current.bound:
                return current.imports[name]
            return None
        if name in current.bound:
            return None
        if current.is_module and current.star and name == STAR_BOUND:
            # `from .common import *` re-exports the `torch` that module imported: nothing else in the
            # file binds the name, so `torch.cuda.X` below can only mean torch's.
            return STAR_BOUND
        current = current.parent
    return None
