"""Family 10 (advisory, off by default): hard-coded fp16."""

from __future__ import annotations

import libcst as cst

from accelport.codemod.engine.context import Context
from accelport.rules.base import Rule, is_module_ref

HALF_DTYPES = frozenset({"torch.float16", "torch.half"})


class HardcodedHalf(Rule):
    """Report hard-coded fp16 (`.half()`, `torch.float16`); some accelerators prefer bf16 (advisory, off by default).

    ## What it does
    Reports `.half()` calls and `torch.float16` / `torch.half` references. Turn it on with
    `--select hardcoded-half`.

    ## Why is this bad?
    fp16 is slow or unsupported on several accelerators (most CPUs, Gaudi); bf16 is the portable
    low-precision type.

    ## Example
    ```python
    model = model.half()
    ```

    ## Use instead
    ```python
    dtype = torch.bfloat16 if get_accelerator().is_bf16_supported() else torch.float16
    model = model.to(dtype)
    ```

    ## Fix safety
    No fix: the right dtype depends on the model.
    """

    NAME = "hardcoded-half"
    CODE = "AP901"
    FIXES = False
    DEFAULT = False
    TRIGGERS = (".half(", "float16", "torch.half")

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call) -> None:
        func = original.func
        if isinstance(func, cst.Attribute) and func.attr.value == "half" and not original.args:
            if not is_module_ref(ctx, func.value):
                ctx.report(self, original, "`.half()` hard-codes fp16: check get_accelerator().is_fp16_supported() or prefer bf16")

    def leave_Attribute(self, ctx: Context, original: cst.Attribute, updated: cst.Attribute) -> None:
        self._dtype(ctx, original)

    def leave_Name(self, ctx: Context, original: cst.Name, updated: cst.Name) -> None:
        # `from torch import float16` then `x.to(float16)`.
        self._dtype(ctx, original)

    def _dtype(self, ctx: Context, node: cst.BaseExpression) -> None:
        if ctx.is_chain_top(node) and ctx.qname(node) in HALF_DTYPES:
            ctx.report(self, node, f"`{ctx.qname(node)}` hard-codes fp16: prefer bf16 where get_accelerator().is_bf16_supported()")
