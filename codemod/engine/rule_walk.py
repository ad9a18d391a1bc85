"""One walk that runs every selected rule: hooks are dispatched by node type, first rewrite wins."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Dict, List, Sequence, Tuple, Type, Union

import libcst as cst

from accelport.codemod.engine import walk_bookkeeping
from accelport.codemod.engine.context import Context, Site
from accelport.rules.base import Rule

VisitHook = Callable[[Context, cst.CSTNode], None]
LeaveHook = Callable[[Context, cst.CSTNode, cst.CSTNode], Union[cst.CSTNode, None]]


def _hooks(rules: Sequence[Rule], prefix: str) -> Dict[Type[cst.CSTNode], List[Tuple[Rule, Callable]]]:
    table: Dict[Type[cst.CSTNode], List[Tuple[Rule, Callable]]] = defaultdict(list)
    for rule in rules:
        for attr in dir(rule):
            if attr.startswith(prefix):
                node_type = getattr(cst, attr[len(prefix) :], None)
                if isinstance(node_type, type) and issubclass(node_type, cst.CSTNode):
                    table[node_type].append((rule, getattr(rule, attr)))
    return dict(table)


class RuleTransformer(cst.CSTTransformer):
    def __init__(self, ctx: Context, rules: Sequence[Rule]) -> None:
        super().__init__()
        self.ctx = ctx
        self.visits = _hooks(rules, "visit_")
        self.leaves = _hooks(rules, "leave_")
        # Rules that follow values through the walk (``observe(ctx, node)`` per node, ``finish(ctx)`` after).
        # One that names the node types it reads (``OBSERVES``) is called for those only: most nodes are
        # of other types, and a call per node and rule was a measurable share of the walk.
        self.observers = [rule.observe for rule in rules if hasattr(rule, "observe") and not hasattr(rule, "OBSERVES")]
        typed: Dict[Type[cst.CSTNode], List[Callable]] = defaultdict(list)
        for rule in rules:
            if hasattr(rule, "observe") and hasattr(rule, "OBSERVES"):
                for node_type in rule.OBSERVES:
                    typed[node_type].append(rule.observe)
        self.typed_observers = dict(typed)
        # The import must land above the first statement that uses it.
        self.first_fixed_top: "int | None" = None

    def on_visit(self, node: cst.CSTNode) -> bool:
        if not walk_bookkeeping.enter(self.ctx, node):
            return False
        for _rule, hook in self.visits.get(type(node), ()):
            hook(self.ctx, node)
        for observe in self.observers:
            observe(self.ctx, node)
        for observe in self.typed_observers.get(type(node), ()):
            observe(self.ctx, node)
        return True

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):  # type: ignore[override]
        ctx = self.ctx
        result = updated_node
        if id(original_node) not in ctx.claimed:
            for rule, hook in self.leaves.get(type(original_node), ()):
                replacement = hook(ctx, original_node, updated_node)
                if replacement is None or replacement is updated_node:
                    continue
                if ctx.suppressed(original_node, rule.NAME):
                    continue
                ctx.fixes.append(Site(rule.NAME, rule.CODE, original_node, rule.summary(), replacement, ctx.current_top))
                result = replacement
                if self.first_fixed_top is None:
                    self.first_fixed_top = ctx.current_top
                break
        walk_bookkeeping.leave(ctx, original_node)
        return result
