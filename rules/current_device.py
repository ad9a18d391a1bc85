"""Family 3 of the porting rules: ``torch.cuda.current_device()``, a name or an index by use.

The index form the rule writes, ``get_accelerator().current_device()``, is analysed the same way but
never rewritten: where its use wants a device or cannot be classified, ``check`` reports it with the
advice the port gave, so that advice is still listed after the code no longer spells ``torch.cuda``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import DefaultDict, Dict, List, Optional, Set, Tuple

import libcst as cst

from accelport.codemod.engine.context import FULL_WALK, DEVICE, INDEX, Context
from accelport.codemod.engine.names import Scope
from accelport.codemod.results import Finding
from accelport.codemod.engine.roles import is_accelerator_call, is_device_word
from accelport.rules.base import Rule, keep_parens

CURRENT = "torch.cuda.current_device"
NAME_METHOD = "current_device_name"
INDEX_METHOD = "current_device"
SCAN = "current-device-scan"
# The two spellings of the current device's index: the one ported now, and the one a port left.
CUDA, PORTED = "cuda", "ported"
# Every finding on the ported spelling names it (and no finding on the CUDA one does): the runner's
# fixed-point pass drops them, as the first pass reported the same site in its CUDA spelling.
PORTED_CALL = "get_accelerator().current_device()"
_WORDS = {CUDA: ("torch.cuda.current_device()", "ported as an index"), PORTED: (PORTED_CALL, "kept as an index")}
NAME_ADVICE = "where it is used as a device, write get_accelerator().current_device_name()"

Key = Tuple[int, str]


def _kind(ctx: Context, node: Optional[cst.CSTNode]) -> Optional[str]:
    """CUDA for ``torch.cuda.current_device()``, PORTED for ``get_accelerator().current_device()``."""
    if not isinstance(node, cst.Call) or node.args:
        return None
    func = node.func
    if ctx.qname(func) == CURRENT:
        return CUDA
    if isinstance(func, cst.Attribute) and func.attr.value == INDEX_METHOD and is_accelerator_call(ctx, func.value):
        return PORTED
    return None


def is_restated(finding: Finding) -> bool:
    """A finding on the ported spelling: in a pass over this rule's own output, the same site again."""
    return finding.rule == CurrentDevice.NAME and PORTED_CALL in finding.message


def _is_current_device(ctx: Context, node: Optional[cst.CSTNode]) -> bool:
    """Either spelling: both are followed through their uses."""
    return _kind(ctx, node) is not None


def _is_cuda_current_device(ctx: Context, node: Optional[cst.CSTNode]) -> bool:
    """The spelling the rule rewrites."""
    return isinstance(node, cst.Call) and not node.args and ctx.qname(node.func) == CURRENT


def _verb(ctx: Context, node: cst.CSTNode) -> str:
    return _WORDS[_kind(ctx, node) or CUDA][1]


def _container(ctx: Context, node: cst.CSTNode) -> str:
    note = "ported as an index" if _kind(ctx, node) == CUDA else f"{PORTED_CALL} is kept as an index"
    return f"stored in a container, whose uses cannot be followed: {note}; {NAME_ADVICE}"


def _is_cuda_fstring(node: cst.FormattedString) -> Optional[cst.FormattedStringExpression]:
    parts = node.parts
    if (
        len(parts) == 2
        and isinstance(parts[0], cst.FormattedStringText)
        and parts[0].value == "cuda:"
        and isinstance(parts[1], cst.FormattedStringExpression)
        and parts[1].conversion is None
        and parts[1].format_spec is None
    ):
        return parts[1]
    return None


# Calls that only print or format their arguments: a name or an index both do there.
NEUTRAL_FUNCTIONS = frozenset({"print", "str", "repr", "format"})
# `logger.info("on %s", dev)`: the arguments after the message are only formatted.
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "critical", "exception", "log"})


def _neutral_args(ctx: Context, node: cst.Call) -> List[cst.BaseExpression]:
    """The arguments of ``node`` that are only printed or formatted."""
    func = node.func
    if isinstance(func, cst.Name) and func.value in NEUTRAL_FUNCTIONS and ctx.qname(func) is None:
        return [arg.value for arg in node.args if not arg.star]
    if isinstance(func, cst.Attribute) and func.attr.value in LOG_METHODS and node.args:
        if isinstance(node.args[0].value, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)):
            return [arg.value for arg in node.args[1:] if not arg.star]
    return []


