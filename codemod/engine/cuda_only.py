"""What counts as CUDA-only under a guard (§11 of the porting rules).

A guard may become an accelerator question only where nothing it protects stays CUDA-only. Judged by
name where used: vendor libraries and compiled extension modules (``apex``, ``exllama_kernels``,
``from . import _C``), torch APIs that exist for CUDA alone (``torch.backends.cudnn``,
``torch.get_autocast_gpu_dtype``, ``torch.is_autocast_enabled()`` without a device) and custom
``torch.ops`` namespaces.

The module's own names need the whole file: an extension function bound at module level
(``gemm = ext.gemm``), a helper whose body calls one (``def ext_gemm(x): return gemm(x)``), a method
that does. The sparse parse stubs the defs that spell no trigger, so ``facts_of`` reads Python's ``ast``
of the file once, on the first guard that asks, and answers by name. Only what is CUDA-only whatever
the rules do counts there: a ``torch.cuda`` call in a helper may be ported, so it does not.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple, Union

from accelport.codemod.engine.statements import whole_file

# Libraries that exist only for NVIDIA GPUs (a root module name).
VENDOR_ROOTS = frozenset(
    {
        "apex", "amp_C", "triton", "flash_attn", "flash_attn_2_cuda", "bitsandbytes", "cupy", "pynvml",
        "nvidia", "pycuda", "xformers", "transformer_engine", "cutlass", "tensorrt", "torch_tensorrt",
        "nvtx", "mamba_ssm", "causal_conv1d", "selective_scan_cuda", "vllm", "flashinfer", "liger_kernel",
        "deep_gemm", "nccl", "exllama", "exllamav2", "awq_inference_engine", "sgl_kernel", "flash_mla",
        "deep_ep",
    }
)  # fmt: skip
# Words that name a CUDA extension module (``fused_adam_cuda``, ``from .csrc import cuda_kernels``).
CUDA_WORDS = re.compile(r"cuda|cudnn|cublas|nccl|nvtx|triton|cutlass|nvml", re.IGNORECASE)
# How compiled extension modules are named: ``_C``, ``exllama_kernels``, ``exllamav2_ext``, ``csrc``.
EXTENSION_PART = re.compile(r"^(_C|_ext|csrc)$|_(C|ext|kernels)$")
CUDA_ONLY_TORCH = (
    "torch.backends.cuda", "torch.backends.cudnn", "torch.version.cuda", "torch.utils.cpp_extension",
    "torch.cuda.amp.custom_fwd", "torch.cuda.amp.custom_bwd",
    # CUDA's autocast state under its old name ("gpu"); the CPU has its own (`get_autocast_cpu_dtype`).
    "torch.get_autocast_gpu_dtype", "torch.set_autocast_gpu_dtype",
    # Replicas on explicit device ids: with ids and no GPU it raises ("device type could not be determined").
    "torch.nn.parallel.data_parallel",
)  # fmt: skip
# Autocast functions that mean CUDA's when called in the old form, without a device type: the number of
# positional arguments of that form.
CUDA_WITHOUT_DEVICE = {"torch.is_autocast_enabled": 0, "torch.set_autocast_enabled": 1}
# torch.ops namespaces every backend has; any other is a project's or a library's custom kernel.
PORTABLE_OPS = frozenset({"aten", "prims", "quantized", "_c10d_functional", "c10d", "profiler", "torchvision"})


def module_reason(name: str) -> Optional[str]:
    """Why importing or using module ``name`` (dotted, any leading dots dropped) needs CUDA, or None."""
    parts = [part for part in name.split(".") if part]
    if not parts:
        return None
    if parts[0] in VENDOR_ROOTS:
        return f"the CUDA-only library `{parts[0]}`"
    if parts[0] == "torch":
        return None
    for part in parts:
        if CUDA_WORDS.search(part):
            return f"the CUDA extension `{name}`"
        if EXTENSION_PART.search(part):
            return f"the compiled extension `{name}`"
    return None


def qname_reason(qname: str) -> Optional[str]:
    """Why the qualified name is CUDA-only, or None (``torch.cuda`` names are ported or not by the rules)."""
    for api in CUDA_ONLY_TORCH:
        if qname == api or qname.startswith(api + "."):
            return f"`{qname}`"
    if qname.startswith("torch.accelerator."):
        # torch's own view: no accelerator at all (count 0, None) where the CPU accelerator counts one.
        return f"`{qname}`, which answers for a hardware accelerator (none on the CPU accelerator)"
    if qname.startswith("torch.ops."):
        namespace = qname.split(".")[2]
        return None if namespace in PORTABLE_OPS else f"the custom kernel `{qname}`"
    parts = qname.split(".")
    if "_C" in parts[1:] and parts[0] != "torch":
        return f"the compiled extension `{qname}`"
    if parts[0] == "torch":
        if parts[1:2] == ["cuda"]:
            return None
        found = next((part for part in parts[1:] if CUDA_WORDS.search(part)), None)
        return f"`{qname}`" if found else None
    return module_reason(qname)


def call_reason(qname: Optional[str], positional: int, keywords: bool) -> Optional[str]:
    """``torch.is_autocast_enabled()``: without a device type it asks about CUDA's autocast."""
    wanted = CUDA_WITHOUT_DEVICE.get(qname or "")
    if wanted is None or keywords or positional != wanted:
        return None
    return f"`{qname}()` without a device type, which means CUDA's autocast"


