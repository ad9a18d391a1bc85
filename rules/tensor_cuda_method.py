"""Family 5 of the porting rules: ``x.cuda()`` on tensors and modules."""

from __future__ import annotations

from typing import List

import libcst as cst

from accelport.codemod.engine import travel
from accelport.codemod.engine.context import Context
from accelport.rules.base import Rule, is_module_ref

# `torch.Tensor.cuda(x)`: the unbound method, reported rather than rewritten.
UNBOUND = frozenset({"torch.Tensor.cuda", "torch.nn.Module.cuda"})
# Packages whose `cuda` attribute is a module of their own, never a tensor's method.
CUDA_LIBRARIES = frozenset({"torch", "numba", "cupy", "pycuda", "cuda", "jax", "tensorflow", "triton", "warp"})


def _may_have_own_cuda(ctx: Context) -> bool:
    """Whether the file can hold a class with its own ``cuda``/``to`` (defined here, or imported by a
    ``from`` import): only then is the module analysed (codemod/engine/travel.py)."""
    stmts = ctx.statements
    text = stmts.source if stmts is not None else None
    if text is None:
        return True
    return "def cuda(" in text or "def to(" in text or "from " in text


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


class TensorCudaMethod(Rule):
    """Rewrite `x.cuda(...)` to `x.to(get_accelerator().device_name(...))` for tensors and modules.

    ## What it does
    `x.cuda()` becomes `x.to(get_accelerator().device_name())`; `x.cuda(i)` and `x.cuda(device=i)`
    become `x.to(get_accelerator().device_name(i))`; `non_blocking` is kept (named when it was
    positional, since `.to()`'s second parameter is the dtype). Chains such as
    `x.cuda().half()` keep their shape. Calls with other arguments (`memory_format=`) and the unbound
    `torch.Tensor.cuda(x)` are reported, and
    `cuda` attributes of imported modules (`torch.cuda`, `numba.cuda`) are never touched. A value
    reached from an imported module (`mod.handle.val.cuda()`) is ported like any receiver; an unbound
    method of an imported class (`lib.Packed.cuda(x)`) or a module's own `cuda` function is reported.

    A class may define its own `cuda` (quantized weights that pack on the way, wrappers), and `.to()`
    would bypass it. So `.cuda()` is reported, not rewritten, where the receiver is provably an instance
    of a class defined in the module that defines `cuda` or `to`, of a class imported from the project
    (a relative import), or of a class imported from another package than torch (bitsandbytes'
    `Int8Params`): `QuantLinear(...).cuda()`, `self.weight.cuda()` after `self.weight = Int8Params(...)`.
    Where the module defines such a class, every receiver not provably a torch object (a `torch.*`
    call's result) is reported too, since it may be an instance. Instances of the module's own classes
    without `cuda`/`to` (`Net().cuda()` for an `nn.Module` defined here) are ported.

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
        if not isinstance(func, cst.Attribute) or func.attr.value != "cuda":
            return None
        if is_module_ref(ctx, func.value) and not self._module_value(ctx, original, ctx.qname(func.value) or ""):
            return None
        own = travel.flow_of(ctx).own_cuda if _may_have_own_cuda(ctx) else None
        if own:
            message = own.get(travel.position(ctx, original))
            if message is not None:
                ctx.report(self, original, message)
                return None
        # Tensor.cuda(device=None, non_blocking=False, memory_format=...); Module.cuda(device=None).
        # Each argument is rewritten in place so the commas, comments and line breaks between them stay.
        args: List[cst.Arg] = []
        has_device = False
        for position, arg in enumerate(updated.args):
            word = arg.keyword.value if arg.keyword is not None else None
            if arg.star:
                return self._unsupported(ctx, original)
            if (word is None and position == 0) or word == "device":
                has_device = True
                # `.cuda(None)` is the current device, which is what `device_name()` names.
                index = [] if _is_none(arg.value) else [cst.Arg(arg.value)]
                name = ctx.accel_call("device_name", *index)
                if position == 0:
                    args.append(arg.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT, value=name))
                else:  # `.cuda(non_blocking=True, device=i)`: `.to()` takes `device=` too.
                    args.append(arg.with_changes(value=name))
            elif word is None and position == 1:
                # `.to()`'s second positional parameter is dtype: name the flag.
                args.append(arg.with_changes(keyword=cst.Name("non_blocking"), equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))))
            elif word == "non_blocking":
                args.append(arg)
            else:
                return self._unsupported(ctx, original)
        if not has_device:
            device = cst.Arg(ctx.accel_call("device_name"))
            if args:
                device = device.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            args.insert(0, device)
        new_func = updated.func.with_changes(attr=cst.Name("to"))  # type: ignore[union-attr]
        return updated.with_changes(func=new_func, args=args)

    def _module_value(self, ctx: Context, original: cst.Call, receiver: str) -> bool:
        """Whether ``mod.handle.val.cuda()`` (a receiver reached from an imported module) is a value to port
        like any other receiver; False where it is left (a CUDA library's namespace) or reported."""
        func = original.func
        qname = f"{receiver}.cuda"
        if qname in UNBOUND:
            ctx.report(self, original, f"`{qname}(x)`: port by hand with x.to(get_accelerator().device_name())")
            return False
        parts = receiver.split(".")
        if parts[0] in CUDA_LIBRARIES:
            return False  # `numba.cuda`, `cupy.cuda`: modules, not values with a `.cuda()` method
        if len(parts) < 2 or parts[-1][:1].isupper() or not isinstance(func.value, cst.Attribute):  # type: ignore[union-attr]
            ctx.report(self, original, f"`{ctx.code(func)}(...)` calls `cuda` on a module or class "
                       "(an unbound method or a module function), not on a tensor: port by hand")
            return False
        return True

    def _unsupported(self, ctx: Context, original: cst.Call) -> None:
        ctx.report(self, original, "`.cuda()` with arguments other than a device and non_blocking: port by hand with .to(get_accelerator().device_name(...), ...)")
        return None