class _Scan:
    """``name = torch.cuda.current_device()`` bindings and every use of those names, recorded node by
    node as the rule walk passes (``CurrentDevice.observe``): a second walk would cost as much again."""

    def __init__(self, ctx: Context, tops: Set[int], narrowed: bool) -> None:
        self.ctx = ctx
        # Top-level statements observed (those that spell current_device), and whether that is fewer than
        # the walk visits: then a module-level binding, readable anywhere, needs every statement observed.
        self.tops = tops
        self.narrowed = narrowed
        self.bindings: DefaultDict[Key, List[cst.Call]] = defaultdict(list)
        self.class_stores: List[cst.Call] = []
        self.attribute_stores: List[cst.Call] = []
        self.loads: List[Tuple[Scope, cst.Name]] = []
        # Reads that are integer uses whatever their role says (`dev += 1`).
        self.int_reads: Set[int] = set()
        # Reads that are only printed or formatted.
        self.neutral: Set[int] = set()
        # Reads that are stored somewhere the analysis cannot follow (`self.device = dev`).
        self.escaping: Set[int] = set()
        # Bindings some other scope declares `global` or `nonlocal`: their uses cannot be followed.
        self.declared: Set[Key] = set()
        # id(node) -> its top-level statement, for what is reported after the walk.
        self.top_of: Dict[int, int] = {}
        # id(current_device() call) -> (the method name node of its rewrite, the method it got in the walk).
        self.pending: Dict[int, Tuple[cst.Name, str]] = {}
        # ids of the calls bound to a name or stored: their reads decide, not the call's own place.
        self.bound: Set[int] = set()

    def observe(self, node: cst.CSTNode) -> None:
        # By exact type: an isinstance against LibCST's ABC-based classes per node and per test cost a
        # fifth of the rule walk.
        handler = _OBSERVERS.get(type(node))
        if handler is not None and self.ctx.current_top in self.tops:
            handler(self, node)

    def _assign(self, node: cst.Assign) -> None:
        self._assignment(node)

    def _ann_assign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, node.value)

    def _aug_assign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            # `dev += 1` reads the value as an integer.
            self.int_reads.add(id(node.target))
            self._load(node.target)

    def _global(self, node: cst.Global) -> None:
        self.declared.update((id(self.ctx.scope.module()), item.name.value) for item in node.names)

    def _nonlocal(self, node: cst.Nonlocal) -> None:
        scope = self.ctx.scope
        for item in node.names:
            owner = _binding_scope(scope.parent, item.name.value) if scope.parent else None
            if owner is not None:
                self.declared.add((id(owner), item.name.value))

    def _call(self, node: cst.Call) -> None:
        self.neutral.update(map(id, _neutral_args(self.ctx, node)))

    def _comparison(self, node: cst.Comparison) -> None:
        # `dev == local_device`: the value compared is the int it was, whatever the other side is called.
        for operand in (node.left, *(target.comparator for target in node.comparisons)):
            if isinstance(operand, cst.Name):
                self.int_reads.add(id(operand))

    def _fstring_expression(self, node: cst.FormattedStringExpression) -> None:
        if self.ctx.role(node.expression) is None:
            self.neutral.add(id(node.expression))

    def _name(self, node: cst.Name) -> None:
        ctx = self.ctx
        if ctx.is_ref(node) and id(node) not in ctx.store_targets:
            self._load(node)

    def top(self, node: cst.CSTNode) -> int:
        """The top-level statement ``node`` was observed in (-1: not observed)."""
        return self.top_of.get(id(node), -1)

    def _load(self, node: cst.Name) -> None:
        self.loads.append((self.ctx.scope, node))
        self.top_of[id(node)] = self.ctx.current_top

    def _assignment(self, node: cst.Assign) -> None:
        stored = [t.target for t in node.targets if not isinstance(t.target, cst.Name)]
        if stored:
            # `self.device = dev`, `cache["dev"] = dev`: the value leaves the analysis.
            self.escaping.add(id(node.value))
        for target in node.targets:
            self._bind(target.target, node.value)

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        ctx = self.ctx
        if not _is_current_device(ctx, value):
            return
        self.top_of[id(value)] = ctx.current_top
        self.bound.add(id(value))
        if isinstance(target, cst.Name):
            if ctx.scope.is_class:
                self.class_stores.append(value)  # type: ignore[arg-type]  # also read as self.<name>
            else:
                self.bindings[(id(ctx.scope), target.value)].append(value)  # type: ignore[arg-type]
        elif isinstance(target, (cst.Attribute, cst.Subscript)):
            self.attribute_stores.append(value)  # type: ignore[arg-type]


