"""Family 1 of the porting rules: the ``torch.cuda`` runtime namespace."""

from __future__ import annotations

from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import libcst as cst

from accelport.codemod.engine import count_questions, guards
from accelport.codemod.engine.context import Context
from accelport.rules import capabilities, torch_amp
from accelport.rules.base import Rule, for_runtime, keep_parens

CUDA = "torch.cuda"

# torch.cuda.X -> get_accelerator().X: the interface has a method or attribute of the same meaning.
SAME_NAME: FrozenSet[str] = frozenset(
    {
        "is_available", "device_count", "set_device", "synchronize", "device",
        "manual_seed", "manual_seed_all", "initial_seed", "seed", "seed_all",
        "get_rng_state", "set_rng_state",
        "empty_cache", "memory_allocated", "max_memory_allocated", "reset_max_memory_allocated",
        "memory_reserved", "max_memory_reserved", "memory_cached", "max_memory_cached",
        "reset_max_memory_cached", "memory_stats", "reset_peak_memory_stats",
        "is_bf16_supported", "stream", "current_stream", "default_stream", "lazy_call",
        "Stream", "Event", "current_device",
        "BFloat16Tensor", "ByteTensor", "DoubleTensor", "FloatTensor", "HalfTensor", "IntTensor", "LongTensor",
    }
)  # fmt: skip

# torch.cuda.<key> -> a different spelling: a tuple of steps, "name()" meaning a call.
RESHAPED: Dict[str, Tuple[str, ...]] = {
    "nvtx.range_push": ("range_push",),
    "nvtx.range_pop": ("range_pop",),
    # private in torch, yet what Megatron-style RNG trackers call; DeepSpeed's interface names it lazy_call
    "_lazy_call": ("lazy_call",),
}

# ``torch.cuda.amp`` members ported to ``torch.amp`` when called (or bare as decorators): see
# rules/torch_amp.py. Any other use of ``torch.cuda.amp`` is reported by unported-cuda-api.
AMP_PORTABLE: FrozenSet[str] = torch_amp.AMP_CALLS

# Submodules that re-export the same functions: torch.cuda.memory.empty_cache is torch.cuda.empty_cache.
SUBMODULES: Tuple[str, ...] = ("memory.", "random.", "streams.", "amp.autocast_mode.", "amp.grad_scaler.")


def normalise(qname: str) -> str:
    """``torch.cuda.memory.empty_cache`` -> ``torch.cuda.empty_cache``."""
    if not qname.startswith(CUDA + "."):
        return qname
    rest = qname[len(CUDA) + 1 :]
    for prefix in SUBMODULES:
        if rest.startswith(prefix):
            tail = rest[len(prefix) :]
            if prefix.startswith("amp."):
                return f"{CUDA}.amp.{tail}"
            return f"{CUDA}.{tail}"
    return qname


def port_of(qname: str) -> Optional[Tuple[Tuple[str, ...], Tuple[str, ...]]]:
    """(steps of the accelerator expression, attributes left over) for a ``torch.cuda`` name, or None."""
    qname = normalise(qname)
    if not qname.startswith(CUDA + "."):
        return None
    parts = tuple(qname[len(CUDA) + 1 :].split("."))
    for size in range(len(parts), 0, -1):
        key = ".".join(parts[:size])
        if key in RESHAPED:
            return RESHAPED[key], parts[size:]
        if size == 1 and key in SAME_NAME:
            return (key,), parts[1:]
    return None


# Members that every backend's stream and event objects have (accelerator_runtime/abstract.py, cpu_parts.py).
STREAM_MEMBERS = frozenset({"synchronize", "query", "wait_stream", "wait_event", "record_event", "device", "priority"})
EVENT_MEMBERS = frozenset({"record", "query", "synchronize", "wait", "elapsed_time"})
# torch.cuda names whose result (or the class itself) is a stream or an event.
OBJECT_MEMBERS: Dict[str, FrozenSet[str]] = {
    "current_stream": STREAM_MEMBERS, "default_stream": STREAM_MEMBERS, "Stream": STREAM_MEMBERS,
    "Event": EVENT_MEMBERS,
}  # fmt: skip
ANNOTATIONS = "torch-cuda-call.annotations"
LACKING = "torch-cuda-call.lacking"


def _lacks(what: str, kind: str, member: str) -> str:
    kind = "event" if kind == "Event" else "stream"
    return (f"`{what}`: the accelerator's {kind} has no `{member}` (CUDA only); left as written: use it only under "
            "`if get_accelerator().device_name() == 'cuda':`")


