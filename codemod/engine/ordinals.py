"""Distinct explicit CUDA ordinals in one function: ``'cuda:0'`` and ``'cuda:1'`` side by side.

``get_accelerator().device_name(i)`` is ``'cuda:i'`` on CUDA, but a backend with fewer devices (the CPU
accelerator has one) answers the same device for every ``i``. Code that names two different ordinals in
one place may rely on them being different (two cache keys, a copy between devices, a check that a
tensor moved), so cuda-device-string leaves such literals as written and reports them.

The unit is the innermost ``def`` holding the literal (its decorators and parameter defaults included),
or the module level for everything outside any ``def``. It is scanned on first demand, when the rule is
about to port an explicit ordinal there: files with no ``'cuda:N'`` literal never pay for it. The scan
counts every ``'cuda:N'`` literal and every ``torch.device("cuda", N)`` of the unit, whether or not the
rule ports it (a second device named in an argument the rule cannot follow is still a second device),
except dictionary keys: a ``map_location={"cuda:1": "cuda:0"}`` key names the device a checkpoint was
saved from, not one this run uses.
"""

from __future__ import annotations

import re
from typing import Dict, FrozenSet, Optional, Set, Tuple

import libcst as cst

from accelport.codemod.engine import tree_walk
from accelport.codemod.engine.context import Context
from accelport.codemod.engine.names import dotted

_NOTE = "distinct-ordinals"
INDEXED = re.compile(r"cuda:(\d+)")  # an explicit ordinal: cuda:N


def literal_ordinal(node: cst.CSTNode) -> Optional[int]:
    """``i`` for the string literal ``'cuda:i'``, else None."""
    if not isinstance(node, cst.SimpleString):
        return None
    value = node.evaluated_value
    match = INDEXED.fullmatch(value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def integer(node: Optional[cst.CSTNode]) -> Optional[int]:
    """The value of an integer literal, else None."""
    if isinstance(node, cst.Integer):
        return int(node.evaluated_value)
    return None


def _device_call_ordinal(node: cst.Call) -> Optional[int]:
    """``i`` for ``torch.device("cuda", i)`` (or with ``type=``/``index=`` keywords) with ``i`` an integer
    literal. Matched by spelling: the scan runs before the walk reaches the call's scope."""
    if (dotted(node.func) or "").rsplit(".", 1)[-1] != "device" or len(node.args) != 2:
        return None
    kind, index = node.args
    if kind.keyword is not None and kind.keyword.value != "type":
        return None
    if index.keyword is not None and index.keyword.value != "index":
        return None
    if not isinstance(kind.value, cst.SimpleString) or kind.value.evaluated_value != "cuda":
        return None
    return integer(index.value)


class _Scan(tree_walk.Visitor):
    def __init__(self, root: cst.CSTNode) -> None:
        super().__init__()
        self.root = root
        self.found: Set[int] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.FunctionDef) and node is not self.root:
            return False  # a nested def is a unit of its own
        if isinstance(node, cst.DictElement):
            tree_walk.visit(node.value, self)  # keys are never devices this code uses
            return False
        if isinstance(node, cst.SimpleString):
            ordinal = literal_ordinal(node)
        elif isinstance(node, cst.Call):
            ordinal = _device_call_ordinal(node)
        else:
            return True
        if ordinal is not None:
            self.found.add(ordinal)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        pass


def _unit(ctx: Context) -> cst.CSTNode:
    for scope in reversed(ctx.scope_stack):
        if isinstance(scope.node, cst.FunctionDef):
            return scope.node
    return ctx.scope_stack[0].node


def distinct(ctx: Context) -> Tuple[int, ...]:
    """The explicit CUDA ordinals of the unit being walked, sorted, when there are two or more different
    ones; else ()."""
    unit = _unit(ctx)
    cache: Dict[int, FrozenSet[int]] = ctx.notes.setdefault(_NOTE, {})  # type: ignore[assignment]
    found = cache.get(id(unit))
    if found is None:
        scan = _Scan(unit)
        tree_walk.visit(unit, scan)
        found = cache[id(unit)] = frozenset(scan.found)
    return tuple(sorted(found)) if len(found) > 1 else ()


def message(ordinals: Tuple[int, ...]) -> str:
    """Why an explicit ordinal among ``ordinals`` is left, and what to do."""
    names = [f"cuda:{i}" for i in ordinals]
    listed = ", ".join(names[:-1]) + " and " + names[-1]
    first, second = ordinals[0], ordinals[1]
    return (
        f"distinct devices {listed} here: left as written. On a backend with fewer devices (the CPU "
        f"accelerator has one) get_accelerator().device_name({first}) and device_name({second}) are the same "
        "device, so code that relies on them being different (cache keys, copies between devices) would "
        "change; port by hand with get_accelerator().device_name(i) where sharing one device is fine "
        "(e.g. model-parallel placement)"
    )
