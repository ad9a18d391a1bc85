"""Family 8 of the porting rules: the ``'nccl'`` communication backend."""

from __future__ import annotations

import libcst as cst

from accelport.codemod.engine import guards, travel
from accelport.codemod.engine.context import BACKEND, Context
from accelport.rules.base import Rule, keep_parens
from accelport.rules.cuda_device_string import string_value

NCCL_CONSTANTS = frozenset({"torch.distributed.Backend.NCCL", "torch.distributed.distributed_c10d.Backend.NCCL"})


class NcclBackend(guards.GuardHooks, Rule):
    """Rewrite the `'nccl'` backend to `get_accelerator().communication_backend_name()`.

    ## What it does
    `'nccl'` as the backend of `torch.distributed.init_process_group`, `new_group`, `new_subgroups`
    and `deepspeed.init_distributed(dist_backend=...)` (positional or keyword), compared with
    `dist.get_backend()` or a name called `backend`/`*_backend` (any case), assigned to such a name, or
    the `default=` of an argparse option `--backend`/`--*-backend`, becomes
    `get_accelerator().communication_backend_name()`; so does `dist.Backend.NCCL` in those places.
    Also a value under a backend key of a dict literal (`"backend"`, `"dist_backend"`,
    `"comm_backend_name"` of a DeepSpeed config), a `backend=` of `dict(...)`, and the `field(default=...)`
    of a backend-named dataclass field. A `"nccl"` held in a name, a parameter default, a dataclass field
    or an argparse default travels (codemod/engine/travel.py): it is ported when every read reaches a backend
    argument, reported when a read is also compared or passed on. `"nccl"` elsewhere (a library name, a
    log message, a dictionary key) is left alone. In a backend place `"NCCL"` counts too (torch
    lower-cases backend names).

    A comparison with the backend is a question ("am I on NCCL, so on CUDA?"): it is rewritten only
    where it guards code that is all ported or portable (see "Guards" at the top of this page); where it
    guards CUDA-only code (pynvml, `barrier(device_ids=...)`, an unported `torch.cuda` API, ...) or its
    value is assigned or returned, it is left as written and reported.

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
    TRIGGERS = ("nccl", "NCCL")

    def leave_Attribute(self, ctx: Context, original: cst.Attribute, updated: cst.Attribute):
        # `dist.Backend.NCCL` is the string "nccl" under another spelling.
        if ctx.role(original) == BACKEND and ctx.is_chain_top(original) and ctx.qname(original) in NCCL_CONSTANTS:
            return keep_parens(ctx.accel_call("communication_backend_name"), updated)
        return None

    def leave_SimpleString(self, ctx: Context, original: cst.SimpleString, updated: cst.SimpleString):
        value = string_value(original)
        if value is None or value.lower() != "nccl":
            return None
        # torch lower-cases backend names: `backend="NCCL" if has_gpu else "GLOO"` is NCCL too. A "nccl"
        # without a role may be held and used as the backend later (codemod/engine/travel.py).
        if ctx.role(original) != BACKEND and (value != "nccl" or not travel.travels(ctx, self, original, backend=True)):
            return None
        replacement = keep_parens(ctx.accel_call("communication_backend_name"), updated)
        if guards.is_question(ctx, original):
            return guards.propose(ctx, self, original, updated, replacement, "the backend comparison with 'nccl'")
        return replacement
