"""Family 8 of the porting rules: the ``'nccl'`` communication backend."""

from __future__ import annotations

import libcst as cst

from accelport.codemod.engine import guards, travel
from accelport.codemod.engine.context import BACKEND, BACKEND_CHOICE, BACKEND_QUESTION, OWN_BACKEND, Context
from accelport.codemod.engine.guards import NCCL_CONSTANTS
from accelport.rules.base import Rule, keep_parens
from accelport.rules.cuda_device_string import string_value


class NcclBackend(guards.GuardHooks, Rule):
    """Rewrite the `'nccl'` backend to `get_accelerator().communication_backend_name()`.

    ## What it does
    `'nccl'` as the backend of `torch.distributed.init_process_group`, `new_group`, `new_subgroups`
    and `deepspeed.init_distributed(dist_backend=...)` (positional or keyword), assigned to a name called
    `backend`/`*_backend` (any case), or the `default=` of an argparse option `--backend`/`--*-backend`,
    becomes `get_accelerator().communication_backend_name()`; so does `dist.Backend.NCCL` in those places.
    Also a value under a backend key of a dict literal (`"backend"`, `"dist_backend"`), a `backend=` of
    `dict(...)`, and the `field(default=...)` of a backend-named dataclass field. A `"nccl"` held in a name,
    a parameter default, a dataclass field or an argparse default travels (codemod/engine/travel.py): it is ported
    when every read reaches a backend argument or only asks `== "nccl"` (a question left as written, so
    exact once the value is ported), reported when a read is also compared with another name or passed
    on, and reported when the holder it is stored in is compared with other names (`if self.backend ==
    "nccl": ... elif self.backend == "mpi": ...`: a choice the code makes itself, which another backend's
    name would not match). `"nccl"` elsewhere (a library name, a log message, a dictionary key) is left alone. In a
    backend place `"NCCL"` counts too (torch lower-cases backend names).

    A comparison with the backend in use (`dist.get_backend() == "nccl"`, `args.dist_backend == "nccl"`,
    `== dist.Backend.NCCL`) is a question, already right on every backend (only CUDA runs use NCCL): it is
    never rewritten. It is reported where it guards CUDA-only code (pynvml, `barrier(device_ids=...)`, an
    unported `torch.cuda` API, ...), which then still runs on NCCL only, and where what it guards chooses
    gloo: that asks "can the backend carry CPU tensors?", and xccl or hccl cannot either.

    Reported and left: the only `"nccl"` among an argparse backend option's `choices` (other
    accelerators' backends are refused; `choices=["nccl", "gloo"]` is left, the user picks), and a library's
    own backend name (`comm_backend_name="nccl"` of DeepSpeed's 1-bit optimizers, as a parameter default,
    variable or config key): it picks that library's NcclBackend/MpiBackend by comparing names, not a
    torch process group.

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
        role = ctx.role(original)
        if role not in (BACKEND, BACKEND_QUESTION) or not ctx.is_chain_top(original) or ctx.qname(original) not in NCCL_CONSTANTS:
            return None
        if role == BACKEND_QUESTION:
            guards.watch(ctx, self, original, "the backend comparison with `Backend.NCCL`")
            return None
        return keep_parens(ctx.accel_call("communication_backend_name"), updated)

    def leave_SimpleString(self, ctx: Context, original: cst.SimpleString, updated: cst.SimpleString):
        value = string_value(original)
        if value is None or value.lower() != "nccl":
            return None
        role = ctx.role(original)
        if role == BACKEND_QUESTION:
            # "Am I on NCCL?" is already right everywhere: only CUDA runs use NCCL. The accelerator's
            # backend name would make the CPU's gloo answer yes.
            guards.watch(ctx, self, original, "the backend comparison with 'nccl'")
            return None
        if role == BACKEND_CHOICE:
            ctx.report(self, original, "the backend option accepts 'nccl' only, which exists on CUDA alone: add the "
                       "backend other accelerators use to its choices (get_accelerator().communication_backend_name(): "
                       "'gloo' on CPU, 'ccl' with oneCCL, 'hccl' on Ascend)")
            return None
        # torch lower-cases backend names: `backend="NCCL" if has_gpu else "GLOO"` is NCCL too. A "nccl"
        # held in a name may be used as the backend later, or compared (codemod/engine/travel.py).
        verdict = travel.verdict(ctx, self, original, backend=True) if value == "nccl" else None
        if verdict == travel.REPORT:
            return None
        if verdict == travel.PORT or role == BACKEND:
            return keep_parens(ctx.accel_call("communication_backend_name"), updated)
        if role == OWN_BACKEND:
            ctx.report(self, original, "this 'nccl' names a library's own communication backend (as DeepSpeed's 1-bit "
                       "optimizers' `comm_backend_name` picks NcclBackend), not a torch process-group backend: left as "
                       "written; on another accelerator set a backend that library supports there (e.g. 'mpi', 'hccl')")
        return None