# -- the module's own names ---------------------------------------------------------------------
@dataclass
class Facts:
    """Module-level names and methods (``(class, method)``) that reach CUDA-only code, with the root
    reason; ``direct`` holds the names that are such code themselves (imports)."""

    names: Dict[str, str] = field(default_factory=dict)
    direct: Set[str] = field(default_factory=set)
    methods: Dict[Tuple[str, str], str] = field(default_factory=dict)

    def name_reason(self, name: str) -> Optional[str]:
        root = self.names.get(name)
        if root is None or name in self.direct:
            return root
        return f"`{name}`, which reaches {root}"

    def method_reason(self, cls: str, method: str) -> Optional[str]:
        root = self.methods.get((cls, method))
        return None if root is None else f"`self.{method}`, which reaches {root}"


EMPTY = Facts()
NOTE = "cuda-only-facts"
FuncNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
Key = Tuple[str, str]  # ("", name) for a module-level name, (class, name) for a method


@dataclass
class _Body:
    """A module-level function, method or assignment: what it reaches."""

    key: Key
    reason: Optional[str] = None  # CUDA-only by itself
    names: Set[str] = field(default_factory=set)  # Name loads
    methods: Set[str] = field(default_factory=set)  # `self.X` reads


def facts_of(ctx) -> Facts:
    """The module's facts, worked out on the first call for a file (``ctx``: codemod.context.Context)."""
    found = ctx.notes.get(NOTE)
    if found is None:
        found = ctx.notes[NOTE] = _facts_of_context(ctx)
    return found  # type: ignore[no-any-return]


def _facts_of_context(ctx) -> Facts:
    try:
        return analyse(whole_file(ctx.statements, ctx.module)[0].body)
    except (SyntaxError, ValueError, RecursionError):
        return EMPTY


