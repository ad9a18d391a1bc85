"""Family 2 of the porting rules: CUDA-only APIs with no accelerator-agnostic equivalent."""

from __future__ import annotations

from typing import Dict, Optional, Set

import libcst as cst

from accelport.codemod.engine.context import Context
from accelport.rules import torch_amp
from accelport.rules.base import Rule
from accelport.rules.torch_cuda_call import CUDA, TorchCudaCall, port_of

# What to do instead, for the APIs people reach for most. Keys match the qualified name or a prefix of it.
ADVICE: Dict[str, str] = {
    "torch.cuda.get_device_name": (
        "the GPU model name has no portable equivalent; log get_accelerator().device_name() (the backend, "
        "e.g. 'cuda' or 'cpu') instead, or call it only under `if get_accelerator().device_name() == 'cuda':`"
    ),
    "torch.cuda.get_device_capability": (
        "a CUDA compute capability means nothing on other backends; test the feature itself "
        "(get_accelerator().is_bf16_supported(), is_fp16_supported()) or guard with get_accelerator().device_name() == 'cuda'"
    ),
    "torch.cuda.get_device_properties": (
        "only .total_memory is portable (get_accelerator().total_memory(i)); guard the other properties "
        "with get_accelerator().device_name() == 'cuda'"
    ),
    "torch.cuda.mem_get_info": (
        "no exact equivalent; (get_accelerator().available_memory(i), get_accelerator().total_memory(i)) "
        "approximates (free, total)"
    ),
    "torch.cuda.ipc_collect": "frees CUDA IPC memory only; call it under `if get_accelerator().device_name() == 'cuda':`",
    "torch.cuda.cudart": (
        "the CUDA runtime library has no counterpart elsewhere; for profiler ranges use "
        "get_accelerator().range_push(msg) / range_pop(), otherwise guard with get_accelerator().device_name() == 'cuda'"
    ),
    "torch.cuda.jiterator": (
        "jiterator compiles CUDA kernels at run time; keep an eager PyTorch fallback and use the kernel "
        "only when get_accelerator().device_name() == 'cuda'"
    ),
    "torch.cuda.CUDAGraph": "use get_accelerator().create_graph(), capture_to_graph(graph) and replay_graph(graph)",
    "torch.cuda.graph": "use `with get_accelerator().capture_to_graph(graph):` on a graph from get_accelerator().create_graph()",
    "torch.cuda.make_graphed_callables": "capture with get_accelerator().create_graph() / capture_to_graph() / replay_graph()",
    "torch.cuda.OutOfMemoryError": "catch torch.OutOfMemoryError, which every backend raises",
    "torch.cuda.nvtx": "only ranges are portable: get_accelerator().range_push(msg) / range_pop()",
    "torch.cuda.amp": (
        "torch.cuda.amp is deprecated; calls of autocast, GradScaler, custom_fwd and custom_bwd are ported to "
        "torch.amp (torch.amp.autocast(get_accelerator().device_name(), ...)), other uses need the same by hand"
    ),
    "torch.cuda.default_generators": "index it: get_accelerator().default_generator(i) gives one device's generator",
    "torch.version.cuda": (
        "the CUDA toolkit version (None on CPU builds); compare it only under `if get_accelerator().device_name() == 'cuda':`"
    ),
    "torch.backends.cuda.matmul.allow_tf32": (
        "a CUDA-only switch; torch.set_float32_matmul_precision('high') is the backend-independent way "
        "to allow TF32 matmuls"
    ),
    "torch.backends.cuda": "a CUDA backend flag; set or read it only under `if get_accelerator().device_name() == 'cuda':`",
    "torch.utils.cpp_extension.CUDAExtension": (
        "builds CUDA sources only; use CppExtension for a CPU build, or an op builder "
        "(get_accelerator().create_op_builder(name)) that picks the sources for the active backend"
    ),
    "torch.utils.cpp_extension.CUDA_HOME": "the CUDA toolkit path; use it only when get_accelerator().device_name() == 'cuda'",
    "CUDA_VISIBLE_DEVICES": (
        "only CUDA reads this variable; use the names in get_accelerator().visible_devices_envs() "
        "(or get_accelerator().set_visible_devices_envs(env, ids)) so the active backend's variable is set"
    ),
}
# The torch.cuda module itself, used as a value.
MODULE_ADVICE = "the torch.cuda module itself is used as a value; port what is done with it by hand"
# torch.cuda.X = ... replaces a CUDA function for everyone.
STORE_ADVICE = (
    "assigning to a torch.cuda attribute (monkeypatching) has no port; patch the accelerator object "
    "(get_accelerator()) or remove the patch"
)
GENERIC = (
    "no accelerator-agnostic equivalent; call it only under `if get_accelerator().device_name() == 'cuda':` "
    "or port it by hand"
)

OTHER_CUDA_ONLY = ("torch.version.cuda", "torch.backends.cuda", "torch.utils.cpp_extension.CUDAExtension", "torch.utils.cpp_extension.CUDA_HOME")
# Environment variable names only CUDA reads, found as whole string literals or as ``NAME=value``.
CUDA_ENV = "CUDA_VISIBLE_DEVICES"
# Where torch-cuda-call ports a larger expression around a name that alone has no port.
PORTED_SHAPES = "unported-cuda-api.ported-shapes"
# id(the torch.cuda module in ``hasattr(torch.cuda, "X")`` and the like) -> advice for that use.
REFLECTION = "unported-cuda-api.reflection"
_REFLECTIVE = frozenset({"hasattr", "getattr", "setattr", "delattr"})


