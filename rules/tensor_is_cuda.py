"""Family 6 of the porting rules: ``x.is_cuda``."""

from __future__ import annotations

import re
from typing import Set

import libcst as cst

from accelport.codemod.engine import guards
from accelport.codemod.engine.context import Context
from accelport.rules.base import Rule, is_module_ref, keep_parens

# `def is_cuda`, `is_cuda = ...`, `is_cuda: bool = ...`, `self.is_cuda = ...`: the module's own classes
# define the attribute, so an `.is_cuda` read may be theirs, not a tensor's.
DEFINES = re.compile(r"\bdef\s+is_cuda\b|\bis_cuda\s*(?::[^=\n]*)?=(?!=)")
OWN = "tensor-is-cuda.own"
LEFT = "tensor-is-cuda.left"


class TensorIsCuda(guards.GuardHooks, Rule):
    """Rewrite `x.is_cuda` to `get_accelerator().on_accelerator(x)` where the answer steers portable code.

    ## What it does
    A tensor's or module's `.is_cuda` read as a property becomes `get_accelerator().on_accelerator(x)`
    when it is a guard (the test of an `if`, `elif`, conditional expression, `while` or `assert`) and
    everything the guard protects is ported or portable, in a `non_blocking=`/`pin_memory=` argument, or
    compared with another `.is_cuda`. Where the guarded code stays CUDA-only (an unported `torch.cuda`
    API, a CUDA extension or vendor library such as apex or triton, a build step, `fused=True`, ...), or
    the value goes somewhere that cannot be followed (assigned, returned, passed on), `.is_cuda` is left
    as written and reported: it is already the right question there, and the accelerator's answer is
    true for CPU tensors on the CPU accelerator.

    Never rewritten: `.is_cuda()` called (a platform object's method), `.is_cuda` assigned, deleted or
    used as the base of an assignment (`mock.is_cuda.return_value = ...`: reported), and every `.is_cuda`
    in a module whose own classes define `is_cuda` (a method, property or attribute: reported, since the
    receiver may be one of them).

    ## Why is this bad?
    On another accelerator `is_cuda` is always False, so code guarded by it silently takes the CPU path.

    ## Example
    ```python
    if not x.is_cuda:
        x = x.to(device)
    ```

    ## Use instead
    ```python
    if not get_accelerator().on_accelerator(x):
        x = x.to(device)
    ```

    ## Fix safety
    Safe on CUDA. On the CPU accelerator `on_accelerator` is True for CPU tensors, which is what ported
    code means by "already on the device"; the rule rewrites only where that cannot send a CPU run into
    CUDA-only code.
    """

    NAME = "tensor-is-cuda"
    CODE = "AP106"
    TRIGGERS = ("is_cuda",)

    def prepare(self, ctx: Context) -> None:
        source = ctx.statements.source if ctx.statements is not None else ctx.module.code
        ctx.notes[OWN] = DEFINES.search(source) is not None

    def visit_Call(self, ctx: Context, node: cst.Call) -> None:
        super().visit_Call(ctx, node)
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "is_cuda":
            self._left(ctx).add(id(node.func))  # `platform.is_cuda()`: a method, not the tensor property

    def visit_Attribute(self, ctx: Context, node: cst.Attribute) -> None:
        if id(node) not in ctx.store_targets:
            return
        # `mock.is_cuda.return_value = True`: the .is_cuda inside a stored chain is some object's member.
        inner = node.value
        while isinstance(inner, (cst.Attribute, cst.Subscript, cst.Call)):
            if isinstance(inner, cst.Attribute) and inner.attr.value == "is_cuda":
                self._left(ctx).add(id(inner))
                ctx.report(self, inner, "`.is_cuda` of an object whose members are assigned (a mock or a wrapper): "
                           "left as written; port by hand if it stands for a tensor")
            inner = inner.value if not isinstance(inner, cst.Call) else inner.func

    @staticmethod
    def _left(ctx: Context) -> Set[int]:
        return ctx.notes.setdefault(LEFT, set())  # type: ignore[return-value]

    def leave_Attribute(self, ctx: Context, original: cst.Attribute, updated: cst.Attribute):
        if original.attr.value != "is_cuda" or is_module_ref(ctx, original.value):
            return None
        if id(original) in ctx.store_targets:
            ctx.report(self, original, "assignment to (or deletion of) `.is_cuda`: port by hand")
            return None
        if id(original) in ctx.notes.get(LEFT, ()):  # type: ignore[operator]
            return None
        if ctx.notes.get(OWN):
            ctx.report(self, original, "a class in this module defines `is_cuda`, so this may be its own member, not "
                       "a tensor's: left as written; where it is a tensor, write get_accelerator().on_accelerator(x)")
            return None
        value = updated.value
        if value.lpar:
            value = value.with_changes(lpar=[], rpar=[])
        replacement = keep_parens(ctx.accel_call("on_accelerator", cst.Arg(value)), updated)
        return guards.propose(ctx, self, original, updated, replacement, f"`{_short(ctx, original)}`")


def _short(ctx: Context, node: cst.CSTNode) -> str:
    code = " ".join(ctx.code(node).split())
    return code if len(code) <= 60 else code[:57] + "..."
