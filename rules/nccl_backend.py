"""Family 8 of the porting rules: the ``'nccl'`` communication backend."""

from __future__ import annotations

import libcst as cst

from accelport.codemod import travel
from accelport.codemod.context import BACKEND, Context
from accelport.rules.base import Rule, keep_parens
from accelport.rules.cuda_device_string import string_value

NCCL_CONSTANTS = frozenset({"torch.distributed.Backend.NCCL", "torch.distributed.distributed_c10d.Backend.NCCL"})


class NcclBackend(Rule):
    """Rewrite the `'nccl'` backend to `get_accelerator().communication_backend_name()`.

    ## What it does
    `'nccl'` as the backend of `torch.distributed.init_process_group`, `new_group`, `new_subgroups`
    and `deepspeed.init_distributed(dist_backend=...)` (positional or keyword), compared with
    `dist.get_backend()` or a name called `backend`/`*_backend` (any case), assigned to such a name, or
    the `default=` of an argparse option `--backend`/`--*-backend`, becomes
    `get_accelerator().communication_backend_name()`; so does `dist.Backend.NCCL` in those places.
    `"nccl"` in other strings is left alone.

    ## Why is this bad?
    NCCL exists only for NVIDIA GPUs: `init_process_group("nccl")` fails everywhere else.

    ## Example
    ```python
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    ```

    ## Use instead
    ```python
    dist.init_process_group(get_accelerator().communication_backend_name(), rank=rank, world_size=world_size)
    ```

    ## Fix safety
    Safe: the CUDA accelerator answers `'nccl'`; CPU answers `'gloo'` (or `'ccl'` with oneCCL).
    """

    NAME = "nccl-backend"
    CODE = "AP108"
    TRIGGERS = ("nccl", "Backend.NCCL")

    def leave_Attribute(self, ctx: Context, original: cst.Attribute, updated: cst.Attribute):
        # `dist.Backend.NCCL` is the string "nccl" under another spelling.
        if ctx.role(original) == BACKEND and ctx.is_chain_top(original) and ctx.qname(original) in NCCL_CONSTANTS:
            return keep_parens(ctx.accel_call("communication_backend_name"), updated)
        return None

    def leave_SimpleString(self, ctx: Context, original: cst.SimpleString, updated: cst.SimpleString):
        if string_value(original) != "nccl":
            return None
        if ctx.role(original) != BACKEND:
            # Held in a name, an attribute, a parameter default, a dataclass field or an argparse default
            # and used as the backend later (codemod/travel.py).
            decision = travel.flow_of(ctx).backends.get(travel.position(ctx, original))
            if decision is None:
                return None
            if decision[0] == travel.REPORT:
                ctx.report(self, original, decision[1])
                return None
        return keep_parens(ctx.accel_call("communication_backend_name"), updated)