_OBSERVERS = {
    cst.Assign: _Scan._assign,
    cst.AnnAssign: _Scan._ann_assign,
    cst.AugAssign: _Scan._aug_assign,
    cst.Global: _Scan._global,
    cst.Nonlocal: _Scan._nonlocal,
    cst.Call: _Scan._call,
    cst.Comparison: _Scan._comparison,
    cst.FormattedStringExpression: _Scan._fstring_expression,
    cst.Name: _Scan._name,
}


def _binding_scope(scope: Scope, name: str) -> Optional[Scope]:
    """The scope that binds the ``name`` a read in ``scope`` refers to (closures included)."""
    if name in scope.globals_:
        scope = scope.module()
    first = True
    current: Optional[Scope] = scope
    while current is not None:
        # Class bodies are not visible from the functions nested inside them.
        if not (current.is_class and not first) and (name in current.bound or name in current.imports):
            return current
        first = False
        current = current.parent
    return None


class CurrentDevice(Rule):
    """Port `torch.cuda.current_device()` to a device name or an index, depending on how it is used.

    ## What it does
    `torch.cuda.current_device()` returns an int, and PyTorch reads an int as a CUDA device. Where the
    value is used as a device (`.to(_)`, `device=_`, `map_location=_`, `torch.device(_)`, `f"cuda:{_}"`)
    it becomes `get_accelerator().current_device_name()`; where it is used as an integer
    (`set_device(_)`, `device_ids=[_]`, `output_device=_`, arithmetic, indexing, `%d`, and every
    comparison, whatever the other side is called: a device name never equals an int) it becomes
    `get_accelerator().current_device()`. In a dict under a `device`/`*_device` key it is a device;
    in any other container it is ported as an index and reported. A variable bound to the call is followed through every
    read that can see it, in its scope and in the functions nested in it (closures), before and after any
    rebinding: all device uses give the name; any integer use (`dev += 1` too) gives the index, and then
    each device use is reported; a use that cannot be classified (returned, passed to another function,
    stored on an attribute) gives the index and a finding. Printing or logging the value decides nothing.
    A call stored on an attribute or in a class body, bound to a name declared `global`/`nonlocal`
    elsewhere, returned, or passed straight to an unknown function is ported as an index and reported.
    The index form a port leaves, `get_accelerator().current_device()`, is followed the same way and
    never rewritten: where it is used as a device or in a use that cannot be classified it is reported
    with the same advice, so a later `check` still lists what the port could not decide (silence a
    reviewed one with `# accelport: ignore[current-device]`).

    ## Why is this bad?
    `x.to(torch.cuda.current_device())` means `x.to("cuda:0")`: it fails on every other backend.

    ## Example
    ```python
    x = x.to(torch.cuda.current_device())
    torch.cuda.set_device(torch.cuda.current_device())
    ```

    ## Use instead
    ```python
    x = x.to(get_accelerator().current_device_name())
    get_accelerator().set_device(get_accelerator().current_device())
    ```

    ## Fix safety
    Safe where the use is classified; the index form keeps the original integer meaning everywhere.
    """

    NAME = "current-device"
    CODE = "AP103"
    TRIGGERS = ("current_device",)
    OBSERVES = tuple(_OBSERVERS)  # the walk hands ``observe`` only these node types

    def prepare(self, ctx: Context) -> None:
        # Only statements that spell current_device can bind it; a name's reads are in the same statement,
        # except for module-level names (``finish``).
        narrowed = ctx.skip_unless(self.TRIGGERS)
        body = ctx.module.body
        tops = {index for index, stmt in enumerate(body) if id(stmt) not in narrowed}
        ctx.notes[SCAN] = _Scan(ctx, tops, bool(narrowed))

    def observe(self, ctx: Context, node: cst.CSTNode) -> None:
        ctx.notes[SCAN].observe(node)  # type: ignore[attr-defined]

    def finish(self, ctx: Context) -> None:
        """Decide each binding from all its reads, then give the calls rewritten in the walk the method
        decided (the walk could not know it: reads come after the call)."""
        scan: _Scan = ctx.notes[SCAN]  # type: ignore[assignment]
        if scan.narrowed and any(scope_id == id(ctx.scopes.root) for scope_id, _ in scan.bindings):
            # A module-level name can be read in statements that were not observed: walk them all.
            ctx.notes[FULL_WALK] = True
            return
        top = scan.top
        decisions: Dict[int, str] = {}
        for call in scan.attribute_stores:
            ctx.report(self, call, "stored on an attribute or in a container, whose uses cannot be followed: "
                       f"{self._subject(ctx, call)}; {NAME_ADVICE}", top(call))
        for call in scan.class_stores:
            ctx.report(self, call, f"a class attribute, whose uses cannot be followed: {self._subject(ctx, call)}; "
                       f"{NAME_ADVICE}", top(call))
        for call in scan.attribute_stores + scan.class_stores:
            decisions[id(call)] = INDEX_METHOD
        reads: DefaultDict[str, List[Tuple[Scope, cst.Name]]] = defaultdict(list)
        for scope, name in scan.loads:
            reads[name.value].append((scope, name))
        for (scope_id, name), calls in scan.bindings.items():
            kind = CUDA if any(_kind(ctx, call) == CUDA for call in calls) else PORTED
            if (scope_id, name) in scan.declared:
                method = INDEX_METHOD
                for call in calls:
                    ctx.report(self, call, f"`{name}` is declared global or nonlocal, so its uses cannot be followed: "
                               f"{self._subject(ctx, call)}", top(call))
            else:
                method = self._decide(ctx, scan, scope_id, name, reads[name], kind)
            if method == NAME_METHOD and kind == PORTED:
                for call in calls:
                    ctx.report(self, call, f"`{name}` holds {PORTED_CALL}, an index, and every use of it wants a device: "
                               "bind get_accelerator().current_device_name() instead", top(call))
            for call in calls:
                # `a = b = torch.cuda.current_device()`: a name only if every name wants one.
                if decisions.get(id(call)) != INDEX_METHOD:
                    decisions[id(call)] = method
        for call_id, (method_name, provisional) in scan.pending.items():
            decided = decisions.get(call_id, provisional)
            if decided != provisional:
                # The node was made by this walk and is referenced only by its rewrite and that rewrite's site.
                object.__setattr__(method_name, "value", decided)

    @staticmethod
    def _subject(ctx: Context, call: cst.CSTNode) -> str:
        return "ported as an index" if _kind(ctx, call) == CUDA else f"{PORTED_CALL} is kept as an index"

    def _decide(
        self, ctx: Context, scan: _Scan, scope_id: int, name: str, reads: List[Tuple[Scope, cst.Name]], kind: str
    ) -> str:
        """Every read of the name that can see this binding decides, wherever it is in the scope (a
        later rebinding does not hide the reads before it) and in the functions nested in it."""
        device: List[cst.Name] = []
        other: List[cst.Name] = []
        unknown: List[cst.Name] = []
        for scope, node in reads:
            owner = _binding_scope(scope, name)
            if owner is None or id(owner) != scope_id:
                continue
            key = id(node)
            role = ctx.role(node)
            if key in scan.int_reads:
                other.append(node)
            elif key in scan.escaping:
                unknown.append(node)
            elif key in scan.neutral:
                continue
            elif role == DEVICE:
                device.append(node)
            elif role == INDEX:
                other.append(node)
            else:
                unknown.append(node)
        if device and not other and not unknown:
            return NAME_METHOD
        call, verb = _WORDS[kind]
        for node in unknown:
            ctx.report(self, node, f"`{name}` holds {call}; cannot tell whether this use "
                       f"wants a device or an index: {verb}", scan.top(node))
        reason = "it is also used as an integer" if other else "another use of it cannot be classified"
        for node in device:
            ctx.report(self, node, f"`{name}` holds {call}, {verb} because {reason}, "
                       f"but is used as a device here: pass get_accelerator().device_name({name})",
                       scan.top(node))
        return INDEX_METHOD

    def visit_Comparison(self, ctx: Context, node: cst.Comparison) -> None:
        # Compared, it stays an int: a device name never equals the int the other side may hold.
        for operand in (node.left, *(target.comparator for target in node.comparisons)):
            if _is_current_device(ctx, operand):
                ctx.set_role(operand, INDEX)

    def visit_Dict(self, ctx: Context, node: cst.Dict) -> None:
        for element in node.elements:
            if not isinstance(element, cst.DictElement) or not _is_current_device(ctx, element.value):
                continue
            key = element.key.evaluated_value if isinstance(element.key, cst.SimpleString) else None
            if isinstance(key, str) and is_device_word(key):
                ctx.set_role(element.value, DEVICE)  # `{"device": ...}` is read as a device
            elif ctx.role(element.value) is None:
                ctx.report(self, element.value, _container(ctx, element.value))

    def _elements(self, ctx: Context, node) -> None:
        for element in node.elements:
            value = element.value
            if _is_current_device(ctx, value) and ctx.role(value) is None:
                ctx.report(self, value, _container(ctx, value))

    visit_List = visit_Tuple = visit_Set = _elements

    def visit_Call(self, ctx: Context, node: cst.Call) -> None:
        if _is_cuda_current_device(ctx, node):
            ctx.claim(node.func)
            return
        neutral = set(map(id, _neutral_args(ctx, node)))
        for arg in node.args:
            value = arg.value
            if _is_current_device(ctx, value) and ctx.role(value) is None and id(value) not in neutral:
                subject = "" if _kind(ctx, value) == CUDA else f"{PORTED_CALL} "
                ctx.report(self, value, f"{subject}passed to `{ctx.code(node.func)}`, which may use it as a device: "
                           f"{_verb(ctx, value)}; if it wants a device, write get_accelerator().current_device_name()")

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        kind = _kind(ctx, original)
        if kind == PORTED:
            # Never rewritten (it may be the port's own index); a device use of it is reported.
            scan = ctx.notes.get(SCAN)
            if ctx.role(original) == DEVICE and (scan is None or id(original) not in scan.bound):  # type: ignore[attr-defined]
                ctx.report(self, original, f"{PORTED_CALL} is an index, used as a device here: write "
                           "get_accelerator().current_device_name()")
            return None
        if kind is None:
            return None
        # What its own place says; ``finish`` changes it where a binding's reads decide otherwise.
        method = NAME_METHOD if ctx.role(original) == DEVICE else INDEX_METHOD
        func = ctx.accel(method)
        scan = ctx.notes.get(SCAN)
        if scan is not None:
            scan.pending[id(original)] = (func.attr, method)  # type: ignore[union-attr, attr-defined]
        return updated.with_changes(func=func)

    def visit_FormattedString(self, ctx: Context, node: cst.FormattedString) -> None:
        part = _is_cuda_fstring(node)
        if part is not None and _is_cuda_current_device(ctx, part.expression):
            ctx.claim(part.expression)

    def leave_FormattedString(self, ctx: Context, original: cst.FormattedString, updated: cst.FormattedString):
        part = _is_cuda_fstring(original)
        if part is None or not _is_cuda_current_device(ctx, part.expression):
            return None
        return keep_parens(ctx.accel_call(NAME_METHOD), updated)

    def visit_Return(self, ctx: Context, node: cst.Return) -> None:
        if _is_current_device(ctx, node.value):
            subject = "" if _kind(ctx, node.value) == CUDA else f"{PORTED_CALL} "
            ctx.report(self, node.value, f"{subject}returned to the caller, which may use it as a device: "
                       f"{_verb(ctx, node.value)}")
