"""Bookkeeping shared by every walk over a module: scopes, name references, chains and roles."""

from __future__ import annotations

import libcst as cst

from accelport.codemod import roles
from accelport.codemod.context import Context

# Nothing inside an import statement is a use of a name.
OPAQUE = (cst.Import, cst.ImportFrom)

# Layout nodes (whitespace, comments, brackets, commas, operators) bind no name and take no role:
# about half of all nodes, so they skip the checks below (decided once per node type).
LAYOUT = (
    cst.BaseParenthesizableWhitespace, cst.TrailingWhitespace, cst.EmptyLine, cst.Newline, cst.Comment,
    cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace,
    cst.RightCurlyBrace, cst.Comma, cst.Dot, cst.Colon, cst.Semicolon, cst.AssignEqual, cst.BaseBinaryOp,
    cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp,
)  # fmt: skip
_IS_LAYOUT: dict = {}


def enter(ctx: Context, node: cst.CSTNode) -> bool:
    """Call on the way down; False means: do not walk into this node."""
    kind = type(node)
    layout = _IS_LAYOUT.get(kind)
    if layout is None:
        layout = _IS_LAYOUT[kind] = issubclass(kind, LAYOUT)
    if layout:
        return True
    if isinstance(node, OPAQUE):
        return False
    scope = ctx.scopes.scopes.get(id(node))
    if scope is not None and scope is not ctx.scope:
        ctx.scope_stack.append(scope)
    if isinstance(node, cst.Attribute):
        ctx.not_refs.add(id(node.attr))
        if isinstance(node.value, (cst.Name, cst.Attribute)):
            ctx.chain_inner.add(id(node.value))
    elif isinstance(node, cst.Arg):
        if node.keyword is not None:
            ctx.not_refs.add(id(node.keyword))
    elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        ctx.not_refs.add(id(node.name))
    elif isinstance(node, cst.Param):
        ctx.not_refs.add(id(node.name))
    elif isinstance(node, (cst.Global, cst.Nonlocal)):
        ctx.not_refs.update(id(item.name) for item in node.names)
    elif isinstance(node, cst.AssignTarget):
        _store(ctx, node.target)
    elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.For, cst.CompFor, cst.Del)):
        _store(ctx, node.target)
    elif isinstance(node, cst.WithItem) and node.asname is not None:
        _store(ctx, node.asname.name)
    roles.mark(ctx, node)
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
