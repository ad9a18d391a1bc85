"""Strings that are code: ``"torch.cuda..."`` names that the program imports, patches or compares."""

from __future__ import annotations

import re
from typing import Dict

import libcst as cst

from accelport.codemod.engine.context import Context
from accelport.rules.base import Rule
from accelport.rules.cuda_leftover import func_name
from accelport.rules.torch_cuda_call import port_of

_NOTE = "cuda-code-string"
_DOTTED = re.compile(r"torch\.cuda(\.[A-Za-z_]\w*)*")
# Calls whose string argument names a module to import.
_IMPORTERS = frozenset({"importorskip", "import_module", "__import__", "find_spec", "find_module"})
# Calls whose string argument names an attribute to replace.
_PATCHERS = frozenset({"patch", "setattr", "delattr"})

ADVICE = {
    "type": (
        "`{value}` is a CUDA tensor type name (what `t.type()` returns on CUDA), which no tensor on another "
        "backend matches; compare `t.dtype` (and `get_accelerator().on_accelerator(t)` where the device "
        "matters), and for `t.type(name)` write `t.to(get_accelerator().device_name(), <dtype>)`"
    ),
    "import": (
        "`{value}`: imports a CUDA-only module; import the portable one where there is one (`torch.amp` "
        "for `torch.cuda.amp`), or skip the test or branch unless `get_accelerator().device_name() == 'cuda'`"
    ),
    "patch": (
        "`{value}`: patches a function the ported code no longer calls (it calls the accelerator); patch "
        "the accelerator instead: `mock.patch.object(get_accelerator(), {attr!r})`"
    ),
    "patch-unported": (
        "`{value}`: patches a CUDA-only function; the patch only matters where the code still calls it "
        "(under a CUDA-only branch): keep both in step"
    ),
    "name": (
        "`{value}`: the string names a CUDA-only API as code (not prose); port what uses it by hand, "
        "or use it only under `if get_accelerator().device_name() == 'cuda':`"
    ),
}


def _role(ctx: Context) -> Dict[int, str]:
    return ctx.notes.setdefault(_NOTE, {})  # type: ignore[return-value]


class CudaCodeString(Rule):
    """Report strings that name `torch.cuda` APIs as code: type names, imports, patch targets.

    ## What it does
    Finds string literals that spell a `torch.cuda` name and are used as code rather than prose:
    `t.type() == "torch.cuda.HalfTensor"` and `t.type("torch.cuda.FloatTensor")` (CUDA tensor type
    names), `pytest.importorskip("torch.cuda.amp")` and `importlib.import_module("torch.cuda.nccl")`
    (imports of CUDA-only modules), `mock.patch("torch.cuda.is_available", ...)` (patches of functions
    the port replaces). Each finding says what to write instead. Docstrings are left alone.

    ## Why is this bad?
    No rule can rewrite a name inside a string, and each of these silently changes meaning after the
    port: the type name never matches a tensor on another backend, the import fails there, and the
    patch no longer reaches the code, which now calls the accelerator.

    ## Example
    ```python
    if grad.type() == "torch.cuda.HalfTensor":
        grad = grad.float()
    ```

    ## Use instead
    ```python
    if grad.dtype == torch.float16:
        grad = grad.float()
    ```

    ## Fix safety
    No fix: reported only.
    """

    NAME = "cuda-code-string"
    CODE = "AP115"
    FIXES = False
    TRIGGERS = ("torch.cuda",)

    def visit_Call(self, ctx: Context, node: cst.Call) -> None:
        name = func_name(node.func)
        role = None
        if name in _IMPORTERS:
            role = "import"
        elif name in _PATCHERS:
            role = "patch"
        elif name == "type":
            role = "type"
        if role is not None and node.args:
            _role(ctx)[id(node.args[0].value)] = role

    def visit_Comparison(self, ctx: Context, node: cst.Comparison) -> None:
        roles = _role(ctx)
        for operand in (node.left, *(c.comparator for c in node.comparisons)):
            if isinstance(operand, (cst.Tuple, cst.List, cst.Set)):
                for element in operand.elements:
                    roles[id(element.value)] = "type"
            else:
                roles[id(operand)] = "type"

    def visit_Expr(self, ctx: Context, node: cst.Expr) -> None:
        if isinstance(node.value, cst.SimpleString):
            _role(ctx)[id(node.value)] = "prose"  # a docstring

    def visit_SimpleString(self, ctx: Context, node: cst.SimpleString) -> None:
        if "torch.cuda" not in node.value or "b" in node.prefix.lower():
            return
        value = node.raw_value
        if not value.startswith("torch.cuda") or not _DOTTED.fullmatch(value):
            return
        role = _role(ctx).get(id(node))
        if role == "prose":
            return
        if role is None:
            role = "type" if value.endswith("Tensor") else "name"
        attr = value.rsplit(".", 1)[-1]
        if role == "patch":
            found = port_of(value)
            if found is None:
                role = "patch-unported"
            elif found != ((attr,), ()):
                role = "name"
        ctx.report(self, node, ADVICE[role].format(value=value, attr=attr))
