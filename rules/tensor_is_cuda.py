"""Family 6 of the porting rules: ``x.is_cuda``."""

from __future__ import annotations

import libcst as cst

from accelport.codemod.context import Context
from accelport.rules.base import Rule, is_module_ref, keep_parens


class TensorIsCuda(Rule):
    """Rewrite `x.is_cuda` to `get_accelerator().on_accelerator(x)`.

    ## What it does
    Any expression's `.is_cuda` (`t.is_cuda`, `self.w.is_cuda`, `batch[0].is_cuda`) becomes
    `get_accelerator().on_accelerator(...)`. Assigning to `.is_cuda` is reported, not rewritten.

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
    code means by "already on the device".
    """

    NAME = "tensor-is-cuda"
    CODE = "AP106"
    TRIGGERS = ("is_cuda",)

    def leave_Attribute(self, ctx: Context, original: cst.Attribute, updated: cst.Attribute):
        if original.attr.value != "is_cuda" or is_module_ref(ctx, original.value):
            return None
        if id(original) in ctx.store_targets:
            ctx.report(self, original, "assignment to (or deletion of) `.is_cuda`: port by hand")
            return None
        value = updated.value
        if value.lpar:
            value = value.with_changes(lpar=[], rpar=[])
        return keep_parens(ctx.accel_call("on_accelerator", cst.Arg(value)), updated)