def reflection_advice(builtin: str, module: str, name: str) -> str:
    """What to do with ``hasattr(torch.cuda, "name")`` and its siblings."""
    qname = f"{module}.{name}"
    if builtin in ("setattr", "delattr"):
        return f"`{builtin}({module}, {name!r})`: {STORE_ADVICE}"
    found = port_of(qname)
    if found is None:
        return f"`{builtin}({module}, {name!r})` looks up `{qname}`, which has no accelerator equivalent: {_advice(qname)}"
    steps = ".".join(step for step in found[0])
    if builtin == "hasattr":
        return (
            f"`hasattr({module}, {name!r})` is a feature test on the CUDA module; the accelerator has "
            f"`{steps}` on every backend, so ask `hasattr(get_accelerator(), {steps.split('.')[0].rstrip('()')!r})` or drop the test"
        )
    return f"`getattr({module}, {name!r})` looks up a CUDA function; write `get_accelerator().{steps}` (or getattr on get_accelerator())"


def _advice(qname: str) -> str:
    if qname == CUDA:
        return MODULE_ADVICE
    parts = qname.split(".")
    for size in range(len(parts), 2, -1):
        key = ".".join(parts[:size])
        if key in ADVICE:
            return ADVICE[key]
    return GENERIC


def _env_literal(value: str) -> bool:
    """``"CUDA_VISIBLE_DEVICES"`` or a shell-style ``"CUDA_VISIBLE_DEVICES=0,1 ..."``; not a sentence naming it."""
    return value == CUDA_ENV or value.startswith(CUDA_ENV + "=")


class UnportedCudaApi(Rule):
    """Report CUDA-only APIs that have no accelerator-agnostic equivalent (never rewritten).

    ## What it does
    Flags `torch.cuda` functions the runtime interface has no method for (`get_device_name`,
    `get_device_capability`, `ipc_collect`, `CUDAGraph`, `mem_get_info`, ...), `torch.backends.cuda.*`,
    `torch.version.cuda`, `torch.utils.cpp_extension.CUDAExtension` and `"CUDA_VISIBLE_DEVICES"` literals.
    Each finding names the API and what to do instead. `hasattr(torch.cuda, "X")`, `getattr(torch.cuda,
    "X")` and `setattr`/`delattr` get advice for `X` itself: the accelerator method to ask for where
    one exists, a CUDA-only guard where none does.

    ## Why is this bad?
    These calls fail or mean nothing on other accelerators, and no rewrite keeps their meaning, so a
    person has to decide.

    ## Example
    ```python
    name = torch.cuda.get_device_name(0)
    ```

    ## Use instead
    ```python
    name = get_accelerator().device_name() if get_accelerator().device_name() != "cuda" else torch.cuda.get_device_name(0)
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
        if qname is None:
            return
        is_cuda = qname == CUDA or qname.startswith(CUDA + ".")
        reflective = ctx.notes.get(REFLECTION)
        if reflective and id(node) in reflective:  # type: ignore[operator]
            ctx.report(self, node, reflective[id(node)])  # type: ignore[index]
            return
        advice = STORE_ADVICE if is_cuda and id(node) in ctx.store_targets else _advice(qname)
        ctx.report(self, node, f"`{qname}`: {advice}")

    def visit_Call(self, ctx: Context, node: cst.Call) -> None:
        """``hasattr(torch.cuda, "X")``, ``getattr(torch.cuda, "X", None)``: advice for X, not for the module.
        A ``torch.cuda.amp`` call is torch-cuda-call's: ported to torch.amp, or reported there."""
        func = node.func
        if torch_amp.amp_member(ctx.qname(func)) is not None:
            self._ported_shapes(ctx).add(id(func))
            return
        if not (isinstance(func, cst.Name) and func.value in _REFLECTIVE and len(node.args) >= 2):
            return
        if ctx.qname(func) is not None:
            return  # an imported function of that name, not the builtin
        target, name = node.args[0].value, node.args[1].value
        if not isinstance(name, cst.SimpleString) or not isinstance(name.evaluated_value, str):
            return
        module = ctx.qname(target)
        if module is None or not (module == CUDA or module.startswith(CUDA + ".")):
            return
        advice = reflection_advice(func.value, module, name.evaluated_value)
        ctx.notes.setdefault(REFLECTION, {})[id(target)] = advice  # type: ignore[index]

    # torch.cuda.default_generators[i] and torch.cuda.get_device_properties(i).total_memory are ported
    # whole by torch-cuda-call, so their inner names are not findings.
    @staticmethod
    def _ported_shapes(ctx: Context) -> Set[int]:
        return ctx.notes.setdefault(PORTED_SHAPES, set())  # type: ignore[return-value]

    def visit_Subscript(self, ctx: Context, node: cst.Subscript) -> None:
        if TorchCudaCall._generator_index(ctx, node) is not None:
            self._ported_shapes(ctx).add(id(node.value))

    # torch.cuda.amp decorators are torch-cuda-call's: ported to torch.amp, or reported there.
    def visit_Decorator(self, ctx: Context, node: cst.Decorator) -> None:
        if torch_amp.amp_member(ctx.qname(node.decorator)) in torch_amp.DECORATORS:
            self._ported_shapes(ctx).add(id(node.decorator))

    def visit_Attribute(self, ctx: Context, node: cst.Attribute) -> None:
        call = TorchCudaCall._properties_call(ctx, node)
        if call is not None:
            self._ported_shapes(ctx).add(id(call.func))

    @classmethod
    def _unported(cls, ctx: Context, node: cst.BaseExpression) -> Optional[str]:
        if not ctx.is_chain_top(node) or id(node) in cls._ported_shapes(ctx):
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
        if _env_literal(original.raw_value):
            ctx.report(self, original, f"`{CUDA_ENV}`: {ADVICE[CUDA_ENV]}")