def _module_level(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that run at module level: the top-level ones and those inside ``if``/``try``/``with``."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.If, ast.For, ast.While, ast.With, ast.Try)):
            yield from _module_level(stmt.body)
            yield from _module_level(getattr(stmt, "orelse", ()))
            for handler in getattr(stmt, "handlers", ()):
                yield from _module_level(handler.body)
            yield from _module_level(getattr(stmt, "finalbody", ()))


def _import_bindings(stmt: ast.stmt) -> Iterator[Tuple[str, str, str, bool]]:
    """(local name, what it names, what is imported, absolute) for each name an import binds:
    ``import a.b`` binds ``a`` to ``a`` and imports ``a.b``."""
    if isinstance(stmt, ast.Import):
        for alias in stmt.names:
            if alias.asname:
                yield alias.asname, alias.name, alias.name, True
            else:
                top = alias.name.split(".")[0]
                yield top, top, alias.name, True
    elif isinstance(stmt, ast.ImportFrom):
        module = stmt.module or ""
        for alias in stmt.names:
            if alias.name != "*":
                full = f"{module}.{alias.name}" if module else alias.name
                yield alias.asname or alias.name, full, full, not stmt.level


def _dotted(node: ast.AST) -> Optional[Tuple[str, str]]:
    """(root name, rest) of ``a.b.c``: ("a", "b.c"); None where the chain does not start at a name."""
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return node.id, ".".join(reversed(parts))


def _read(node: ast.AST, key: Key, imports: Dict[str, str]) -> _Body:
    """What ``node`` (a function, a method or an assigned value) reaches, in one walk."""
    body = _Body(key)
    for item in ast.walk(node):
        kind = type(item)
        if kind is ast.Name:
            if type(item.ctx) is ast.Load:  # type: ignore[attr-defined]
                body.names.add(item.id)  # type: ignore[attr-defined]
        elif kind is ast.Attribute:
            if body.reason is not None:
                continue
            value = item.value  # type: ignore[attr-defined]
            if isinstance(value, ast.Name) and value.id == "self":
                body.methods.add(item.attr)  # type: ignore[attr-defined]
                continue
            chain = _dotted(item)
            if chain is not None and chain[0] in imports:
                body.reason = _hard_reason(f"{imports[chain[0]]}.{chain[1]}")
        elif kind is ast.Call and body.reason is None:
            chain = _dotted(item.func)  # type: ignore[attr-defined]
            if chain is not None and chain[0] in imports:
                qname = f"{imports[chain[0]]}.{chain[1]}" if chain[1] else imports[chain[0]]
                body.reason = call_reason(qname, len(item.args), bool(item.keywords))  # type: ignore[attr-defined]
        elif (kind is ast.Import or kind is ast.ImportFrom) and body.reason is None:
            for _, _, imported, _ in _import_bindings(item):  # type: ignore[arg-type]
                body.reason = body.reason or module_reason(imported)
    return body


def _hard_reason(qname: str) -> Optional[str]:
    """``qname_reason``, less what a rule rewrites (``torch.cuda.amp.custom_fwd``): a helper's verdict
    must not change once the file is ported, or a second run would decide its guards otherwise."""
    if qname.startswith("torch.cuda."):
        return None
    return qname_reason(qname)


def analyse(body: List[ast.stmt]) -> Facts:
    facts = Facts()
    imports: Dict[str, str] = {}  # module-level absolute imports: local name -> dotted
    pending: List[Tuple[ast.AST, Key]] = []
    for stmt in _module_level(body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for local, named, imported, absolute in _import_bindings(stmt):
                if absolute:
                    imports[local] = named
                reason = module_reason(imported)
                if reason is not None:
                    facts.names[local] = reason
                    facts.direct.add(local)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            pending.append((stmt, ("", stmt.name)))
        elif isinstance(stmt, ast.ClassDef):
            for item in stmt.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    pending.append((item, (stmt.name, item.name)))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    pending.append((stmt.value, ("", target.id)))
    bodies = [_read(node, key, imports) for node, key in pending]
    # Until nothing changes: a helper that calls a helper that calls the extension.
    changed = True
    while changed:
        changed = False
        for item in bodies:
            cls, name = item.key
            if (facts.methods if cls else facts.names).get(item.key if cls else name) is not None:
                continue
            root = item.reason
            if root is None:
                root = next((facts.names[n] for n in item.names if n in facts.names), None)
            if root is None and cls:
                root = next((facts.methods[(cls, m)] for m in item.methods if (cls, m) in facts.methods), None)
            if root is not None:
                if cls:
                    facts.methods[(cls, name)] = root
                else:
                    facts.names[name] = root
                changed = True
    return facts
