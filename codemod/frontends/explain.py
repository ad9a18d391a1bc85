"""``accelport explain NAME``: what accelport does with an API, a device string or a rule, and why.

Everything printed comes from the tables the rules themselves use, so it cannot drift from what
``rewrite`` does: ``rules/torch_cuda_call.py`` (``SAME_NAME``, ``RESHAPED``, ``port_of``),
``rules/unported_cuda_api.py`` (``ADVICE``), ``rules/capabilities.py`` (what each runtime lacks),
``rules/torch_native.py`` (``TORCH_NATIVE`` and
``FALLBACK``, what ``--target torch`` emits) and the rules' docstrings. ``explain`` never reads a
project's configuration, so ``[tool.accelport.mappings]`` entries are not known to it.
"""

from __future__ import annotations

import difflib
import re
from typing import List, Optional, Tuple

from accelport.rules import capabilities, registry
from accelport.rules.torch_amp import amp_member
from accelport.rules.torch_cuda_call import AMP_PORTABLE, CUDA, RESHAPED, SAME_NAME, normalise, port_of
from accelport.rules.unported_cuda_api import ADVICE, CUDA_ENV, GENERIC, MODULE_ADVICE, OTHER_CUDA_ONLY, _advice

try:  # The ``--target torch`` tables (docs/targets.md).
    from accelport.rules.torch_native import FALLBACK, TORCH_NATIVE
except ImportError:  # pragma: no cover - the hook for a build without rules/torch_native.py
    TORCH_NATIVE, FALLBACK = {}, {}

A = "get_accelerator()"


class UnknownName(LookupError):
    """``NAME`` is neither an API accelport knows nor a rule; the message suggests close matches."""


# Spellings that are not ``torch.cuda`` names: method and attribute patterns, strings, classes.
PATTERNS = {
    ".cuda()": (
        "tensor-cuda-method",
        "x.cuda() -> x.to(get_accelerator().device_name()); x.cuda(i) -> x.to(get_accelerator().device_name(i)); "
        "non_blocking= is kept",
        "device_name",
    ),
    ".is_cuda": ("tensor-is-cuda", "x.is_cuda -> get_accelerator().on_accelerator(x)", "on_accelerator"),
    ".pin_memory()": ("tensor-pin-memory", "x.pin_memory() -> get_accelerator().pin_memory(x)", "pin_memory"),
    "nccl": (
        "nccl-backend",
        "'nccl' as a process-group backend -> get_accelerator().communication_backend_name()",
        "communication_backend_name",
    ),
    "DistributedDataParallel": (
        "ddp-device-ids",
        "device_ids=[i] / output_device=i are kept on accelerators and become None on CPU, where DDP needs None",
        None,
    ),
    ".half()": ("hardcoded-half", "reported only (advisory, off by default): some accelerators prefer bf16", None),
}
ALIASES = {
    "cuda()": ".cuda()", "x.cuda()": ".cuda()", ".cuda": ".cuda()", "Tensor.cuda": ".cuda()", "torch.Tensor.cuda": ".cuda()",
    "is_cuda": ".is_cuda", "x.is_cuda": ".is_cuda", "Tensor.is_cuda": ".is_cuda", "torch.Tensor.is_cuda": ".is_cuda",
    "pin_memory": ".pin_memory()", "pin_memory()": ".pin_memory()", "x.pin_memory()": ".pin_memory()",
    "Tensor.pin_memory": ".pin_memory()", "torch.Tensor.pin_memory": ".pin_memory()",
    "'nccl'": "nccl", '"nccl"': "nccl",
    "DDP": "DistributedDataParallel", "torch.nn.parallel.DistributedDataParallel": "DistributedDataParallel",
    "half": ".half()", "half()": ".half()", "x.half()": ".half()", "torch.float16": ".half()",
}  # fmt: skip
_DEVICE_STRING = re.compile(r"cuda(:(\d+))?")


def _torch_native(method: Optional[str]) -> List[str]:
    if method is None:
        return []
    if not TORCH_NATIVE and not FALLBACK:
        return ["with --target torch: (no rules/torch_native.py table in this build; TODO hook)"]
    if method in TORCH_NATIVE:
        native = TORCH_NATIVE[method]
        return [f"with --target torch: {native.target}(...) ({native.note})"]
    if method in FALLBACK:
        return [f"with --target torch: stays {A}.{method}, because {FALLBACK[method]}"]
    return ["with --target torch: stays a get_accelerator() call (no exact PyTorch-native spelling)"]


