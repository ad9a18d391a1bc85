"""What a value is used as, decided by its parent before the value itself is visited.

Several rules need the same judgement: is this string or this ``current_device()`` call used as a
device, as an integer index, or as a communication backend? The parent node knows (``.to(_)``,
``device_ids=[_]``, ``init_process_group(_)``), so the walk marks each child on the way down and a
rule reads the mark on the way up.
"""

from __future__ import annotations

from typing import Optional, Sequence

import libcst as cst

from accelport.codemod.engine.context import BACKEND, BACKEND_CHOICE, BACKEND_QUESTION, DEVICE, INDEX, OWN_BACKEND, Context

DEVICE_KEYWORDS = frozenset({"device", "map_location", "device_type"})
AUTOCAST = frozenset({"torch.autocast", "torch.amp.autocast", "torch.amp.autocast_mode.autocast"})
INT_BUILTINS = frozenset({"range", "int"})
TORCH_DEVICE = "torch.device"
# `torch.amp.GradScaler("cuda")`: the first positional argument is the device type.
GRAD_SCALER = frozenset({"torch.GradScaler", "torch.amp.GradScaler", "torch.amp.grad_scaler.GradScaler"})
# torch.cuda functions whose first positional argument is a device (an int on every other backend's
# `get_accelerator()` interface: `synchronize(device_index)`, `memory_allocated(device_index)`, ...).
CUDA_INDEX_FUNCTIONS = frozenset(
    {
        "synchronize", "memory_allocated", "max_memory_allocated", "reset_max_memory_allocated",
        "memory_reserved", "max_memory_reserved", "memory_cached", "max_memory_cached",
        "reset_max_memory_cached", "memory_stats", "reset_peak_memory_stats", "get_device_properties",
        "get_device_name", "get_device_capability", "mem_get_info", "current_stream", "default_stream",
    }
)  # fmt: skip
ORDERING = (cst.LessThan, cst.LessThanEqual, cst.GreaterThan, cst.GreaterThanEqual)
# The runtimes' get_accelerator, wherever ported code imports it from.
ACCELERATOR_FUNCTIONS = frozenset(
    {
        "accelport.accelerator_runtime.get_accelerator", "deepspeed.accelerator.get_accelerator",
        "deepspeed.accelerator.real_accelerator.get_accelerator",
    }
)  # fmt: skip
# get_accelerator() methods whose first positional argument is a device index: the ported
# CUDA_INDEX_FUNCTIONS keep their names, and device_name(i) is what the rules advise for an index.
ACCELERATOR_INDEX_METHODS = CUDA_INDEX_FUNCTIONS | {"device_name", "device", "set_device"}


def is_accelerator_call(ctx: Context, node: cst.BaseExpression) -> bool:
    """``get_accelerator()`` (or an alias of it) from one of the runtimes."""
    return isinstance(node, cst.Call) and not node.args and ctx.qname(node.func) in ACCELERATOR_FUNCTIONS


def is_device_word(name: str) -> bool:
    name = name.lower()  # `DEVICE = "cuda"` is a module constant of the same meaning
    return name == "device" or name.endswith("_device")


def is_backend_word(name: str) -> bool:
    name = name.lower()  # `DIST_BACKEND = "nccl"` is a module constant of the same meaning
    return name == "backend" or name.endswith("_backend")


def is_backend_key(name: str) -> bool:
    """A config key or field holding torch's backend (only where a value is stored; comparisons keep
    ``is_backend_word``)."""
    return is_backend_word(name)


def is_own_backend_word(name: str) -> bool:
    """``comm_backend_name``: a library's own choice of communication backend, which it compares with
    names itself (DeepSpeed's 1-bit optimizers: "nccl", "mpi", "hccl"), not a torch process-group backend."""
    return name.lower().endswith("backend_name")


def stored_backend_role(name: str) -> Optional[str]:
    """The role of a value stored under ``name`` (a variable, a parameter, a field, a config key)."""
    if is_backend_key(name):
        return BACKEND
    if is_own_backend_word(name):
        return OWN_BACKEND
    return None


