"""Family 5 of the porting rules: ``x.cuda()`` on tensors and modules."""

from __future__ import annotations

from typing import List, Optional

import libcst as cst

from accelport.codemod.context import Context
from accelport.rules.base import Rule, is_module_ref


class TensorCudaMethod(Rule):
    """Rewrite `x.cuda(...)` to `x.to(get_accelerator().device_name(...))` for tensors and modules.

    ## What it does
    `x.cuda()` becomes `x.to(get_accelerator().device_name())`; `x.cuda(i)` and `x.cuda(device=i)`
    become `x.to(get_accelerator().device_name(i))`; `non_blocking=` is kept. Chains such as
    `x.cuda().half()` keep their shape. Calls with other arguments (`memory_format=`) are reported, and
    `cuda` attributes of imported modules (`torch.cuda`, `numba.cuda`) are never touched.

    ## Why is this bad?
    `.cuda()` raises on a machine without CUDA.

    ## Example
    ```python
    model = Net().cuda()
    batch = batch.cuda(non_blocking=True)
    ```

    ## Use instead
    ```python
    model = Net().to(get_accelerator().device_name())
    batch = batch.to(get_accelerator().device_name(), non_blocking=True)
    ```

    ## Fix safety
    Safe: `.cuda(i)` is defined as `.to('cuda:i')` for tensors and modules.
    """

    NAME = "tensor-cuda-method"
    CODE = "AP105"
    TRIGGERS = (".cuda(",)

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        func = original.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "cuda" or is_module_ref(ctx, func.value):
            return None
        index: Optional[cst.BaseExpression] = None
        rest: List[cst.Arg] = []
        for position, arg in enumerate(updated.args):
            word = arg.keyword.value if arg.keyword is not None else None
            if arg.star:
                return self._unsupported(ctx, original)
            if word is None and position == 0 or word == "device":
                index = arg.value
            elif word == "non_blocking":
                rest.append(arg)
            else:
                return self._unsupported(ctx, original)
        name_args = [cst.Arg(index)] if index is not None else []
        device = cst.Arg(ctx.accel_call("device_name", *name_args))
        if rest:
            device = device.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            rest[-1] = rest[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        new_func = updated.func.with_changes(attr=cst.Name("to"))  # type: ignore[union-attr]
        return updated.with_changes(func=new_func, args=[device, *rest])

    def _unsupported(self, ctx: Context, original: cst.Call) -> None:
        ctx.report(self, original, "`.cuda()` with arguments other than a device and non_blocking: port by hand with .to(get_accelerator().device_name(...), ...)")
        return None
