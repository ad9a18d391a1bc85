"""Family 9 of the porting rules: ``DistributedDataParallel(device_ids=...)`` on every backend."""

from __future__ import annotations

import libcst as cst

from accelport.codemod.engine.context import Context
from accelport.codemod.engine.roles import positional
from accelport.rules.base import Rule

DDP = frozenset({"torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel"})
# device_ids and output_device are DDP's 2nd and 3rd parameters.
POSITIONS = {"device_ids": 1, "output_device": 2}


class DdpDeviceIds(Rule):
    """Make `DistributedDataParallel(..., device_ids=[i], output_device=j)` work on every backend.

    ## What it does
    Wraps `device_ids` and `output_device` so they are passed only when the accelerator is not the CPU:
    `device_ids=[i] if get_accelerator().device_name() != "cpu" else None`.

    ## Why is this bad?
    DDP requires `device_ids` to be None for CPU modules; a CUDA-style call raises under `torchrun` on CPU.

    ## Example
    ```python
    model = DDP(model, device_ids=[local_rank], output_device=local_rank)
    ```

    ## Use instead
    ```python
    model = DDP(model, device_ids=[local_rank] if get_accelerator().device_name() != "cpu" else None, output_device=local_rank if get_accelerator().device_name() != "cpu" else None)
    ```

    ## Fix safety
    Safe: on CUDA the arguments are passed unchanged.
    """

    NAME = "ddp-device-ids"
    CODE = "AP109"
    TRIGGERS = ("DistributedDataParallel",)

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        if ctx.qname(original.func) not in DDP:
            return None
        args = list(updated.args)
        changed = False
        count = len(positional(original))
        for index, arg in enumerate(args):
            word = arg.keyword.value if arg.keyword is not None else None
            is_target = word in POSITIONS or (word is None and index < count and index in POSITIONS.values())
            if not is_target or isinstance(arg.value, cst.IfExp) or _is_none(arg.value):
                continue
            args[index] = arg.with_changes(value=self._guarded(ctx, arg.value))
            changed = True
        return updated.with_changes(args=args) if changed else None

    @staticmethod
    def _guarded(ctx: Context, value: cst.BaseExpression) -> cst.IfExp:
        not_cpu = cst.Comparison(
            left=ctx.accel_call("device_name"),
            comparisons=[cst.ComparisonTarget(cst.NotEqual(), cst.SimpleString('"cpu"'))],
        )
        return cst.IfExp(test=not_cpu, body=value, orelse=cst.Name("None"))


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"
