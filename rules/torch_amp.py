"""``torch.cuda.amp`` and ``torch.cuda.Event`` calls, ported to forms every runtime can run.

``torch.cuda.amp`` is deprecated in PyTorch and DeepSpeed removed ``amp()`` from its accelerators
(v0.18.7), so mixed precision is ported to ``torch.amp`` with the accelerator's device name:

- ``torch.cuda.amp.autocast(...)`` -> ``torch.amp.autocast(A.device_name(), ...)``: its positional
  arguments (``enabled, dtype, cache_enabled``) become keywords, since ``torch.amp.autocast`` takes
  ``dtype`` second;
- ``torch.cuda.amp.GradScaler(...)`` -> ``torch.amp.GradScaler(A.device_name(), ...)``: the device is
  the new first parameter, the rest keep their positions;
- ``torch.cuda.amp.custom_fwd`` / ``custom_bwd``, called or bare as decorators ->
  ``torch.amp.custom_fwd(device_type=A.device_name(), ...)``.

``torch.cuda.Event(...)`` under ``--runtime deepspeed`` becomes ``make_event(A, ...)``
(``accelport.accelerator_runtime.events``), since DeepSpeed's CPU accelerator has no event class.

The file's own name for ``torch`` is used; a file without one gets ``import torch`` (see
``accelport.codemod.engine.extra_imports``). Where neither can be spelled the call is left and reported.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import libcst as cst

from accelport.codemod.engine.context import Context

AMP = "torch.cuda.amp"
# torch.cuda.amp.autocast's parameters, in order: positional arguments become these keywords.
AUTOCAST_PARAMS = ("enabled", "dtype", "cache_enabled")
AMP_CALLS = frozenset({"autocast", "GradScaler", "custom_fwd", "custom_bwd"})
DECORATORS = frozenset({"custom_fwd", "custom_bwd"})

EVENT_MODULE = "accelport.accelerator_runtime.events"
EVENT_HELPER = "make_event"

# ctx.notes keys: the imports the port needs beyond get_accelerator (read by codemod.extra_imports).
NEED_TORCH = "extra-imports.torch"
NEED_EVENT_HELPER = "extra-imports.make_event"
_TORCH_NAME = "torch-amp.torch-name"


def torch_spelling(ctx: Context) -> Optional[str]:
    """The module-level name for ``torch`` in this file (``th`` for ``import torch as th``), or None
    when it cannot be spelled safely; worked out once per file."""
    if _TORCH_NAME not in ctx.notes:
        from accelport.codemod.engine.torch_target import torch_name

        name, add = torch_name(ctx.scopes.root, ctx.scopes.scopes.values())
        ctx.notes[_TORCH_NAME] = (name, add)
    name, _ = ctx.notes[_TORCH_NAME]  # type: ignore[misc]
    return name


def use_torch(ctx: Context) -> str:
    """The name to spell ``torch`` with; records that ``import torch`` must be added when needed."""
    name, add = ctx.notes[_TORCH_NAME]  # type: ignore[misc]
    if add:
        ctx.notes[NEED_TORCH] = True
    return name


def amp_member(qname: Optional[str]) -> Optional[str]:
    """``autocast`` for ``torch.cuda.amp.autocast`` (and its submodule spellings), else None."""
    if qname is None:
        return None
    for prefix in (AMP + ".", AMP + ".autocast_mode.", AMP + ".grad_scaler."):
        if qname.startswith(prefix):
            tail = qname[len(prefix) :]
            return tail if tail in AMP_CALLS else None
    return None


# ctx.notes key: how many enclosing ``except`` handlers catch what an older torch raises for a missing
# ``torch.amp`` member (kept by torch-cuda-call's visit/leave_ExceptHandler).
IN_FALLBACK = "torch-amp.in-fallback"
_FALLBACK_ERRORS = frozenset({"AttributeError", "ImportError", "ModuleNotFoundError", "TypeError", "Exception"})


def is_version_fallback(handler: cst.ExceptHandler) -> bool:
    """``except (AttributeError, TypeError):`` and the like: the handler of a try that probes for a newer API."""
    if handler.type is None:
        return True
    names = handler.type.elements if isinstance(handler.type, cst.Tuple) else [handler.type]
    for item in names:
        value = item.value if isinstance(item, cst.Element) else item
        if isinstance(value, cst.Name) and value.value in _FALLBACK_ERRORS:
            return True
    return False


# ctx.notes key: how many enclosing ``if`` statements test the torch version (``if is_torch_version(">=",
# "2.3"): ... else: torch.cuda.amp.GradScaler()``): one branch is for a torch without torch.amp's form.
IN_VERSION_BRANCH = "torch-amp.in-version-branch"


def is_version_check(test: cst.BaseExpression) -> bool:
    """A test that asks which torch this is: a name or string with "version" in it
    (``is_torch_version(...)``, ``torch.__version__``, ``TORCH_VERSION``) or ``hasattr(...)``."""
    stack: List[cst.CSTNode] = [test]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Name) and ("version" in item.value.lower() or item.value == "hasattr"):
            return True
        stack.extend(item.children)
    return False


def why_not(ctx: Context, member: str, args: Sequence[cst.Arg]) -> Optional[str]:
    """Why this amp call cannot be ported here, or None when it can."""
    if ctx.notes.get(IN_FALLBACK):
        # The fallback for a torch whose torch.amp lacks the member: ported, it fails the way the try did.
        return ("it is the fallback of a `try` for torch versions without torch.amp's form, so ported it would fail "
                "the same way; on such a torch only CUDA has it: keep it, under `get_accelerator().device_name() == 'cuda'`")
    if ctx.notes.get(IN_VERSION_BRANCH):
        return ("it is under a check of the torch version, whose older side has no torch.amp form, so ported it "
                "would fail there; on such a torch only CUDA has it: keep it, under `get_accelerator().device_name() == 'cuda'`")
    if torch_spelling(ctx) is None:
        return "the name `torch` is bound to something else in this file, so torch.amp cannot be spelled"
    if member == "autocast":
        positional = [arg for arg in args if arg.keyword is None and not arg.star]
        if any(arg.star == "*" for arg in args) or len(positional) > len(AUTOCAST_PARAMS):
            return "its positional arguments cannot be matched to torch.amp.autocast's parameters"
    return None


def not_ported(ctx: Context, member: str, args: Sequence[cst.Arg], decorator: bool = False) -> Optional[str]:
    """The finding for an amp call or bare decorator that cannot be ported here, or None when it can.
    In a version fallback the reason already says what to do."""
    reason = why_not(ctx, member, args)
    if reason is None:
        return None
    if ctx.notes.get(IN_FALLBACK) or ctx.notes.get(IN_VERSION_BRANCH):
        advice = ""
    elif decorator:
        advice = f"; use torch.amp.{member}(device_type=get_accelerator().device_name()) by hand"
    else:
        advice = f"; use torch.amp.{member} with get_accelerator().device_name() by hand"
    return f"`{AMP}.{member}` is not ported: {reason}{advice}"


def _device_name(ctx: Context) -> cst.Call:
    return ctx.accel_call("device_name")


def _comma() -> cst.Comma:
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def insert_arg(args: Sequence[cst.Arg], index: int, new: cst.Arg, call: Optional[cst.Call] = None) -> List[cst.Arg]:
    """``args`` with ``new`` at ``index``, commas kept valid (a trailing comma stays trailing); put first
    in a call whose arguments start on a line of their own, ``new`` gets a line of its own too."""
    out = list(args)
    if index < len(out):
        comma = _comma()
        if index == 0 and call is not None and isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
            comma = cst.Comma(whitespace_after=call.whitespace_before_args)
        out.insert(index, new.with_changes(comma=comma))
        return out
    if out:
        last = out[-1]
        trailing = last.comma
        out[-1] = last.with_changes(comma=_comma())
        out.append(new.with_changes(comma=trailing))
    else:
        out.append(new)
    return out


def _amp_func(torch: str, member: str) -> cst.BaseExpression:
    return cst.parse_expression(f"{torch}.amp.{member}")


def port_amp_call(ctx: Context, member: str, call: cst.Call) -> cst.Call:
    """The ``torch.amp`` form of ``call`` (built from the updated node)."""
    func = _amp_func(use_torch(ctx), member)
    args = list(call.args)
    if member == "autocast":
        named: List[cst.Arg] = []
        for position, arg in enumerate(args):
            if arg.keyword is None and not arg.star:
                arg = arg.with_changes(
                    keyword=cst.Name(AUTOCAST_PARAMS[position]),
                    equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
                )
            named.append(arg)
        args = insert_arg(named, 0, cst.Arg(_device_name(ctx)), call)
    elif member == "GradScaler":
        args = insert_arg(args, 0, cst.Arg(_device_name(ctx)), call)
    else:
        at = 0
        while at < len(args) and args[at].keyword is None and not args[at].star:
            at += 1
        device_type = cst.Arg(
            _device_name(ctx),
            keyword=cst.Name("device_type"),
            equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
        )
        args = insert_arg(args, at, device_type)
    return call.with_changes(func=func, args=args)


def port_amp_decorator(ctx: Context, member: str) -> cst.Call:
    """``@custom_fwd`` (bare) -> ``@torch.amp.custom_fwd(device_type=A.device_name())``."""
    return port_amp_call(ctx, member, cst.Call(func=cst.Name(member)))


def event_helper_usable(ctx: Context) -> bool:
    """``make_event`` can be named here: unbound, or already imported from the helper module."""
    ours = f"{EVENT_MODULE}.{EVENT_HELPER}"
    for scope in (ctx.scopes.root, *ctx.scopes.scopes.values()):
        if EVENT_HELPER in scope.bound or scope.imports.get(EVENT_HELPER, ours) != ours:
            return False
    return True


def port_event_call(ctx: Context, call: cst.Call) -> cst.Call:
    """``torch.cuda.Event(...)`` -> ``make_event(get_accelerator(), ...)``."""
    ctx.notes[NEED_EVENT_HELPER] = True
    return call.with_changes(func=cst.Name(EVENT_HELPER), args=insert_arg(call.args, 0, cst.Arg(ctx.accel()), call))