# torch.cuda functions whose device parameter the interface (and DeepSpeed's) calls ``device_index``:
# ``torch.cuda.synchronize(device=d)`` ported keyword for keyword raises TypeError on every backend.
DEVICE_INDEX_KEYWORD: FrozenSet[str] = frozenset(
    {
        "synchronize", "set_device", "device", "current_stream", "default_stream", "get_rng_state",
        "set_rng_state", "memory_allocated", "max_memory_allocated", "reset_max_memory_allocated",
        "memory_reserved", "max_memory_reserved", "memory_cached", "max_memory_cached",
        "reset_max_memory_cached", "memory_stats", "reset_peak_memory_stats",
    }
)  # fmt: skip


def _has_device_keyword(ctx: Context, node: cst.Call) -> bool:
    """A call of a torch.cuda function the interface names ``device_index``, with ``device=`` given."""
    if not any(arg.keyword is not None and arg.keyword.value == "device" for arg in node.args):
        return False
    found = port_of(cuda_chain(ctx, node.func) or "")
    return found is not None and found[1] == () and found[0][0] in DEVICE_INDEX_KEYWORD


def _device_index_args(args: Sequence[cst.Arg]) -> List[cst.Arg]:
    return [arg.with_changes(keyword=cst.Name("device_index"))
            if arg.keyword is not None and arg.keyword.value == "device" else arg for arg in args]  # fmt: skip


def _is_available_call(ctx: Context, node: cst.Call) -> bool:
    return not node.args and ctx.qname(node.func) == guards.AVAILABLE


def build(ctx: Context, steps: Tuple[str, ...], rest: Tuple[str, ...]) -> cst.BaseExpression:
    expr: cst.BaseExpression = ctx.accel()
    for step in (*steps, *rest):
        if step.endswith("()"):
            expr = cst.Call(func=cst.Attribute(value=expr, attr=cst.Name(step[:-2])))
        else:
            expr = cst.Attribute(value=expr, attr=cst.Name(step))
    return expr


# ctx.notes key: id(call or decorator) -> the amp member (or "Event") this rule ports there.
_AMP_SITES = "torch-cuda-call.amp-sites"


def cuda_chain(ctx: Context, node: cst.CSTNode) -> Optional[str]:
    """The qualified name of a whole dotted chain that spells a ``torch.cuda`` name, else None."""
    if not ctx.is_chain_top(node) or id(node) in ctx.store_targets:
        return None
    qname = ctx.qname(node)
    if qname is None or not (qname == CUDA or qname.startswith(CUDA + ".")):
        return None
    return qname


