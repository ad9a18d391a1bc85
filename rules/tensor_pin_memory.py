"""Family 7 of the porting rules: ``x.pin_memory()``."""

from __future__ import annotations

import libcst as cst

from accelport.codemod.engine import travel
from accelport.codemod.engine.context import Context
from accelport.codemod.engine.roles import terminal_name
from accelport.rules.base import Rule, is_module_ref, keep_parens


class TensorPinMemory(Rule):
    """Rewrite `x.pin_memory()` to `get_accelerator().pin_memory(x)`, and `pin_memory=True` to a flag true only where pinning exists.

    ## What it does
    The tensor method call `x.pin_memory()` becomes `get_accelerator().pin_memory(x)`. A call with a
    device argument (`x.pin_memory(device)`, deprecated by PyTorch) is reported, not rewritten.

    `pin_memory=True` on any call (a PyTorch tensor factory such as `torch.empty(n, pin_memory=True)`,
    a `DataLoader`, a `WebLoader`, a project's loader helper) and a `"pin_memory": True` entry of a dict
    (loader options passed on as `DataLoader(**kwargs)`) become `get_accelerator().device_name() != "cpu"`:
    an expression over the interface's existing `device_name()`, so the ported file runs the same under
    DeepSpeed's runtime. Pinning means page-locking host memory for an accelerator whatever the callee,
    so the flag is exact on CUDA. A factory's `pin_memory=` holding a variable (`pin_memory=pin`) is
    reported, since it raises on CPU whenever it is true; a `DataLoader`'s is left (it only warns).
    `torch.cuda.is_available()` as a pinning flag stays the CUDA question (guards), since the CPU
    accelerator is available and a factory asked to pin there raises.

    A parameter default `pin_memory: bool = True` (any parameter named `*pin*`) whose only uses in its
    function are such `pin_memory=` flags (or printing it) gets the same expression; where the parameter
    is also read otherwise (`if pin_memory: ...`, `pin = pin_memory and ...`) it is reported.

    ## Why is this bad?
    Pinning needs an accelerator: on a CPU-only build `x.pin_memory()` and
    `torch.empty(n, pin_memory=True)` raise, and a `DataLoader(pin_memory=True)` warns in every
    worker.

    ## Example
    ```python
    batch = batch.pin_memory()
    loader = DataLoader(dataset, batch_size=32, pin_memory=True)
    ```

    ## Use instead
    ```python
    batch = get_accelerator().pin_memory(batch)
    loader = DataLoader(dataset, batch_size=32, pin_memory=get_accelerator().device_name() != "cpu")
    ```

    ## Fix safety
    Safe: on CUDA the runtime calls `x.pin_memory()` and the flag is `True`; on CPU the runtime returns
    `x` and the flag is `False`, where pinning would raise or warn.
    """

    NAME = "tensor-pin-memory"
    CODE = "AP107"
    TRIGGERS = (".pin_memory(", "pin_memory")

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        func = original.func
        if any(arg.keyword is not None and arg.keyword.value == "pin_memory" for arg in original.args):
            return self._flag(ctx, original, updated)
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

    def leave_Param(self, ctx: Context, original: cst.Param, updated: cst.Param):
        """``pin_memory: bool = True`` whose every use is a DataLoader's or factory's ``pin_memory=``."""
        default = original.default
        if not (isinstance(default, cst.Name) and default.value == "True" and "pin" in original.name.value.lower()):
            return None
        decision = travel.flow_of(ctx).pins.get(travel.position(ctx, default))
        if decision is None:
            return None
        if decision[0] == travel.REPORT:
            ctx.report(self, default, decision[1])
            return None
        return updated.with_changes(default=_pin_flag(ctx))

    def leave_DictElement(self, ctx: Context, original: cst.DictElement, updated: cst.DictElement):
        """``{"pin_memory": True, ...}``: loader keyword arguments kept in a dict (``DataLoader(**kwargs)``)."""
        key, value = original.key, original.value
        if (isinstance(key, cst.SimpleString) and key.evaluated_value == "pin_memory"
                and isinstance(value, cst.Name) and value.value == "True"):  # fmt: skip
            return updated.with_changes(value=_pin_flag(ctx))
        return None

    def _flag(self, ctx: Context, original: cst.Call, updated: cst.Call):
        """``pin_memory=True`` on any call: a tensor factory, a DataLoader, a loader-building helper. Pinning
        means page-locking for an accelerator whatever the callee, so the flag is exact on CUDA and false
        only where there is nothing to pin for."""
        qname = ctx.qname(original.func) or ""
        factory = qname.startswith("torch.") and not (terminal_name(original.func) or "").endswith("DataLoader")
        args = list(updated.args)
        for position, arg in enumerate(original.args):
            if arg.keyword is None or arg.keyword.value != "pin_memory":
                continue
            value = arg.value
            if isinstance(value, cst.Name) and value.value == "True":
                args[position] = args[position].with_changes(value=_pin_flag(ctx))
                return updated.with_changes(args=args)
            # A variable may be true; an expression (the ported flag among them) is the author's own decision.
            if factory and isinstance(value, (cst.Name, cst.Attribute)) and ctx.code(value) not in ("False", "None"):
                ctx.report(self, value, f"`pin_memory=` on `{qname}` raises without an accelerator whenever it is true: "
                           'make it false on CPU, e.g. `... and get_accelerator().device_name() != "cpu"`')
        return None


def _pin_flag(ctx: Context) -> cst.Comparison:
    """``get_accelerator().device_name() != "cpu"``: True on CUDA, False where pinning would raise or warn."""
    return cst.Comparison(
        left=ctx.accel_call("device_name"),
        comparisons=[cst.ComparisonTarget(cst.NotEqual(), cst.SimpleString('"cpu"'))],
    )