AMP_FORMS = {
    "autocast": "torch.amp.autocast(get_accelerator().device_name(), ...) (positional enabled, dtype, cache_enabled become keywords)",
    "GradScaler": "torch.amp.GradScaler(get_accelerator().device_name(), ...) (needs torch 2.3)",
    "custom_fwd": "torch.amp.custom_fwd(device_type=get_accelerator().device_name(), ...), bare decorators too (needs torch 2.4)",
    "custom_bwd": "torch.amp.custom_bwd(device_type=get_accelerator().device_name(), ...), bare decorators too (needs torch 2.4)",
}


def _capabilities(method: Optional[str]) -> List[str]:
    """What each runtime's capability table says about ``method`` (docs/targets.md)."""
    if method is None:
        return []
    out = []
    for runtime in ("accelport", "deepspeed"):
        refusal = capabilities.refused(runtime, method)
        if refusal is not None:
            out.append(f"with --runtime {runtime}: left and reported: {refusal}")
            continue
        caveat = capabilities.caveat(runtime, method)
        if caveat is not None:
            out.append(f"with --runtime {runtime}: ported with a caveat finding: {caveat}")
    return out


def _rule_line(name: str) -> str:
    rule = registry.BY_NAME[name]
    return f"rule: {rule.NAME} ({rule.CODE}){'' if rule.DEFAULT else ', off by default'}: {rule.summary()}"


def _spelled(steps: Tuple[str, ...], rest: Tuple[str, ...]) -> str:
    return ".".join((A, *steps, *rest))


def explain_cuda(qname: str) -> List[str]:
    """Lines for a ``torch.cuda`` name (or one of the other CUDA-only APIs)."""
    name = normalise(qname)
    out = [name if name == qname else f"{qname} (the same function as {name})"]
    if name == f"{CUDA}.current_device":
        out += [
            _rule_line("current-device"),
            "returns an int, which PyTorch reads as a CUDA device, so the port depends on the use: where a device "
            f"is expected it becomes {A}.current_device_name(); where an int is expected (set_device, "
            f"arithmetic, device_ids) {A}.current_device(); a use that cannot be followed is ported as an "
            "index and reported",
            f"runtime methods: {A}.current_device() (index), {A}.current_device_name() (device)",
        ]
        return out + _torch_native("current_device") + _torch_native("current_device_name")
    member = amp_member(name)
    if member is not None:
        return out + [
            _rule_line("torch-cuda-call"),
            f"a call is rewritten to {AMP_FORMS[member]}: torch.cuda.amp is deprecated and DeepSpeed's accelerators "
            "no longer have amp(); the same form is written for every runtime and target",
            "any other use (a reference, an annotation) is reported by unported-cuda-api",
        ]
    event = [
        "with --runtime deepspeed: a call becomes make_event(get_accelerator(), ...) from "
        "accelport.accelerator_runtime.events, which is torch.cuda.Event on CUDA and a host-clock event where "
        "the accelerator has none (DeepSpeed's CPU Event is None)"
    ] if name == f"{CUDA}.Event" else []
    found = port_of(name)
    if found is not None:
        steps, rest = found
        method = steps[0].rstrip("()")
        how = "the same operation under the same name" if (steps[0] in SAME_NAME and not rest) else "it under another spelling"
        out += [
            _rule_line("torch-cuda-call"),
            f"rewritten to {_spelled(steps, rest)}: the accelerator interface has {how}, and on CUDA it calls "
            f"{name} itself; on other backends it calls that backend's equivalent",
            f"runtime method: {A}.{method}",
        ]
        return out + event + _capabilities(method) + _torch_native(method)
    advice = _advice(name) if name != CUDA_ENV else ADVICE[CUDA_ENV]
    out += [
        _rule_line("unported-cuda-api"),
        "never rewritten: no accelerator-agnostic call keeps its meaning, so it is reported for a person",
        f"what to do: {advice}",
    ]
    shapes = {
        f"{CUDA}.get_device_properties": f"torch.cuda.get_device_properties(i).total_memory -> {A}.total_memory(i)",
        f"{CUDA}.default_generators": f"torch.cuda.default_generators[i] -> {A}.default_generator(i)",
    }
    if name in shapes:
        out.append(f"one shape is ported (torch-cuda-call): {shapes[name]}")
    if name.startswith(f"{CUDA}.amp."):
        out.append(f"members of torch.cuda.amp ported when called: {', '.join(sorted(AMP_PORTABLE))}")
    out.append("with --target torch: reported the same way (no rewrite to target)")
    return out


def explain_rule(name: str) -> List[str]:
    rule = registry.BY_NAME[name]
    kind = "rewrites" if rule.FIXES else "reports only"
    head = f"{rule.NAME} ({rule.CODE}), {kind}{'' if rule.DEFAULT else ', off by default (--select it)'}"
    return [head, "", *plain(rule.doc()).splitlines()]


