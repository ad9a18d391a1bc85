"""Bookkeeping shared by every walk over a module: scopes, name references, chains and roles."""

from __future__ import annotations

import libcst as cst

from accelport.codemod.engine import roles
from accelport.codemod.engine.context import Context

# Nothing inside an import statement is a use of a name.
OPAQUE = (cst.Import, cst.ImportFrom)


def _attribute(ctx: Context, node: cst.Attribute) -> None:
    ctx.not_refs.add(id(node.attr))
    if type(node.value) in _CHAIN:
        ctx.chain_inner.add(id(node.value))


def _arg(ctx: Context, node: cst.Arg) -> None:
    if node.keyword is not None:
        ctx.not_refs.add(id(node.keyword))


def _named(ctx: Context, node) -> None:
    ctx.not_refs.add(id(node.name))


def _declared(ctx: Context, node) -> None:
    ctx.not_refs.update(id(item.name) for item in node.names)


def _target(ctx: Context, node) -> None:
    _store(ctx, node.target)


def _with_item(ctx: Context, node: cst.WithItem) -> None:
    if node.asname is not None:
        _store(ctx, node.asname.name)


_CHAIN = (cst.Name, cst.Attribute)
# Exact node type -> bookkeeping. A dict lookup: isinstance against LibCST's ABCs is slow per node.
_BOOKKEEPING = {
    cst.Attribute: _attribute,
    cst.Arg: _arg,
    cst.FunctionDef: _named,
    cst.ClassDef: _named,
    cst.Param: _named,
    cst.Global: _declared,
    cst.Nonlocal: _declared,
    cst.AssignTarget: _target,
    cst.AnnAssign: _target,
    cst.AugAssign: _target,
    cst.For: _target,
    cst.CompFor: _target,
    cst.Del: _target,
    cst.WithItem: _with_item,
}


def enter(ctx: Context, node: cst.CSTNode) -> bool:
    """Call on the way down; False means: do not walk into this node."""
    kind = type(node)
    key = id(node)
    if kind in OPAQUE or key in ctx.skip:
        return False
    top = ctx.top_index.get(key)
    if top is not None:
        ctx.current_top = top
    scope = ctx.scopes.scopes.get(key)
    if scope is not None and scope is not ctx.scope:
        ctx.scope_stack.append(scope)
    bookkeeping = _BOOKKEEPING.get(kind)
    if bookkeeping is not None:
        bookkeeping(ctx, node)
    marker = roles.MARKERS.get(kind)
    if marker is not None:
        marker(ctx, node)
    return True


def _store(ctx: Context, target: cst.BaseExpression) -> None:
    """Mark a target and, through unpacking (``a.x, *b = ...``), each element it binds or deletes."""
    ctx.store_targets.add(id(target))
    if isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            _store(ctx, element.value)
    elif isinstance(target, cst.StarredElement):
        _store(ctx, target.value)


def leave(ctx: Context, node: cst.CSTNode) -> None:
    scope = ctx.scopes.scopes.get(id(node))
    if scope is not None and len(ctx.scope_stack) > 1 and ctx.scope_stack[-1] is scope:
        ctx.scope_stack.pop()
