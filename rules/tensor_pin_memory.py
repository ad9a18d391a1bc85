"""Family 7 of the porting rules: ``x.pin_memory()``."""

from __future__ import annotations

import libcst as cst

from accelport.codemod.context import Context
from accelport.rules.base import Rule, is_module_ref, keep_parens


class TensorPinMemory(Rule):
    """Rewrite `x.pin_memory()` to `get_accelerator().pin_memory(x)`.

    ## What it does
    The tensor method call `x.pin_memory()` becomes `get_accelerator().pin_memory(x)`. The
    `pin_memory=True` argument of `DataLoader` is a flag, not a call, and stays. A call with a device
    argument (`x.pin_memory(device)`, deprecated by PyTorch) is reported, not rewritten.

    ## Why is this bad?
    Pinning needs an accelerator: on a CPU-only build `x.pin_memory()` raises.

    ## Example
    ```python
    batch = batch.pin_memory()
    ```

    ## Use instead
    ```python
    batch = get_accelerator().pin_memory(batch)
    ```

    ## Fix safety
    Safe: on CUDA the runtime calls `x.pin_memory()`; elsewhere it pins with that backend or returns `x`.
    """

    NAME = "tensor-pin-memory"
    CODE = "AP107"
    TRIGGERS = (".pin_memory(",)

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        func = original.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "pin_memory":
            return None
        if is_module_ref(ctx, func.value):
            return None
        if isinstance(func.value, cst.Call) and (ctx.qname(func.value.func) or "").endswith(".get_accelerator"):
            return None  # already ported: get_accelerator().pin_memory(x) is the runtime's method, not a tensor's
        if original.args:
            # `Tensor.pin_memory(device)`: the (deprecated) device argument names a CUDA device.
            ctx.report(self, original, "`.pin_memory()` with a device argument: port by hand with get_accelerator().pin_memory(x)")
            return None
        tensor = updated.func.value  # type: ignore[union-attr]
        if tensor.lpar:
            tensor = tensor.with_changes(lpar=[], rpar=[])
        return keep_parens(ctx.accel_call("pin_memory", cst.Arg(tensor)), updated)
