"""Family 10b of the porting rules: op builders constructed by class instead of through the accelerator."""

from __future__ import annotations

from typing import Optional

import libcst as cst

from accelport.codemod.engine.context import Context
from accelport.rules import capabilities
from accelport.rules.base import Rule, for_runtime, keep_parens

# Backend subpackages of DeepSpeed's op_builder: their builders are already backend-specific.
BACKEND_PACKAGES = frozenset({"cpu", "hpu", "npu", "xpu", "mlu", "mps", "sdaa", "supa", "klxpu", "cuda"})
# Base classes, never built by name through the accelerator.
BASES = frozenset({"OpBuilder", "CUDAOpBuilder", "TorchCPUOpBuilder", "CPUOpBuilder", "NotImplementedBuilder"})
_BUILDER_CALLS = "op-builder.calls"


def builder_of(qname: Optional[str]) -> Optional["tuple[str, str]"]:
    """(runtime owning the builder, class name) for a builder class's qualified name, else None:
    ``deepspeed.ops.op_builder.CPUAdamBuilder`` -> ("deepspeed", "CPUAdamBuilder")."""
    if qname is None or not qname.endswith("Builder"):
        return None
    for runtime, packages in capabilities.BUILDER_PACKAGES.items():
        for package in packages:
            if not qname.startswith(package + "."):
                continue
            parts = qname[len(package) + 1 :].split(".")
            name = parts[-1]
            if name in BASES or len(parts) > 2 or (len(parts) == 2 and parts[0] in BACKEND_PACKAGES):
                return None
            return runtime, name
    return None


def is_builder_import(qname: str) -> bool:
    """A builder class or a builder package (``deepspeed.ops.op_builder``): its import may go unused."""
    if builder_of(qname) is not None:
        return True
    return any(qname in packages for packages in capabilities.BUILDER_PACKAGES.values())


class OpBuilder(Rule):
    """Build ops through `get_accelerator().create_op_builder("XBuilder")`, not by constructing `XBuilder()`.

    ## What it does
    Rewrites `XBuilder()` — including `XBuilder().load()` and `XBuilder().is_compatible()` — where
    `XBuilder` is an op builder of the chosen runtime (`deepspeed.ops.op_builder`, or the in-tree
    `op_builder` package, with `--runtime deepspeed`; `accelport.kernels` with the default runtime), in
    any import form, to `get_accelerator().create_op_builder("XBuilder")`. The builder's import is
    removed when nothing else uses it. A builder of the other runtime is reported, not rewritten.

    ## Why is this bad?
    `deepspeed.ops.op_builder.XBuilder` is the CUDA build of the op; other backends keep their own
    builders (`deepspeed.ops.op_builder.cpu`, `hpu`, ...), which only the accelerator picks.
    `create_op_builder` returns `None` (DeepSpeed's CPU accelerator: a `NotImplementedBuilder` whose
    `load()` raises) where a backend has no builder of that name, so where the result is used directly
    (`.load()`) and the capability table lists a backend without the builder, a finding says so.

    ## Example
    ```python
    from deepspeed.ops.op_builder import CPUAdamBuilder

    cpu_adam = CPUAdamBuilder().load()
    ```

    ## Use instead
    ```python
    from deepspeed.accelerator import get_accelerator

    cpu_adam = get_accelerator().create_op_builder("CPUAdamBuilder").load()
    ```

    ## Fix safety
    Safe for the runtime that owns the builder: on CUDA, `create_op_builder("XBuilder")` constructs
    the same class. A builder constructed with arguments is reported, since `create_op_builder` takes
    none.
    """

    NAME = "op-builder"
    CODE = "AP112"
    TRIGGERS = ("Builder",)
    runtime: str = "accelport"

    def configured(self, settings) -> "OpBuilder":
        return for_runtime(type(self), settings.runtime)  # type: ignore[return-value]

    def visit_Call(self, ctx: Context, node: cst.Call) -> None:
        found = builder_of(ctx.qname(node.func))
        if found is None:
            return
        owner, name = found
        if owner != self.runtime:
            ctx.report(
                self,
                node,
                f"`{name}` is {owner}'s op builder, but this port's get_accelerator() comes from --runtime "
                f"{self.runtime}, whose create_op_builder returns other builders; port with --runtime {owner}, "
                "or keep the builder",
            )
            return
        if node.args:
            ctx.report(self, node, f"`{name}(...)` takes arguments, which create_op_builder cannot pass; build it by hand")
            return
        ctx.claim(node.func)
        ctx.notes.setdefault(_BUILDER_CALLS, {})[id(node)] = name  # type: ignore[index]

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        name = ctx.notes.get(_BUILDER_CALLS, {}).get(id(original))  # type: ignore[attr-defined]
        if name is None:
            return None
        return keep_parens(ctx.accel_call("create_op_builder", cst.Arg(cst.SimpleString(f'"{name}"'))), updated)

    def visit_Attribute(self, ctx: Context, node: cst.Attribute) -> None:
        """``XBuilder().load()``: the builder is used directly, which fails where a backend lacks it."""
        if not isinstance(node.value, cst.Call):
            return
        found = builder_of(ctx.qname(node.value.func))
        if found is None or found[0] != self.runtime or node.value.args:
            return
        lacking = capabilities.missing_builder(self.runtime, found[1])
        # DeepSpeed's stand-in answers is_compatible() with False: only other uses fail there.
        if lacking and not (self.runtime == "deepspeed" and node.attr.value == "is_compatible"):
            versions = " and ".join(dict.fromkeys(profile.version for profile, _ in lacking))
            backends = ", ".join(dict.fromkeys(backend for _, backend in lacking))
            returns = "a NotImplementedBuilder whose load() raises" if self.runtime == "deepspeed" else "None"
            ctx.report(
                self,
                node,
                f"`create_op_builder(\"{found[1]}\").{node.attr.value}`: {self.runtime} {versions} has no "
                f"{found[1]} on {backends} (create_op_builder returns {returns} there); check "
                "is_compatible() or fall back before using it",
            )