def terminal_name(node: cst.BaseExpression) -> Optional[str]:
    """``x`` for a name, ``attr`` for ``a.b.attr``, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None


def positional(call: cst.Call) -> Sequence[cst.Arg]:
    out = []
    for arg in call.args:
        if arg.keyword is not None or arg.star:
            break
        out.append(arg)
    return out


def keyword(call: cst.Call, name: str) -> Optional[cst.Arg]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def distributed_function(qname: Optional[str]) -> Optional[str]:
    """``init_process_group`` for ``torch.distributed.init_process_group`` (any submodule path)."""
    if qname is None:
        return None
    if qname.startswith("torch.distributed.") or qname.startswith("deepspeed."):
        return qname.rsplit(".", 1)[1]
    return None


# Backend argument positions: function -> (positional index or None, keyword names).
BACKEND_ARGS = {
    "init_process_group": (0, ("backend",)),
    "new_group": (2, ("backend",)),
    "new_subgroups": (None, ("backend",)),
    "new_subgroups_by_enumeration": (None, ("backend",)),
    "init_distributed": (0, ("dist_backend",)),
}


def _device_like(node: cst.BaseExpression, ctx: Context) -> bool:
    """``x.device``, ``x.device.type``, ``device``, ``self.main_device``."""
    if isinstance(node, cst.Attribute) and node.attr.value == "type":
        return _device_like(node.value, ctx)
    name = terminal_name(node)
    return name is not None and is_device_word(name)


def _backend_like(node: cst.BaseExpression, ctx: Context) -> bool:
    if isinstance(node, cst.Call):
        return distributed_function(ctx.qname(node.func)) == "get_backend"
    name = terminal_name(node)
    return name is not None and is_backend_word(name)


def _mark_call(ctx: Context, node: cst.Call) -> None:
    func = node.func
    qname = ctx.qname(func)
    method = func.attr.value if isinstance(func, cst.Attribute) else None
    args = positional(node)

    for arg in node.args:
        if arg.keyword is None:
            continue
        word = arg.keyword.value
        if word in DEVICE_KEYWORDS:
            _mark_device(ctx, arg.value, word)
        elif word in ("output_device", "device_index"):  # device_index: the accelerator interface's name
            ctx.set_role(arg.value, INDEX)
        elif word == "device_ids":
            # `[i]`, or `[i] if ... else None` as the ddp-device-ids port writes it.
            value = arg.value
            for option in (value.body, value.orelse) if isinstance(value, cst.IfExp) else (value,):
                if isinstance(option, (cst.List, cst.Tuple)):
                    for element in option.elements:
                        ctx.set_role(element.value, INDEX)

    if args:
        first = args[0].value
        if method == "to" or qname == TORCH_DEVICE or qname in AUTOCAST or qname in GRAD_SCALER:
            ctx.set_role(first, DEVICE)
        elif method in ("set_device", "default_generator", "cuda") or qname == "torch.cuda.device":
            ctx.set_role(first, INDEX)
        elif qname is not None and qname.startswith("torch.cuda.") and qname[11:] in CUDA_INDEX_FUNCTIONS:
            ctx.set_role(first, INDEX)
        elif method in ACCELERATOR_INDEX_METHODS and is_accelerator_call(ctx, func.value):  # type: ignore[attr-defined]
            ctx.set_role(first, INDEX)  # ported code: get_accelerator().synchronize(dev)
        if qname == "torch.load" and len(args) > 1:
            _mark_device(ctx, args[1].value, "map_location")  # torch.load(f, map_location)
        elif isinstance(func, cst.Name) and func.value in INT_BUILTINS and qname is None:
            for arg in args:
                ctx.set_role(arg.value, INDEX)
        if qname == TORCH_DEVICE and len(args) > 1:
            ctx.set_role(args[1].value, INDEX)
    if method == "cuda":
        device_kw = keyword(node, "device")
        if device_kw is not None:
            ctx.set_role(device_kw.value, INDEX)

    _mark_travel_call(ctx, node, qname, args)

    dist = distributed_function(qname)
    if dist in BACKEND_ARGS:
        index, words = BACKEND_ARGS[dist]
        if index is not None and len(args) > index:
            ctx.set_role(args[index].value, BACKEND)
        for word in words:
            arg = keyword(node, word)
            if arg is not None:
                ctx.set_role(arg.value, BACKEND)

    if method == "add_argument" and args and isinstance(args[0].value, cst.SimpleString):
        flag = args[0].value.evaluated_value
        if isinstance(flag, str) and is_device_word(flag.lstrip("-").replace("-", "_")):
            default = keyword(node, "default")
            if default is not None:
                ctx.set_role(default.value, DEVICE)
        elif isinstance(flag, str) and is_backend_word(flag.lstrip("-").replace("-", "_")):
            default = keyword(node, "default")
            if default is not None:
                ctx.set_role(default.value, BACKEND)
            _mark_choices(ctx, keyword(node, "choices"))


# Backends other than NCCL that an option's choices may offer (torch's and the vendors' plug-ins).
OTHER_BACKENDS = frozenset({"gloo", "mpi", "ucc", "ccl", "xccl", "hccl", "cncl", "mccl", "smddp", "tccl", "fake"})


def _mark_choices(ctx: Context, choices: Optional[cst.Arg]) -> None:
    """``choices=["nccl"]``: an option that accepts NCCL alone refuses every other accelerator's backend;
    where another backend is offered (``["nccl", "gloo"]``) the user picks and nothing is CUDA-bound."""
    if choices is None or not isinstance(choices.value, (cst.List, cst.Tuple, cst.Set)):
        return
    values = [e.value for e in choices.value.elements]
    names = [v.evaluated_value.lower() if isinstance(v, cst.SimpleString) and isinstance(v.evaluated_value, str) else None
             for v in values]
    if "nccl" in names and not any(n in OTHER_BACKENDS for n in names if n is not None):
        for value, name in zip(values, names):
            if name == "nccl":
                ctx.set_role(value, BACKEND_CHOICE)


# Device-mesh APIs: the device type is the first positional argument (`from_group`: the second).
MESH_FIRST = frozenset({"init_device_mesh", "DeviceMesh"})
ENVIRON_GET = frozenset({"os.environ.get", "os.getenv"})


def _mark_travel_call(ctx: Context, node: cst.Call, qname: Optional[str], args: Sequence[cst.Arg]) -> None:
    """Calls through which a device string or backend reaches its use: a device-mesh API's device type,
    ``dict(backend=...)``, and the default of a call that itself holds a device or a backend
    (``device = os.environ.get("DEVICE", "cuda")``, ``backend: str = field(default="nccl")``)."""
    tail = qname.rsplit(".", 1)[1] if qname and "." in qname else None
    if qname is not None and qname.startswith("torch.distributed.") and args:
        if tail in MESH_FIRST:
            ctx.set_role(args[0].value, DEVICE)
        elif tail == "from_group" and len(args) > 1:
            ctx.set_role(args[1].value, DEVICE)
    func = node.func
    if isinstance(func, cst.Name) and func.value == "dict" and qname is None:
        for arg in node.args:
            role = stored_backend_role(arg.keyword.value) if arg.keyword is not None else None
            if role is not None:
                ctx.set_role(arg.value, role)
    role = ctx.role(node)
    if role not in (DEVICE, BACKEND, OWN_BACKEND):
        return
    if qname in ENVIRON_GET and len(args) == 2:
        ctx.set_role(args[1].value, role)
    elif terminal_name(func) == "field" and (qname is None or qname.startswith("dataclasses.")):
        default = keyword(node, "default")
        if default is not None:
            ctx.set_role(default.value, role)


def _mark_dict(ctx: Context, node: cst.Dict) -> None:
    """``{"device": "cuda", "dist_backend": "nccl"}``: a value under a device or backend key (or a
    library's own backend name: ``"comm_backend_name"``)."""
    for element in node.elements:
        if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
            key = element.key.evaluated_value
            if not isinstance(key, str):
                continue
            role = DEVICE if is_device_word(key) else stored_backend_role(key)
            if role is not None:
                ctx.set_role(element.value, role)


def _mark_device(ctx: Context, value: cst.BaseExpression, word: str) -> None:
    """A device argument. In a ``map_location`` dict only the values are devices: the keys name the
    devices the checkpoint was saved on (``{"cuda:0": f"cuda:{rank}"}``), which stay as written."""
    ctx.set_role(value, DEVICE)
    if word == "map_location" and isinstance(value, cst.Dict):
        for element in value.elements:
            if isinstance(element, cst.DictElement):
                ctx.set_role(element.value, DEVICE)


def _mark_comparison(ctx: Context, node: cst.Comparison) -> None:
    operands = [node.left] + [target.comparator for target in node.comparisons]
    for index, operand in enumerate(operands):
        # `a < b`: devices are not ordered, so both sides of an ordering are integers.
        before = node.comparisons[index - 1].operator if index > 0 else None
        after = node.comparisons[index].operator if index < len(node.comparisons) else None
        if isinstance(before, ORDERING) or isinstance(after, ORDERING):
            ctx.set_role(operand, INDEX)
            continue
        neighbours = operands[max(index - 1, 0) : index] + operands[index + 1 : index + 2]
        for other in neighbours:
            if _device_like(other, ctx):
                ctx.set_role(operand, DEVICE)
            elif _backend_like(other, ctx):
                ctx.set_role(operand, BACKEND_QUESTION)
            elif isinstance(other, cst.Integer):
                ctx.set_role(operand, INDEX)


def _mark_assignment(ctx: Context, targets: Sequence[cst.BaseExpression], value: Optional[cst.BaseExpression]) -> None:
    if value is None:
        return
    words = [terminal_name(target) for target in targets]
    if words and all(w is not None and is_device_word(w) for w in words):
        ctx.set_role(value, DEVICE)
    elif words and all(w is not None and is_backend_word(w) for w in words):
        ctx.set_role(value, BACKEND)
    elif targets and all(isinstance(t, cst.Name) and is_own_backend_word(t.value) for t in targets):
        # A variable, field or parameter; an object's own attribute (an accelerator class's
        # `self._communication_backend_name = "nccl"`) is its state, left to cuda-leftover's judgement.
        ctx.set_role(value, OWN_BACKEND)


def _mark_assign(ctx: Context, node: cst.Assign) -> None:
    _mark_assignment(ctx, [t.target for t in node.targets], node.value)


def _mark_ann_assign(ctx: Context, node: cst.AnnAssign) -> None:
    _mark_assignment(ctx, [node.target], node.value)


def _mark_param(ctx: Context, node: cst.Param) -> None:
    if node.default is not None:
        _mark_assignment(ctx, [node.name], node.default)


def _mark_binary(ctx: Context, node: cst.BinaryOperation) -> None:
    if isinstance(node.operator, cst.Modulo) and isinstance(node.left, (cst.SimpleString, cst.ConcatenatedString)):
        right = node.right
        items = [e.value for e in right.elements] if isinstance(right, cst.Tuple) else [right]
        for item in items:
            ctx.set_role(item, INDEX)
    elif not isinstance(node.left, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
        ctx.set_role(node.left, INDEX)
        ctx.set_role(node.right, INDEX)


def _mark_subscript_element(ctx: Context, node: cst.SubscriptElement) -> None:
    if isinstance(node.slice, cst.Index):
        ctx.set_role(node.slice.value, INDEX)


def _mark_fstring(ctx: Context, node: cst.FormattedString) -> None:
    parts = node.parts
    if (
        len(parts) == 2
        and isinstance(parts[0], cst.FormattedStringText)
        and parts[0].value == "cuda:"
        and isinstance(parts[1], cst.FormattedStringExpression)
    ):
        ctx.set_role(parts[1].expression, INDEX)


def _mark_if_exp(ctx: Context, node: cst.IfExp) -> None:
    role = ctx.role(node)
    if role is not None:
        ctx.set_role(node.body, role)
        ctx.set_role(node.orelse, role)


def _mark_boolean(ctx: Context, node: cst.BooleanOperation) -> None:
    role = ctx.role(node)
    if role is not None:
        ctx.set_role(node.left, role)
        ctx.set_role(node.right, role)


# Exact node type -> how it marks its children with the role their position gives them (``walk.enter``
# looks it up per node: isinstance on LibCST's ABCs is slow there).
MARKERS = {
    cst.Call: _mark_call,
    cst.Comparison: _mark_comparison,
    cst.Dict: _mark_dict,
    cst.Assign: _mark_assign,
    cst.AnnAssign: _mark_ann_assign,
    cst.Param: _mark_param,
    cst.BinaryOperation: _mark_binary,
    cst.SubscriptElement: _mark_subscript_element,
    cst.FormattedString: _mark_fstring,
    cst.IfExp: _mark_if_exp,
    cst.BooleanOperation: _mark_boolean,
}
