"""Where a stored question is read: ``use_cuda = torch.cuda.is_available()`` ... ``if use_cuda:``.

A question kept in a local name, a module-level name or a ``self`` attribute steers whatever its reads
steer. ``reads`` finds them in the one place they can be (the function, the module, the class) with
one walk of that place, made once per stored question (rare: a few per file), and answers only where
every read is the test of an ``if``/``elif``/``while``/``assert``/conditional expression (through
``not``/``and``/``or``), is printed, or only tunes a copy; anything else (passed on, returned, stored
again, read by another object) means the value's effect cannot be followed, and the caller keeps the
CUDA question.

A module-level name or a ``self`` attribute may also be read where this parse cannot see (a def the
sparse parse stubbed, another class of the module): the file's text must spell it no more often than
the walk found it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Optional, Set

import libcst as cst

from accelport.codemod.engine import tree_walk
from accelport.codemod.engine.context import Context

# Keyword arguments whose value only tunes a copy: an accelerator question is right there. Not
# ``pin_memory``: the CPU accelerator is "available", and a factory asked to pin there raises.
TUNING_KEYWORDS = frozenset({"non_blocking"})
_TESTED = (cst.If, cst.While, cst.IfExp, cst.Assert)


@dataclass
class Reads:
    spelled: str  # `use_cuda`, `self.use_cuda`
    tests: List[cst.CSTNode]  # the reads that are (an operand of) a test
    end: cst.CSTNode  # the node whose leave closes the place: every read has been walked by then


def _is_self(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "self"


class _Finder(cst.CSTVisitor):
    """Counts the reads of ``name`` (``attr``: of ``self.<name>``) and sorts them."""

    def __init__(self, name: str, attr: bool) -> None:
        super().__init__()
        self.name = name
        self.attr = attr
        self.found = 0  # every occurrence, stores included
        self.tests: List[cst.CSTNode] = []
        self.harmless: Set[int] = set()  # stores, prints, copy-tuning keywords
        self.tested: Set[int] = set()
        self.other = False
        self.skip: Set[int] = set()  # Names that are no references (attribute names, keywords)

    def _mine(self, node: cst.CSTNode) -> bool:
        if self.attr:
            return isinstance(node, cst.Attribute) and node.attr.value == self.name
        return isinstance(node, cst.Name) and node.value == self.name and id(node) not in self.skip

    def _test(self, expr: cst.BaseExpression) -> None:
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            self._test(expr.expression)
        elif isinstance(expr, cst.BooleanOperation):
            self._test(expr.left)
            self._test(expr.right)
        elif self._mine(expr) and (not self.attr or _is_self(expr.value)):  # type: ignore[attr-defined]
            self.tested.add(id(expr))

    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        if kind in _TESTED:
            self._test(node.test)  # type: ignore[attr-defined]
        elif kind is cst.AssignTarget or kind is cst.AnnAssign:
            self.harmless.add(id(node.target))  # type: ignore[attr-defined]
        elif kind is cst.Arg:
            if node.keyword is not None:  # type: ignore[attr-defined]
                self.skip.add(id(node.keyword))  # type: ignore[attr-defined]
                if node.keyword.value in TUNING_KEYWORDS:  # type: ignore[attr-defined]
                    self.harmless.add(id(node.value))  # type: ignore[attr-defined]
        elif kind is cst.Call:
            func = node.func  # type: ignore[attr-defined]
            if isinstance(func, cst.Name) and func.value == "print":
                self.harmless.update(id(arg.value) for arg in node.args)  # type: ignore[attr-defined]
        elif kind is cst.FormattedStringExpression:
            self.harmless.add(id(node.expression))  # type: ignore[attr-defined]
        elif kind is cst.Param or kind is cst.FunctionDef or kind is cst.ClassDef:
            self.skip.add(id(node.name))  # type: ignore[attr-defined]
            if kind is cst.Param and node.name.value == self.name and not self.attr:  # type: ignore[attr-defined]
                self.other = True  # a parameter of the same name: another value, not followed
        if kind is cst.Attribute and not self.attr:
            self.skip.add(id(node.attr))  # type: ignore[attr-defined]
        if self._mine(node):
            self.found += 1
            if id(node) in self.tested:
                self.tests.append(node)
            elif id(node) not in self.harmless or (self.attr and not _is_self(node.value)):  # type: ignore[attr-defined]
                self.other = True
            return False
        return True


def reads(ctx: Context, target: cst.BaseExpression) -> Optional[Reads]:
    """The tests that read the value stored in ``target`` (walked now, before the walk reaches them);
    None where some read is not a test (or may not be seen)."""
    scope = ctx.scope
    source = ctx.statements.source if ctx.statements is not None else None
    if isinstance(target, cst.Name):
        name, attr, spelled = target.value, False, target.value
        if name in scope.globals_:
            return None
        if scope.is_module:
            place: cst.CSTNode = ctx.module
            end: cst.CSTNode = ctx.module
            pattern = rf"(?<![\w.]){re.escape(name)}\b"
        elif isinstance(scope.node, cst.FunctionDef) and isinstance(scope.node.body, cst.IndentedBlock):
            place = end = scope.node.body
            pattern = ""  # the function is parsed whole: every read is in it
        else:
            return None
    elif isinstance(target, cst.Attribute) and _is_self(target.value):
        name, attr, spelled = target.attr.value, True, f"self.{target.attr.value}"
        owner = scope.parent
        if not (isinstance(scope.node, cst.FunctionDef) and owner is not None and owner.is_class):
            return None
        place = owner.node
        end = owner.node.body  # type: ignore[attr-defined]
        if not isinstance(end, cst.IndentedBlock):
            return None
        pattern = rf"\.{re.escape(name)}\b"
    else:
        return None
    finder = _Finder(name, attr)
    tree_walk.visit(place, finder)
    if finder.other or not finder.tests:
        return None
    if pattern:
        text = source if source is not None else ctx.module.code
        if len(re.findall(pattern, text)) != finder.found:
            return None  # read where this parse does not show it (a stubbed def, another class, a string)
    return Reads(spelled, finder.tests, end)