def plain(doc: str) -> str:
    """A rule docstring as plain text: headings without ``##``, code fences indented, backticks dropped."""
    out: List[str] = []
    fenced = False
    for line in doc.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            out.append("    " + line)
        elif line.startswith("## "):
            out.append(line[3:].rstrip(":?").upper() if line[3:].strip() else "")
        else:
            out.append(line.replace("`", ""))
    return "\n".join(out).strip("\n")


def explain_device_string(text: str, index: Optional[str]) -> List[str]:
    target = f"{A}.device_name({index})" if index is not None else f"{A}.device_name()"
    return [
        f"'{text}'",
        _rule_line("cuda-device-string"),
        f"in a device context (.to(_), torch.device(_), device=, map_location=, device_type=, comparisons with "
        f"a .device, assignments to *device names) it becomes {target}; elsewhere (docstrings, log messages, "
        "comments) it is left alone",
        f"runtime method: {A}.device_name",
        *_torch_native("device_name"),
    ]


def _vocabulary() -> List[str]:
    names = [f"{CUDA}.{n}" for n in SAME_NAME] + [f"{CUDA}.{k}" for k in RESHAPED] + [f"{CUDA}.amp.{m}" for m in AMP_PORTABLE]
    names += list(ADVICE) + list(OTHER_CUDA_ONLY) + list(PATTERNS) + list(ALIASES) + ["cuda", "cuda:0"]
    names += list(registry.BY_NAME) + list(registry.BY_CODE)
    return sorted(set(names))


def _cuda_name(name: str) -> Optional[str]:
    """A known qualified name for ``name``: itself, or ``torch.cuda.`` + it (``synchronize``, ``cuda.synchronize``)."""
    known = {f"{CUDA}.{n}" for n in SAME_NAME} | {f"{CUDA}.{k}" for k in RESHAPED} | set(ADVICE) | set(OTHER_CUDA_ONLY)
    known |= {f"{CUDA}.amp.{m}" for m in AMP_PORTABLE}
    for candidate in (name, f"torch.{name}", f"{CUDA}.{name}"):
        if candidate in known or normalise(candidate) in known:
            return candidate
        if candidate == CUDA:
            return candidate
        if any(candidate.startswith(api + ".") for api in OTHER_CUDA_ONLY) or port_of(candidate) is not None:
            return candidate
        if candidate.startswith(CUDA + ".") and _advice(normalise(candidate)) != GENERIC:
            return candidate  # under a prefix with advice: torch.cuda.amp.custom_fwd, torch.cuda.nvtx.mark
    return None


def explain(name: str) -> List[str]:
    """The lines ``accelport explain NAME`` prints; ``UnknownName`` if nothing matches."""
    raw = name.strip()
    key = raw.strip("'\"") if raw.strip("'\"") in ("cuda",) or _DEVICE_STRING.fullmatch(raw.strip("'\"")) else raw
    if key in registry.BY_NAME:
        return explain_rule(key)
    if key.upper() in registry.BY_CODE:
        return explain_rule(registry.BY_CODE[key.upper()].NAME)
    match = _DEVICE_STRING.fullmatch(key)
    if match:
        return explain_device_string(key, match.group(2))
    pattern = ALIASES.get(key, key)
    if pattern in PATTERNS:
        rule, what, method = PATTERNS[pattern]
        lines = [pattern, _rule_line(rule), what]
        if method is not None:
            lines.append(f"runtime method: {A}.{method}")
        return lines + _torch_native(method)
    if key == CUDA:
        return [CUDA, _rule_line("unported-cuda-api"), f"what to do: {MODULE_ADVICE}"]
    qname = _cuda_name(key)
    if qname is not None:
        return explain_cuda(qname)
    if key.startswith(CUDA + "."):
        # Compare the part after torch.cuda., or every torch.cuda name would look close.
        tails = {v[len(CUDA) + 1 :]: v for v in _vocabulary() if v.startswith(CUDA + ".")}
        close = [tails[t] for t in difflib.get_close_matches(key[len(CUDA) + 1 :], list(tails), n=3, cutoff=0.8)]
    else:
        close = difflib.get_close_matches(key, _vocabulary(), n=3, cutoff=0.6)
    if key.startswith(CUDA + ".") and not close:
        # A torch.cuda name in none of the tables: what unported-cuda-api says about any such name.
        return [key, _rule_line("unported-cuda-api"), "not in accelport's tables; reported as unported", f"what to do: {GENERIC}"]
    hint = f"; did you mean {', '.join(close)}?" if close else "; try a torch.cuda name, 'cuda:0', or a rule (accelport rules)"
    raise UnknownName(f"unknown name {raw!r}{hint}")
