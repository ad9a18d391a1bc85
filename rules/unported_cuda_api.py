"""Family 2 of the porting rules: CUDA-only APIs with no accelerator-agnostic equivalent."""

from __future__ import annotations

from typing import Dict, Optional

import libcst as cst

from accelport.codemod.context import Context
from accelport.rules.base import Rule
from accelport.rules.torch_cuda_call import CUDA, port_of

# What to do instead, for the APIs people reach for most.
ADVICE: Dict[str, str] = {
    "torch.cuda.get_device_name": "no runtime equivalent; use get_accelerator().name() or guard the call",
    "torch.cuda.get_device_capability": "CUDA compute capability has no meaning elsewhere; guard with get_accelerator().name() == 'cuda'",
    "torch.cuda.get_device_properties": "only .total_memory is portable (get_accelerator().total_memory(i)); guard the rest",
    "torch.cuda.mem_get_info": "no exact equivalent; get_accelerator().available_memory(i) and total_memory(i) are close",
    "torch.cuda.ipc_collect": "CUDA IPC only; guard with get_accelerator().name() == 'cuda'",
    "torch.cuda.CUDAGraph": "use get_accelerator().create_graph() / capture_to_graph() / replay_graph()",
    "torch.cuda.graph": "use get_accelerator().capture_to_graph(graph)",
    "torch.cuda.OutOfMemoryError": "catch torch.OutOfMemoryError, which every backend raises",
    "torch.cuda.nvtx": "use get_accelerator().range_push(msg) / range_pop()",
    "torch.cuda.amp": "only autocast and GradScaler are portable, through get_accelerator().amp()",
    "torch.cuda": "the torch.cuda module itself is passed around; port its uses by hand",
    "torch.cuda.default_generators": "use get_accelerator().default_generator(i)",
    "torch.version.cuda": "CUDA toolkit version; guard with get_accelerator().name() == 'cuda'",
    "torch.backends.cuda": "CUDA backend flags; guard with get_accelerator().name() == 'cuda'",
    "torch.utils.cpp_extension.CUDAExtension": "build native code through an op builder (get_accelerator().create_op_builder(...))",
    "torch.utils.cpp_extension.CUDA_HOME": "CUDA toolkit path; guard with get_accelerator().name() == 'cuda'",
    "CUDA_VISIBLE_DEVICES": "use get_accelerator().visible_devices_envs() for the variable names of the active backend",
}
GENERIC = "no accelerator-agnostic equivalent; guard it with get_accelerator().name() == 'cuda' or port it by hand"

OTHER_CUDA_ONLY = ("torch.version.cuda", "torch.backends.cuda", "torch.utils.cpp_extension.CUDAExtension", "torch.utils.cpp_extension.CUDA_HOME")


def _advice(qname: str) -> str:
    parts = qname.split(".")
    for size in range(len(parts), 0, -1):
        key = ".".join(parts[:size])
        if key in ADVICE:
            return ADVICE[key]
    return GENERIC


class UnportedCudaApi(Rule):
    """Report CUDA-only APIs that have no accelerator-agnostic equivalent (never rewritten).

    ## What it does
    Flags `torch.cuda` functions the runtime interface has no method for (`get_device_name`,
    `get_device_capability`, `ipc_collect`, `CUDAGraph`, `mem_get_info`, ...), `torch.backends.cuda.*`,
    `torch.version.cuda`, `torch.utils.cpp_extension.CUDAExtension` and `"CUDA_VISIBLE_DEVICES"` literals.
    Each finding names the API and what to do instead.

    ## Why is this bad?
    These calls fail or mean nothing on other accelerators, and no rewrite keeps their meaning, so a
    person has to decide.

    ## Example
    ```python
    name = torch.cuda.get_device_name(0)
    ```

    ## Use instead
    ```python
    name = get_accelerator().name() if get_accelerator().name() != "cuda" else torch.cuda.get_device_name(0)
    ```

    ## Fix safety
    No fix: reported only.
    """

    NAME = "unported-cuda-api"
    CODE = "AP102"
    FIXES = False
    TRIGGERS = ("cuda", "CUDA")

    def _check(self, ctx: Context, node: cst.BaseExpression) -> None:
        qname = self._unported(ctx, node)
        if qname is not None:
            ctx.report(self, node, f"`{qname}`: {_advice(qname)}")

    @staticmethod
    def _unported(ctx: Context, node: cst.BaseExpression) -> Optional[str]:
        if not ctx.is_chain_top(node):
            return None
        qname = ctx.qname(node)
        if qname is None:
            return None
        if qname == CUDA or qname.startswith(CUDA + "."):
            # Assigning to torch.cuda.X (monkeypatching) has no port, even where X has one.
            if id(node) not in ctx.store_targets and port_of(qname) is not None:
                return None
            return qname
        for api in OTHER_CUDA_ONLY:
            if qname == api or qname.startswith(api + "."):
                return qname
        return None

    def leave_Attribute(self, ctx: Context, original: cst.Attribute, updated: cst.Attribute) -> None:
        self._check(ctx, original)

    def leave_Name(self, ctx: Context, original: cst.Name, updated: cst.Name) -> None:
        self._check(ctx, original)

    def leave_SimpleString(self, ctx: Context, original: cst.SimpleString, updated: cst.SimpleString) -> None:
        if original.raw_value == "CUDA_VISIBLE_DEVICES":
            ctx.report(self, original, f"`CUDA_VISIBLE_DEVICES`: {ADVICE['CUDA_VISIBLE_DEVICES']}")