class TorchCudaCall(guards.GuardHooks, Rule):
    """Rewrite `torch.cuda.X` to `get_accelerator().X` where the runtime has the same operation.

    ## What it does
    Replaces uses of the `torch.cuda` namespace (`synchronize`, `manual_seed`, `memory_allocated`,
    `Stream`, `Event`, typed tensors, `nvtx.range_push`, `with torch.cuda.device(i)` and more) with the
    method of the same meaning on the accelerator handle. Mixed precision goes to `torch.amp` with the
    accelerator's device name: `torch.cuda.amp.autocast(...)` becomes
    `torch.amp.autocast(get_accelerator().device_name(), ...)`, `GradScaler(...)` likewise, and
    `custom_fwd`/`custom_bwd` (called or bare decorators) get `device_type=get_accelerator().device_name()`.
    Where `torch.cuda.amp` is what an older torch falls back to (in an `except AttributeError/ImportError`
    after a `torch.amp` probe, or under a check of the torch version) it is left and reported: ported, it
    would fail on that older torch, CUDA included.
    Names are matched by what they refer to, so `import torch as th`, `from torch import cuda` and
    `from torch.cuda.amp import autocast` are found.

    The chosen runtime's capability table (docs/targets.md) is consulted: with `--runtime deepspeed`,
    `torch.cuda.Event(...)` becomes `make_event(get_accelerator(), ...)` from
    `accelport.accelerator_runtime.events` (DeepSpeed's CPU `Event` is `None`), and what DeepSpeed's
    accelerator lacks or means differently (`with torch.cuda.device(i)`, `seed()`) is left and reported.

    `torch.cuda.is_available()` is a question, "am I on CUDA?", and the accelerator's
    `is_available()` is true on the CPU too. It becomes `get_accelerator().is_available()` only as a
    guard (`if`/`elif`, `while`, `assert`, a conditional expression, `if not ...: return`) whose
    protected code is all ported or portable, or as a `non_blocking=`/`pin_memory=` argument; where the
    protected code stays CUDA-only, or the value goes where it cannot be followed (assigned, returned,
    passed on), it becomes the CUDA question `get_accelerator().device_name() == "cuda"`, which answers
    exactly as before on every machine. See "Guards" at the top of this page.

    `torch.cuda.device_count()` is a number and is ported as one (`range(...)`, `nprocs=`, arithmetic).
    Compared with a number it is a question too: `== 0` asks "no GPU?", `> 1` "several?", and the
    accelerator's count is 1 on the CPU. In a guard it is ported only where the side a count of 0 does
    not take is all ported or portable; where that side stays CUDA-only, where it decides a test skip
    (`skipUnless(torch.cuda.device_count() == 1)`, `if torch.cuda.device_count() < 2: pytest.skip()`), or
    where a comparison that tells 0 from 1 is used as a value, `torch.cuda.device_count()` is left as
    written (0 off CUDA, so it asks the original question everywhere) and reported. A test skip is
    CUDA's decision for `is_available()` too: `if not torch.cuda.is_available(): self.skipTest(...)`
    keeps asking about CUDA, so the test does not start running on the CPU. In the last `else` of a
    chain that already asks about other backends (`elif is_xpu_available(): ... else:
    torch.cuda.device_count()`) the count is left as written and reported: there it means CUDA devices.

    Left as written and reported: a `torch.cuda` type in an annotation (an annotation must stay a
    type, not a call: use `torch.Stream`, `torch.Event`, `torch.amp.GradScaler`, `torch.Tensor`, or a
    string; the same in `.pyi` stubs), and a stream or event member the accelerator's objects do not
    have (`torch.cuda.current_stream().cuda_stream`, `torch.cuda.Stream.priority_range()`,
    `.stream_id`: the whole expression stays CUDA's). Members checked against the runtime's stream and
    event (`synchronize`, `query`, `wait_stream`, `wait_event`, `record_event`, `record`, `wait`,
    `elapsed_time`, `device`, `priority`); a stream stored in a variable is not followed.

    ## Why is this bad?
    `torch.cuda.*` fails or does nothing useful on CPU, XPU, HPU, NPU and MPS devices; `torch.cuda.amp`
    is deprecated, and DeepSpeed's accelerators no longer have `amp()`.

    ## Example
    ```python
    torch.cuda.synchronize()
    with torch.cuda.amp.autocast():
        loss = model(x)
    ```

    ## Use instead
    ```python
    get_accelerator().synchronize()
    with torch.amp.autocast(get_accelerator().device_name()):
        loss = model(x)
    ```

    ## Fix safety
    Safe: on CUDA every method calls the same `torch.cuda` function, and a guard answers as before;
    elsewhere a guard answers True only where the code it protects runs there.
    `torch.amp.autocast("cuda")` and `torch.amp.GradScaler("cuda")` are what the deprecated
    `torch.cuda.amp` classes construct (a check `isinstance(s, torch.cuda.amp.GradScaler)` no longer
    matches). The output needs torch 2.3 for `torch.amp.GradScaler` and 2.4 for
    `torch.amp.custom_fwd(device_type=...)`.
    """

    NAME = "torch-cuda-call"
    CODE = "AP101"
    TRIGGERS = ("cuda",)
    runtime: str = "accelport"

    def configured(self, settings) -> "TorchCudaCall":
        return for_runtime(type(self), settings.runtime)  # type: ignore[return-value]

    def _port(self, ctx: Context, original: cst.BaseExpression, updated: cst.BaseExpression):
        qname = cuda_chain(ctx, original)
        if qname is None:
            return None
        found = port_of(qname)
        if found is None:
            return None
        if ctx.notes.get(ANNOTATIONS):
            ctx.report(self, original, f"`{qname}` in a type annotation: left as written (a call is not a type); "
                       "annotate with the device-generic type (torch.Stream, torch.Event, torch.amp.GradScaler, "
                       "torch.Tensor) or write the CUDA type as a string")
            return None
        steps, rest = found
        if steps == ("is_available",):
            # Called, it is ported whole (leave_Call); a reference would later answer True on the CPU.
            ctx.report(self, original, "`torch.cuda.is_available` passed on uncalled: its accelerator form answers True "
                       "on the CPU; pass `lambda: get_accelerator().device_name() == 'cuda'` or port by hand")
            return None
        members = OBJECT_MEMBERS.get(steps[0])
        if rest and members is not None and rest[0] not in members:
            ctx.report(self, original, _lacks(qname, steps[0], rest[0]))
            return None
        refusal = capabilities.refused(self.runtime, found[0][0].rstrip("()"))
        if refusal is not None:
            ctx.report(self, original, f"`{normalise(qname)}` is not ported for --runtime {self.runtime}: {refusal}")
            return None
        replacement = keep_parens(build(ctx, *found), updated)
        if found == (("device_count",), ()):
            return self._count(ctx, original, updated, replacement)
        return replacement

    def _count(self, ctx: Context, original: cst.CSTNode, updated: cst.CSTNode, replacement: cst.CSTNode):
        """``torch.cuda.device_count``: ported as a number; as a question about GPUs only where what it
        decides runs on any backend (codemod/engine/count_questions.py)."""
        kind, text = count_questions.kind_of(ctx, original)
        if kind not in (count_questions.SKIP, count_questions.CHAIN) and guards.is_guard_atom(ctx, original):
            return guards.propose(ctx, self, original, updated, replacement, f"`{text or ctx.code(original).strip() + '()'}`")
        if kind:
            ctx.report(self, original, count_questions.left_message(kind, text))
            return None
        return replacement

    # -- torch.cuda.amp -> torch.amp, torch.cuda.Event under DeepSpeed -------------------------
    def _visit_amp_call(self, ctx: Context, node: cst.Call) -> None:
        member = torch_amp.amp_member(ctx.qname(node.func))
        if member is not None:
            message = torch_amp.not_ported(ctx, member, node.args)
            if message is None:
                ctx.claim(node.func)
                ctx.notes.setdefault(_AMP_SITES, {})[id(node)] = member  # type: ignore[index]
            else:
                ctx.report(self, node, message)
            return
        if self.runtime != "accelport" and normalise(ctx.qname(node.func) or "") == f"{CUDA}.Event":
            if torch_amp.event_helper_usable(ctx):
                ctx.claim(node.func)
                ctx.notes.setdefault(_AMP_SITES, {})[id(node)] = "Event"  # type: ignore[index]

    def _leave_amp_call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        member = ctx.notes.get(_AMP_SITES, {}).get(id(original))  # type: ignore[attr-defined]
        if member is None:
            return None
        if member == "Event":
            return keep_parens(torch_amp.port_event_call(ctx, updated), updated)
        return keep_parens(torch_amp.port_amp_call(ctx, member, updated), updated)

    def visit_Decorator(self, ctx: Context, node: cst.Decorator) -> None:
        member = torch_amp.amp_member(ctx.qname(node.decorator))
        if member in torch_amp.DECORATORS and not isinstance(node.decorator, cst.Call):
            message = torch_amp.not_ported(ctx, member, (), decorator=True)
            if message is None:
                ctx.claim(node.decorator)
                ctx.notes.setdefault(_AMP_SITES, {})[id(node)] = member  # type: ignore[index]
            else:
                ctx.report(self, node.decorator, message)

    def leave_Decorator(self, ctx: Context, original: cst.Decorator, updated: cst.Decorator):
        member = ctx.notes.get(_AMP_SITES, {}).get(id(original))  # type: ignore[attr-defined]
        if member is None:
            return None
        return updated.with_changes(decorator=torch_amp.port_amp_decorator(ctx, member))

    def leave_Attribute(self, ctx: Context, original: cst.Attribute, updated: cst.Attribute):
        call = self._properties_call(ctx, original)
        if call is not None:
            args = updated.value.args  # type: ignore[attr-defined]
            return keep_parens(ctx.accel_call("total_memory", *args), updated)
        if id(original) in ctx.notes.get(LACKING, ()):  # type: ignore[operator]
            qname = normalise(ctx.qname(original.value.func) or "")  # type: ignore[attr-defined]
            ctx.report(self, original, _lacks(f"{qname}(...).{original.attr.value}", qname.rsplit(".", 1)[-1],
                                              original.attr.value))
            return None
        return self._port(ctx, original, updated)

    def leave_Name(self, ctx: Context, original: cst.Name, updated: cst.Name):
        return self._port(ctx, original, updated)

    # -- questions and annotations ---------------------------------------------------------
    def visit_Call(self, ctx: Context, node: cst.Call) -> None:
        super().visit_Call(ctx, node)
        count_questions.enter_call(ctx, node)
        if _is_available_call(ctx, node) or _has_device_keyword(ctx, node):
            ctx.claim(node.func)
        else:
            self._visit_amp_call(ctx, node)

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        if not _is_available_call(ctx, original):
            if _has_device_keyword(ctx, original):
                # Ported whole: the function's name and its ``device=`` keyword together.
                func = self._port(ctx, original.func, updated.func)
                return None if func is None else updated.with_changes(func=func, args=_device_index_args(updated.args))
            return self._leave_amp_call(ctx, original, updated)
        replacement = keep_parens(ctx.accel_call("is_available"), updated)
        return guards.available_value(ctx, original, replacement)

    def visit_If(self, ctx: Context, node: cst.If) -> None:
        super().visit_If(ctx, node)
        count_questions.enter_if(ctx, node)
        if torch_amp.is_version_check(node.test):
            ctx.notes[torch_amp.IN_VERSION_BRANCH] = ctx.notes.get(torch_amp.IN_VERSION_BRANCH, 0) + 1  # type: ignore[operator]

    def leave_If(self, ctx: Context, original: cst.If, updated: cst.If) -> None:
        super().leave_If(ctx, original, updated)
        if torch_amp.is_version_check(original.test):
            ctx.notes[torch_amp.IN_VERSION_BRANCH] = ctx.notes.get(torch_amp.IN_VERSION_BRANCH, 1) - 1  # type: ignore[operator]

    def visit_Comparison(self, ctx: Context, node: cst.Comparison) -> None:
        super().visit_Comparison(ctx, node)
        count_questions.enter_comparison(ctx, node)

    def visit_ExceptHandler(self, ctx: Context, node: cst.ExceptHandler) -> None:
        if torch_amp.is_version_fallback(node):
            ctx.notes[torch_amp.IN_FALLBACK] = ctx.notes.get(torch_amp.IN_FALLBACK, 0) + 1  # type: ignore[operator]

    def leave_ExceptHandler(self, ctx: Context, original: cst.ExceptHandler, updated: cst.ExceptHandler) -> None:
        if torch_amp.is_version_fallback(original):
            ctx.notes[torch_amp.IN_FALLBACK] = ctx.notes.get(torch_amp.IN_FALLBACK, 1) - 1  # type: ignore[operator]

    def visit_Annotation(self, ctx: Context, node: cst.Annotation) -> None:
        ctx.notes[ANNOTATIONS] = ctx.notes.get(ANNOTATIONS, 0) + 1  # type: ignore[operator]

    def leave_Annotation(self, ctx: Context, original: cst.Annotation, updated: cst.Annotation) -> None:
        ctx.notes[ANNOTATIONS] = ctx.notes.get(ANNOTATIONS, 1) - 1  # type: ignore[operator]

    # -- reshaped expressions ------------------------------------------------------------
    def visit_Subscript(self, ctx: Context, node: cst.Subscript) -> None:
        if self._generator_index(ctx, node) is not None:
            ctx.claim(node.value)

    def leave_Subscript(self, ctx: Context, original: cst.Subscript, updated: cst.Subscript):
        index = self._generator_index(ctx, original)
        if index is None:
            return None
        new_index = updated.slice[0].slice.value  # type: ignore[attr-defined]
        return keep_parens(ctx.accel_call("default_generator", cst.Arg(new_index)), updated)

    @staticmethod
    def _generator_index(ctx: Context, node: cst.Subscript) -> Optional[cst.BaseExpression]:
        """``torch.cuda.default_generators[i]`` -> ``i``."""
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
            return None
        if ctx.qname(node.value) != f"{CUDA}.default_generators":
            return None
        return node.slice[0].slice.value

    def visit_Attribute(self, ctx: Context, node: cst.Attribute) -> None:
        if self._properties_call(ctx, node) is not None:
            ctx.claim(node.value)
            return
        value = node.value
        if isinstance(value, cst.Call) and ctx.is_chain_top(node):
            qname = ctx.qname(value.func)
            members = OBJECT_MEMBERS.get(normalise(qname)[len(CUDA) + 1 :]) if qname and qname.startswith(CUDA + ".") else None
            if members is not None and node.attr.value not in members:
                # `torch.cuda.current_stream().cuda_stream`: the whole expression stays CUDA's.
                ctx.claim(value.func)
                ctx.notes.setdefault(LACKING, set()).add(id(node))  # type: ignore[union-attr]

    @staticmethod
    def _properties_call(ctx: Context, node: cst.Attribute) -> Optional[cst.Call]:
        """``torch.cuda.get_device_properties(i).total_memory`` -> the inner call."""
        if node.attr.value != "total_memory" or not isinstance(node.value, cst.Call):
            return None
        if ctx.qname(node.value.func) != f"{CUDA}.get_device_properties":
            return None
        return node.value

