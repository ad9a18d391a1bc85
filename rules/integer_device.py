"""Family 10a of the porting rules: integer ranks and ordinals used as devices."""

from __future__ import annotations

import libcst as cst

from accelport.codemod.engine import travel
from accelport.codemod.engine.context import DEVICE, Context
from accelport.rules.base import Rule, keep_parens


def _key(node: cst.CSTNode) -> "str | None":
    """The text ``travel.Flow.int_keys`` holds for this node (cheap: no position needed to reject it)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    if isinstance(node, cst.Integer):
        return str(int(node.value, 0)) if node.value.isdigit() else None
    if isinstance(node, cst.Call) and isinstance(node.func, (cst.Name, cst.Attribute)):
        return node.func.value if isinstance(node.func, cst.Name) else node.func.attr.value
    if isinstance(node, cst.BinaryOperation):
        return "<binop>"
    return None


class IntegerDevice(Rule):
    """Rewrite an integer rank or ordinal used as a device to `get_accelerator().device_name(i)`.

    ## What it does
    PyTorch reads an integer as a CUDA device: `model.to(local_rank)`, `torch.device(rank)`,
    `torch.zeros(n, device=0)` and `torch.load(f, map_location=rank)` all mean `cuda:<i>`. Where the
    value is provably an int, it becomes `get_accelerator().device_name(i)`. Proof is followed within
    the module: an int literal, `int(...)`, `len(...)`, `dist.get_rank()` (and the other rank getters),
    `args.local_rank` (or an argparse option declared `type=int`), a `range(...)` loop variable,
    arithmetic of those, an `int`-annotated parameter, the first parameter of a function started by
    `torch.multiprocessing.spawn`, a parameter of a function or class the module defines whose every
    call in the module passes an int, and a `self` attribute whose every assignment in its class is
    one of those. A value that is only *named* like an ordinal (`rank`, `local_rank`, `gpu`, `gpu_id`,
    `device_id`, ...) with nothing in the module proving it an int is reported, not rewritten. An int
    passed as `device=` to an API that is not PyTorch's (a pipeline, a library wrapper) is reported:
    whether it means a CUDA device depends on that API. A `.to(x)` whose `x` is a dtype, a tensor or a
    device string, and a `map_location` bound to a dict or a function, are left alone;
    `torch.cuda.set_device(i)` takes an index and is torch-cuda-call's.

    ## Why is this bad?
    `model.to(rank)` moves the model to `cuda:<rank>`: on CPU (a gloo run under torchrun) it raises.

    ## Example
    ```python
    def train(rank, world_size):
        model = Net().to(rank)

    mp.spawn(train, args=(world_size,), nprocs=world_size)
    ```

    ## Use instead
    ```python
    def train(rank, world_size):
        model = Net().to(get_accelerator().device_name(rank))
    ```

    ## Fix safety
    Safe where the value is proven an int: on CUDA `device_name(i)` is `'cuda:i'`, what PyTorch made of
    `i`; `map_location=i` (which `torch.load` cannot use as an int) becomes a device it can.
    """

    NAME = "integer-device"
    CODE = "AP111"
    TRIGGERS = (".to(", "device=", "device(", "map_location")

    def _site(self, ctx: Context, original: cst.BaseExpression, updated: cst.BaseExpression):
        if ctx.role(original) != DEVICE:
            return None
        key = _key(original)
        if key is None:
            return None
        flow = travel.flow_of(ctx)
        if key not in flow.int_keys:
            return None
        decision = flow.ints.get(travel.position(ctx, original))
        if decision is None:
            return None
        verdict, message = decision
        if verdict == travel.REPORT:
            ctx.report(self, original, message)
            return None
        inner = updated.with_changes(lpar=[], rpar=[]) if getattr(updated, "lpar", None) else updated
        return keep_parens(ctx.accel_call("device_name", cst.Arg(inner)), updated)

    def leave_Name(self, ctx: Context, original: cst.Name, updated: cst.Name):
        return self._site(ctx, original, updated)

    def leave_Attribute(self, ctx: Context, original: cst.Attribute, updated: cst.Attribute):
        return self._site(ctx, original, updated)

    def leave_Integer(self, ctx: Context, original: cst.Integer, updated: cst.Integer):
        return self._site(ctx, original, updated)

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        return self._site(ctx, original, updated)

    def leave_BinaryOperation(self, ctx: Context, original: cst.BinaryOperation, updated: cst.BinaryOperation):
        return self._site(ctx, original, updated)
