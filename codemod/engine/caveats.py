"""Caveat findings from the capability table: a rewrite that calls a member the chosen runtime lacks or
answers with ``None`` on some documented backend is kept (it is right on CUDA) and reported, naming the
backend and what to do instead (``accelport.rules.capabilities``). Runs once after the rules, over what
they built, so every rule family is covered by the same table.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

import libcst as cst

from accelport.codemod.engine import tree_walk
from accelport.codemod.engine.context import ACCEL_FUNC, Context
from accelport.rules import capabilities


class _Members(tree_walk.Visitor):
    """Members read on a ``get_accelerator()`` call: ``get_accelerator().Stream`` -> ``Stream``."""

    def __init__(self, accel_name: str = ACCEL_FUNC) -> None:
        self.found: List[str] = []
        self.accel_name = accel_name

    def visit_Attribute(self, node: cst.Attribute) -> None:
        value = node.value
        if (
            isinstance(value, cst.Call)
            and not value.args
            and isinstance(value.func, cst.Name)
            and value.func.value == self.accel_name
        ):
            self.found.append(node.attr.value)


class _Rule:
    """What ``ctx.report`` needs of a rule: the finding carries the rewriting rule's name and code."""

    def __init__(self, name: str, code: str) -> None:
        self.NAME = name
        self.CODE = code


def report(ctx: Context, runtime: str) -> None:
    cache: Dict[str, Optional[str]] = {}
    seen: Set[Tuple[int, str]] = set()
    for site in list(ctx.fixes):
        if site.replacement is None:
            continue
        members = _Members(ctx.accel_name)
        tree_walk.visit(site.replacement, members)
        for member in members.found:
            if member not in cache:
                cache[member] = capabilities.caveat(runtime, member)
            text = cache[member]
            if text is None or (id(site.node), member) in seen:
                continue
            seen.add((id(site.node), member))
            ctx.report(_Rule(site.rule, site.code), site.node, f"ported with a caveat: {text}", site.top)
