"""Family 3 of the porting rules: ``torch.cuda.current_device()``, a name or an index by use."""

from __future__ import annotations

from collections import defaultdict
from typing import DefaultDict, Dict, List, Optional, Set, Tuple

import libcst as cst

from accelport.codemod import fastwalk, walk
from accelport.codemod.context import DEVICE, INDEX, Context
from accelport.codemod.names import Scope
from accelport.rules.base import Rule, keep_parens

CURRENT = "torch.cuda.current_device"
NAME_METHOD = "current_device_name"
INDEX_METHOD = "current_device"
NOTE = "current-device"

Key = Tuple[int, str]


def _is_current_device(ctx: Context, node: Optional[cst.CSTNode]) -> bool:
    return isinstance(node, cst.Call) and not node.args and ctx.qname(node.func) == CURRENT


def _is_cuda_fstring(node: cst.FormattedString) -> Optional[cst.FormattedStringExpression]:
    parts = node.parts
    if (
        len(parts) == 2
        and isinstance(parts[0], cst.FormattedStringText)
        and parts[0].value == "cuda:"
        and isinstance(parts[1], cst.FormattedStringExpression)
        and parts[1].conversion is None
        and parts[1].format_spec is None
    ):
        return parts[1]
    return None


class _Uses(cst.CSTVisitor):
    """Find ``name = torch.cuda.current_device()`` bindings and every read of those names."""

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx
        self.bindings: DefaultDict[Key, List[cst.Call]] = defaultdict(list)
        self.rebound: Set[Key] = set()
        self.attribute_stores: List[cst.Call] = []
        self.loads: List[Tuple[Scope, cst.Name]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        ctx = self.ctx
        if not walk.enter(ctx, node):
            return False
        if isinstance(node, cst.Assign):
            self._assignment(node)
        elif isinstance(node, (cst.AugAssign, cst.AnnAssign, cst.For)) and isinstance(node.target, cst.Name):
            self.rebound.add((id(ctx.scope), node.target.value))
        elif isinstance(node, cst.Name) and ctx.is_ref(node) and id(node) not in ctx.store_targets:
            self.loads.append((ctx.scope, node))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        walk.leave(self.ctx, original_node)

    def _assignment(self, node: cst.Assign) -> None:
        ctx = self.ctx
        is_call = _is_current_device(ctx, node.value)
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                key = (id(ctx.scope), target.target.value)
                if is_call and len(node.targets) == 1:
                    self.bindings[key].append(node.value)  # type: ignore[arg-type]
                else:
                    self.rebound.add(key)
            elif is_call and isinstance(target.target, cst.Attribute) and ctx.role(node.value) != DEVICE:
                self.attribute_stores.append(node.value)  # type: ignore[arg-type]


def _binding_scope(scope: Scope, name: str) -> Tuple[Optional[Scope], bool]:
    """The scope a read of ``name`` resolves to, and whether a function boundary was crossed."""
    crossed = False
    current: Optional[Scope] = scope
    while current is not None:
        if name in current.bound or name in current.imports:
            return current, crossed
        if isinstance(current.node, (cst.FunctionDef, cst.Lambda)):
            crossed = True
        current = current.parent
    return None, crossed


class CurrentDevice(Rule):
    """Port `torch.cuda.current_device()` to a device name or an index, depending on how it is used.

    ## What it does
    `torch.cuda.current_device()` returns an int, and PyTorch reads an int as a CUDA device. Where the
    value is used as a device (`.to(_)`, `device=_`, `map_location=_`, `torch.device(_)`, `f"cuda:{_}"`)
    it becomes `get_accelerator().current_device_name()`; where it is used as an integer
    (`set_device(_)`, `device_ids=[_]`, `output_device=_`, arithmetic, comparisons, indexing, `%d`) it
    becomes `get_accelerator().current_device()`. A local variable bound to the call is followed through
    its uses in the same scope: all device uses give the name; any integer use gives the index, and then
    each device use is reported; a use that cannot be classified (returned, passed to another function,
    stored on an attribute) gives the index and a finding.

    ## Why is this bad?
    `x.to(torch.cuda.current_device())` means `x.to("cuda:0")`: it fails on every other backend.

    ## Example
    ```python
    x = x.to(torch.cuda.current_device())
    torch.cuda.set_device(torch.cuda.current_device())
    ```

    ## Use instead
    ```python
    x = x.to(get_accelerator().current_device_name())
    get_accelerator().set_device(get_accelerator().current_device())
    ```

    ## Fix safety
    Safe where the use is classified; the index form keeps the original integer meaning everywhere.
    """

    NAME = "current-device"
    CODE = "AP103"
    TRIGGERS = ("current_device",)

    def prepare(self, ctx: Context) -> None:
        scan = _Uses(ctx)
        fastwalk.visit(ctx.module, scan)
        decisions: Dict[int, str] = {}
        for call in scan.attribute_stores:
            ctx.report(self, call, "stored on an attribute, its uses cannot be followed: ported as an index")
        reads: DefaultDict[str, List[Tuple[Scope, cst.Name]]] = defaultdict(list)
        for scope, name in scan.loads:
            reads[name.value].append((scope, name))
        for (scope_id, name), calls in scan.bindings.items():
            key = (scope_id, name)
            method = INDEX_METHOD
            if key not in scan.rebound:
                method = self._decide(ctx, scope_id, name, reads[name])
            for call in calls:
                decisions[id(call)] = method
        ctx.notes[NOTE] = decisions

    def _decide(self, ctx: Context, scope_id: int, name: str, reads: List[Tuple[Scope, cst.Name]]) -> str:
        device: List[cst.Name] = []
        other: List[cst.Name] = []
        unknown: List[cst.Name] = []
        for scope, node in reads:
            owner, crossed = _binding_scope(scope, name)
            if owner is None or id(owner) != scope_id:
                continue
            role = ctx.role(node)
            if crossed:
                unknown.append(node)
            elif role == DEVICE:
                device.append(node)
            elif role == INDEX:
                other.append(node)
            else:
                unknown.append(node)
        if device and not other and not unknown:
            return NAME_METHOD
        for node in unknown:
            ctx.report(self, node, f"`{name}` holds torch.cuda.current_device(); cannot tell whether this use "
                       "wants a device or an index: ported as an index")
        for node in device:
            ctx.report(self, node, f"`{name}` is a device index (it is also used as an integer) but is used as a "
                       f"device here: pass get_accelerator().device_name({name})")
        return INDEX_METHOD

    def visit_Call(self, ctx: Context, node: cst.Call) -> None:
        if _is_current_device(ctx, node):
            ctx.claim(node.func)

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        if not _is_current_device(ctx, original):
            return None
        decided = ctx.notes.get(NOTE, {}).get(id(original))  # type: ignore[union-attr]
        method = decided or (NAME_METHOD if ctx.role(original) == DEVICE else INDEX_METHOD)
        return updated.with_changes(func=ctx.accel(method))

    def visit_FormattedString(self, ctx: Context, node: cst.FormattedString) -> None:
        part = _is_cuda_fstring(node)
        if part is not None and _is_current_device(ctx, part.expression):
            ctx.claim(part.expression)

    def leave_FormattedString(self, ctx: Context, original: cst.FormattedString, updated: cst.FormattedString):
        part = _is_cuda_fstring(original)
        if part is None or not _is_current_device(ctx, part.expression):
            return None
        return keep_parens(ctx.accel_call(NAME_METHOD), updated)

    def visit_Return(self, ctx: Context, node: cst.Return) -> None:
        if _is_current_device(ctx, node.value):
            ctx.report(self, node.value, "returned to the caller, which may use it as a device: ported as an index")
