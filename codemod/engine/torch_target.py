"""``--target torch``: after the rules ran, turn the ``get_accelerator().X(...)`` calls they built into
PyTorch's own device-agnostic API where ``accelport.rules.torch_native.TORCH_NATIVE`` has an exact
equivalent; the rest stay ``get_accelerator()`` calls (and keep their import).

Only calls the rules built in this run are touched: a ``get_accelerator()`` the file already had is the
author's choice. The file's own name for ``torch`` is used (``import torch as th`` gives
``th.accelerator...``); without one, ``import torch`` is added.
"""

from __future__ import annotations

from typing import Iterable, List, Optional, Sequence, Set, Tuple

import libcst as cst

from accelport.codemod.engine import tree_walk
from accelport.codemod.engine.context import ACCEL_FUNC, Context, Site
from accelport.codemod.engine.imports import _insert_at
from accelport.codemod.engine.names import Scope, resolve_name
from accelport.rules.torch_native import TORCH_NATIVE, TorchNative


def _is_accel_handle(node: cst.CSTNode, name: str = ACCEL_FUNC) -> bool:
    return (
        isinstance(node, cst.Call)
        and not node.args
        and isinstance(node.func, cst.Name)
        and node.func.value == name
    )


def built_handles(sites: Sequence[Site], name: str = ACCEL_FUNC) -> Set[int]:
    """Ids of the ``get_accelerator()`` calls (spelled ``name``) inside the rules' replacements."""
    found: Set[int] = set()

    class _Collect(tree_walk.Visitor):
        def visit_Call(self, node: cst.Call) -> None:
            if _is_accel_handle(node, name):
                found.add(id(node))

    collector = _Collect()
    for site in sites:
        if site.replacement is not None:
            tree_walk.visit(site.replacement, collector)
    return found


def torch_name(root: Scope, scopes: Iterable[Scope] = ()) -> Tuple[Optional[str], bool]:
    """(the module-level name bound to ``torch``, whether ``import torch`` must be added); (None, False)
    when ``torch`` is bound to something else and no alias exists, or when a function or class in
    ``scopes`` rebinds the name (a parameter called ``torch``): nothing can be spelled safely then."""
    name: Optional[str] = None
    add = False
    if resolve_name("torch", root) == "torch":
        name = "torch"
    else:
        for local, qualified in sorted(root.imports.items()):
            if qualified == "torch" and resolve_name(local, root) == "torch":
                name = local
                break
        else:
            if "torch" in root.imports or "torch" in root.bound:
                return None, False
            name, add = "torch", True
    for scope in scopes:
        if scope is not root and (name in scope.bound or scope.imports.get(name, "torch") != "torch"):
            return None, False
    return name, add


def _positional(args: Sequence[cst.Arg], params: Tuple[str, ...]) -> Optional[List[cst.Arg]]:
    """``args`` with keywords named in ``params`` turned positional, or None when that cannot be exact."""
    out: List[cst.Arg] = []
    for arg in args:
        if arg.star:
            return None
        if len(out) >= len(params):
            return None
        # A keyword must name the very parameter its position would fill (keywords keep their order).
        if arg.keyword is not None and arg.keyword.value != params[len(out)] and not (
            # the interface's name for torch's ``device`` parameter (torch-cuda-call renames it)
            arg.keyword.value == "device_index" and params[len(out)] == "device"
        ):
            return None
        out.append(arg)
    return [
        arg if arg.keyword is None else arg.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT)
        for arg in out
    ]


def _func(torch: str, native: TorchNative) -> cst.BaseExpression:
    return cst.parse_expression(torch + native.target[len("torch") :])


class _Port(cst.CSTTransformer):
    """Rewrites ``get_accelerator().X(args)`` whose handle is in ``handles``; with ``bare``, also a lone
    ``get_accelerator().X`` whose call was rewritten in the module (to show the fix of a site)."""

    def __init__(self, handles: Set[int], torch: str, bare: bool = False) -> None:
        super().__init__()
        self.handles = handles
        self.torch = torch
        self.bare = bare
        self.ported: Set[int] = set()

    def _native(self, func: cst.BaseExpression) -> Optional[TorchNative]:
        if not isinstance(func, cst.Attribute) or id(func.value) not in self.handles:
            return None
        return TORCH_NATIVE.get(func.attr.value)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        native = self._native(original_node.func)
        if native is None:
            return updated_node
        args = _positional(updated_node.args, native.params)
        if args is None:
            return updated_node
        self.ported.add(id(original_node.func.value))  # type: ignore[attr-defined]
        return updated_node.with_changes(func=_func(self.torch, native), args=args)

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        if not self.bare:
            return updated_node
        native = self._native(original_node)
        if native is None:
            return updated_node
        func = _func(self.torch, native)
        return func.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)


def port(
    module: cst.Module, ctx: Context, first_fixed_top: Optional[int]
) -> Tuple[cst.Module, Optional[int]]:
    """``module`` (the rules' output) with PyTorch-native calls; the index of the first rewritten
    top-level statement, moved down when ``import torch`` was added above it."""
    handles = built_handles(ctx.fixes, ctx.accel_name)
    if not handles:
        return module, first_fixed_top
    torch, add_import = torch_name(ctx.scopes.root, ctx.scopes.scopes.values())
    if torch is None:
        return module, first_fixed_top
    porter = _Port(handles, torch)
    new = tree_walk.transform(module, porter)
    assert isinstance(new, cst.Module)
    if not porter.ported:
        return module, first_fixed_top
    # The sites' fixes (what ``check`` shows) say what the file now says.
    shower = _Port(porter.ported, torch, bare=True)
    for site in ctx.fixes:
        if site.replacement is not None:
            site.replacement = tree_walk.transform(site.replacement, shower)  # type: ignore[assignment]
    if add_import:
        body = list(new.body)
        limit = len(body) if first_fixed_top is None else first_fixed_top
        at = _insert_at(body, limit)
        body.insert(at, cst.parse_statement("import torch"))
        new = new.with_changes(body=body)
        if first_fixed_top is not None and at <= first_fixed_top:
            first_fixed_top += 1
    return new, first_fixed_top

