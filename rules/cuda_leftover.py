"""The last safety net: CUDA-specific code that no other rule rewrote or reported.

During the walk the rule only collects: candidate sites (a ``torch.cuda`` name, a ``.cuda(...)`` call,
a ``"cuda"``/``"cuda:N"``/``f"cuda:{i}"`` or ``"nccl"`` literal, a call of an imported NCCL-only
helper), the string literals that are prose or questions (docstrings, log/print/warning/exception
messages, argparse help, comparisons, dict keys, enumerations of devices), and the branches that only run on CUDA (``if <CUDA question>:``, the code after
``if not <CUDA question>: return``, ``x if <CUDA question> else y``, ``<CUDA question> and x``, tests
decorated ``skipif(not <CUDA question>)`` or ``@requires_cuda``-style). ``review`` runs after every rule's
``finish``: a candidate inside a rewritten or reported site, in prose, under a suppression marker for
any rule, or in a branch that still asks a CUDA question after the port is quiet; the rest is reported.

A branch counts only if its question survives the port: ``if x.is_cuda:`` rewritten to
``on_accelerator(x)`` is true on CPU, so what is left under it is reported; one rewritten to
``get_accelerator().device_name() == "cuda"`` (or left alone) still runs on CUDA only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

import libcst as cst

from accelport.codemod.engine import tree_walk
from accelport.codemod.engine.context import Context
from accelport.codemod.engine.names import dotted
from accelport.codemod.engine.roles import is_device_word
from accelport.rules.base import Rule

_NOTE = "cuda-leftover"
_DEVICE = re.compile(r"cuda(:(\d+|%[dsi]|\{\w*\})?)?")
# Names of other devices and backends: a literal listed with one of them is a choice, not a CUDA device.
OTHER_TARGETS = frozenset(
    {"cpu", "gloo", "mpi", "ucc", "ccl", "xccl", "hccl", "xpu", "mps", "hpu", "npu", "xla", "meta", "mlu", "musa", "auto"}
)
# A literal that one of a conditional expression's branches chooses instead of "cuda".
_LABELS = OTHER_TARGETS | {"gpu"}
# Calls whose string arguments are prose.
_PROSE_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log", "print", "echo", "write",
     "skip", "xfail", "fail", "format", "join"}
)  # fmt: skip
_PROSE_KEYWORDS = frozenset({"help", "description", "reason", "msg", "message", "metavar", "choices", "epilog", "doc"})
_REFLECTIVE = frozenset({"hasattr", "getattr", "setattr", "delattr"})
_QUESTION_METHODS = frozenset({"startswith", "endswith"})
# Text searches and edits: their string arguments are patterns, not devices.
_TEXT_METHODS = frozenset(
    {"count", "find", "rfind", "index", "rindex", "split", "rsplit", "partition", "rpartition", "replace",
     "strip", "lstrip", "rstrip", "removeprefix", "removesuffix", "len", "search", "match", "fullmatch",
     "findall", "finditer", "sub", "subn", "compile", "fnmatch"}
)  # fmt: skip
# An argparse option whose default may be a device or backend; any other option's default is its own word.
_DEVICE_OPTION = re.compile(r"dev|gpu|cuda|accel|backend|dist|comm|platform|target|map|place", re.I)
_CUDA_ONLY_PREFIXES = ("torch.cuda", "torch.version.cuda", "torch.backends.cuda", "torch.backends.cudnn")
# The end of a branch that leaves the block: the code after ``if not <CUDA question>: <exit>`` is CUDA's.
_EXIT_CALLS = frozenset({"skip", "skipTest", "exit", "_exit", "SkipTest"})

# The rules that rewrite or report each kind of candidate. A kind whose rules are turned off (``--ignore``,
# ``--select``, per-file-ignores) is the user's choice and stays quiet, unless no such rule runs at all
# (``--select cuda-leftover``): then every kind is reported.
OWNERS: Dict[str, Tuple[str, ...]] = {
    "torch.cuda": ("torch-cuda-call", "unported-cuda-api"),
    ".cuda(": ("tensor-cuda-method",),
    "device": ("cuda-device-string",),
    "nccl": ("nccl-backend",),
    # No rule ports or reports an imported NCCL helper: always this rule's.
    "nccl-helper": (),
}
_KINDS = frozenset(OWNERS)

MESSAGES = {
    "torch.cuda": (
        "`{what}` is CUDA-only and no rule ported or reported it here; port it by hand (`accelport explain "
        "{what}`) or keep it under `if get_accelerator().device_name() == \"cuda\":`"
    ),
    ".cuda(": (
        "`{what}` is left as is (accelport cannot prove what it is called on); if it moves a tensor or "
        "module, write `.to(get_accelerator().device_name())`; if the object's own `cuda` method means "
        "something else, keep the call under a CUDA-only branch"
    ),
    "device": (
        "the CUDA device string `{what}` is left in code; where it names a device pass "
        "get_accelerator().device_name() (device_name(i) for an index), or use it only in a CUDA-only branch"
    ),
    "nccl": (
        "the backend name `\"nccl\"` is left in code; where it picks a process-group backend use "
        "get_accelerator().communication_backend_name(), or use it only in a CUDA-only branch"
    ),
    "nccl-helper": (
        "`{what}` is an NCCL-only helper (`{qname}`: it works only with the NCCL backend, on CUDA); on "
        "other backends use that backend's own equivalent, picked by "
        "get_accelerator().communication_backend_name(), or call it only in a CUDA-only branch"
    ),
}
# ``is_nccl_available()``, ``has_nccl()``: questions, false wherever NCCL is missing, so already right.
_QUESTION_PREFIXES = ("is_", "has_")


@dataclass
class _Region:
    """Nodes that run only when ``question`` (a CUDA question with the given sign) allows; ``question``
    None means the code says so by name (``@requires_cuda``)."""

    question: Optional[cst.CSTNode]
    pieces: List[cst.CSTNode]
    nodes: Sequence[cst.CSTNode]
    top: int = -1  # the top-level statement holding ``question``


@dataclass
class _State:
    candidates: List[Tuple[str, str, cst.CSTNode, int]] = field(default_factory=list)
    # id(func) -> the call, for calls of a dotted name: a site at the name covers its arguments too.
    calls: Dict[int, cst.Call] = field(default_factory=dict)
    # id(string argument or call name) -> the call: a site at the call covers them.
    parent: Dict[int, cst.Call] = field(default_factory=dict)
    # Local names some import binds to a torch.cuda name.
    cuda_names: Set[str] = field(default_factory=set)
    # (test, nodes run when it is true, nodes run when it is false, top-level statement)
    pending: List[Tuple[cst.CSTNode, Sequence[cst.CSTNode], Sequence[cst.CSTNode], int]] = field(default_factory=list)
    quiet: Set[int] = field(default_factory=set)  # prose and question literals
    # Lists whose items are each used as a device (pytest's parametrize values for `device`, a loop over
    # devices): a CUDA item there is a device, even next to "cpu" or "meta".
    device_lists: Set[int] = field(default_factory=set)
    regions: List[_Region] = field(default_factory=list)


def _state(ctx: Context) -> _State:
    state = ctx.notes.get(_NOTE)
    if state is None:
        state = ctx.notes[_NOTE] = _State()
    return state  # type: ignore[return-value]


class _Ids(tree_walk.Visitor):
    def __init__(self, out: Set[int]) -> None:
        super().__init__()
        self.out = out

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.out.add(id(node))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        pass


def subtree_ids(nodes, out: Optional[Set[int]] = None) -> Set[int]:
    out = set() if out is None else out
    walker = _Ids(out)
    for node in nodes:
        tree_walk.visit(node, walker)
    return out


class _Strings(tree_walk.Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: List[cst.CSTNode] = []

    def visit_SimpleString(self, string: cst.SimpleString) -> None:
        self.found.append(string)

    def visit_FormattedString(self, string: cst.FormattedString) -> None:
        self.found.append(string)


def _strings(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The string literals in ``node`` (parts of concatenations and f-strings included)."""
    if isinstance(node, (cst.SimpleString, cst.FormattedString)):
        return [node]
    if isinstance(node, (cst.Name, cst.Attribute, cst.Integer, cst.Float)):
        return []
    collect = _Strings()
    tree_walk.visit(node, collect)
    return collect.found


def literal(node: cst.CSTNode) -> Optional[str]:
    """The text of a string literal (an f-string's text parts with ``{}`` for each field), else None."""
    if isinstance(node, cst.SimpleString):
        prefix = node.prefix.lower()
        if "b" in prefix:
            return None
        return node.raw_value
    if isinstance(node, cst.FormattedString):
        return "".join(
            part.value if isinstance(part, cst.FormattedStringText) else "{}" for part in node.parts
        )
    return None


def _kind(value: str) -> Optional[str]:
    if value == "nccl":
        return "nccl"
    if value.startswith("cuda") and _DEVICE.fullmatch(value):
        return "device"
    return None


def _is_cuda_word(value: Optional[str]) -> bool:
    return value is not None and (value == "nccl" or value.startswith("cuda"))


def _short(code: str, limit: int = 60) -> str:
    flat = " ".join(code.split())
    return flat if len(flat) <= limit else "..." + flat[-limit:]


def func_name(func: cst.BaseExpression) -> str:
    """``f`` for ``f(...)`` and ``x.f(...)``; empty for anything else."""
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return ""


class _Question:
    """CUDA questions inside an expression, each with its sign (False: asked negatively)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def pieces(self, test: cst.CSTNode) -> Tuple[Optional[bool], List[cst.CSTNode]]:
        """(sign, the question nodes); sign None when ``test`` asks no CUDA question."""
        negated = False
        while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            negated = not negated
            test = test.expression
        found: List[cst.CSTNode] = []
        signs: List[bool] = []
        self._collect(test, found, signs)
        if not found:
            return None, []
        positive = all(signs) if not negated else not any(signs)
        return positive, found

    def _collect(self, node: cst.CSTNode, found: List[cst.CSTNode], signs: List[bool]) -> None:
        ctx = self.ctx
        if isinstance(node, cst.Comparison):
            words = [literal(c.comparator) for c in node.comparisons] + [literal(node.left)]
            if any(_is_cuda_word(w) for w in words):
                found.append(node)
                signs.append(not isinstance(node.comparisons[0].operator, (cst.NotEqual, cst.NotIn, cst.IsNot)))
                return
        elif isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
            inner: List[bool] = []
            self._collect(node.expression, found, inner)
            signs.extend(not s for s in inner)
            return
        elif isinstance(node, cst.Call):
            name = func_name(node.func)
            if name in _QUESTION_METHODS and any(_is_cuda_word(literal(a.value)) for a in node.args):
                found.append(node)
                signs.append(True)
                return
        if isinstance(node, cst.Comparison):
            # ``torch.cuda.device_count() < 2``: a count compared; below or equal to a bound asks "too few?".
            inner = []
            for operand in (node.left, *(c.comparator for c in node.comparisons)):
                self._collect(operand, found, inner)
            few = isinstance(node.comparisons[0].operator, (cst.LessThan, cst.LessThanEqual, cst.Equal))
            signs.extend((not s) if few else s for s in inner)
            return
        if isinstance(node, (cst.Attribute, cst.Name)) and ctx.is_chain_top(node):
            qname = ctx.qname(node)
            if qname is not None and qname.startswith(_CUDA_ONLY_PREFIXES):
                found.append(node)
                signs.append(True)
                return
            last = node.attr.value if isinstance(node, cst.Attribute) else node.value
            lowered = last.lower()
            if last == "is_cuda" or (qname is None and ("cuda" in lowered or "gpu" in lowered)):
                # ``x.is_cuda``, ``args.cuda``, ``use_gpu``: the code's own CUDA flag.
                found.append(node)
                signs.append(not lowered.startswith(("no_", "disable", "without")))
                return
        # Never an attribute's or a keyword's own name: resolving those would cache a wrong qname.
        if isinstance(node, (cst.Attribute, cst.Arg)):
            children: Sequence[cst.CSTNode] = [node.value]
        elif isinstance(node, (cst.Lambda, cst.Name)):
            return
        else:
            children = tree_walk.children(node)
        for child in children:
            self._collect(child, found, signs)


def _exits(block: cst.BaseSuite) -> bool:
    body = block.body if isinstance(block, (cst.IndentedBlock, cst.SimpleStatementSuite)) else ()
    if not body:
        return False
    last = body[-1]
    smalls = last.body if isinstance(last, cst.SimpleStatementLine) else ([last] if isinstance(last, cst.BaseSmallStatement) else ())
    for small in smalls:
        if isinstance(small, (cst.Return, cst.Raise, cst.Continue, cst.Break)):
            return True
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) and func_name(small.value.func) in _EXIT_CALLS:
            return True
    return False


def _requires_cuda(decorator: str) -> bool:
    """``requires_cuda``, ``require_torch_gpu``, ``onlyCUDA``, ``skip_if_no_cuda``; not ``skip_on_cuda``."""
    if "cuda" not in decorator and "gpu" not in decorator:
        return False
    return "skip" not in decorator or decorator.startswith(("skip_if_no", "skipifno", "skip_unless", "skipunless"))


class CudaLeftover(Rule):
    """Report CUDA-specific code that no other rule rewrote or reported (the safety net).

    ## What it does
    After every other rule ran, looks for what is still CUDA-specific in the code: a `torch.cuda` name,
    a `.cuda(...)` call, a `"cuda"` / `"cuda:N"` / `f"cuda:{i}"` device literal, a `"nccl"` literal, or
    a call of an NCCL-only helper: something an import binds whose name says NCCL (`NcclBackend()` from
    `deepspeed.runtime.comm.nccl`, `pynccl.all_reduce(...)`, `nccl_helpers.barrier()`; not questions
    such as `dist.is_nccl_available()`, which are false elsewhere, nor the project's own functions
    defined in the file). Each one that no rule rewrote, reported, or was told to ignore (a suppression comment for any rule
    on its line) is reported here, so a port never leaves a CUDA-bound line unsaid. Prose stays quiet:
    docstrings, comments, log/print/warning/exception messages, argparse help, as do questions and
    choices (`device == "cuda"`, `"cuda" in device`, `{"cuda": ...}` keys, `["cuda", "cpu"]`; but not
    a list whose every item is used as a device: pytest's `parametrize("device", ["cpu", "cuda"])` values
    and `for device in ["cpu", "cuda"]`) and code in a branch that still runs only on CUDA after the port (under `if get_accelerator().device_name()
    == "cuda":`, `if args.cuda:`, `if x.is_cuda:` left as is, after `if not torch.cuda.is_available():
    return`, in a test marked `skipif(not torch.cuda.is_available())` or `@requires_cuda`, its other
    decorators included).

    ## Why is this bad?
    A CUDA-only token left in ported code fails or picks CUDA on every other backend; the other rules
    only rewrite what they can prove, and this rule names the rest.

    ## Example
    ```python
    DEFAULTS = {"dev": "cuda", "dist": "nccl"}
    run(model, "cuda:0")
    ```

    ## Use instead
    ```python
    DEFAULTS = {"dev": get_accelerator().device_name(), "dist": get_accelerator().communication_backend_name()}
    run(model, get_accelerator().device_name(0))
    ```

    ## Fix safety
    No fix: reported only. A branch that is CUDA-only on purpose stays quiet when its test still asks
    about CUDA; suppress anything else deliberate with `# accelport: ignore[cuda-leftover]`. Turning off
    the rules that handle a kind (`ignore = ["torch-cuda-call"]`, `--select`, per-file-ignores) also
    quiets that kind here: `torch.cuda` names belong to torch-cuda-call and unported-cuda-api, `.cuda()`
    calls to tensor-cuda-method, device strings to cuda-device-string, `"nccl"` to nccl-backend; NCCL-only
    helpers are this rule's alone. Run alone (`--select cuda-leftover`), it reports every kind. An NCCL
    helper is reported at each call, not at its import (a name only imported is harmless).
    """

    NAME = "cuda-leftover"
    CODE = "AP114"
    FIXES = False
    TRIGGERS = ("cuda", "nccl")
    # The candidate kinds this run reports (see OWNERS).
    kinds: FrozenSet[str] = _KINDS

    def configured(self, settings: Any) -> "CudaLeftover":
        from accelport.rules.registry import DEFAULT_NAMES

        return _configured(DEFAULT_NAMES if settings.rules is None else frozenset(settings.rules))

    # -- candidates -----------------------------------------------------------------------
    def _chain(self, ctx: Context, node: cst.BaseExpression) -> None:
        if not ctx.is_chain_top(node):
            return
        qname = ctx.qname(node)
        if qname is not None and (qname == "torch.cuda" or qname.startswith("torch.cuda.")):
            _state(ctx).candidates.append(("torch.cuda", qname, node, ctx.current_top))

    def visit_Attribute(self, ctx: Context, node: cst.Attribute) -> None:
        self._chain(ctx, node)

    def prepare(self, ctx: Context) -> None:
        state = _state(ctx)
        state.cuda_names = {
            local
            for scope in ctx.scopes.scopes.values()
            for local, qname in scope.imports.items()
            if qname == "torch.cuda" or qname.startswith("torch.cuda.")
        }

    def visit_Name(self, ctx: Context, node: cst.Name) -> None:
        # A bare name is torch.cuda's only where an import binds it so (``from torch import cuda``).
        if node.value in _state(ctx).cuda_names:
            self._chain(ctx, node)

    def visit_SimpleString(self, ctx: Context, node: cst.SimpleString) -> None:
        self._string(ctx, node)

    def visit_FormattedString(self, ctx: Context, node: cst.FormattedString) -> None:
        self._string(ctx, node)

    def _string(self, ctx: Context, node: cst.CSTNode) -> None:
        if isinstance(node, cst.SimpleString) and "cuda" not in node.value and "nccl" not in node.value:
            return
        value = literal(node)
        if value is None:
            return
        kind = _kind(value)
        if kind is not None:
            _state(ctx).candidates.append((kind, value, node, ctx.current_top))

    # -- prose, questions and CUDA-only branches ------------------------------------------
    def visit_Call(self, ctx: Context, node: cst.Call) -> None:
        state = _state(ctx)
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "cuda":
            if ctx.qname(func.value) != "torch":
                state.candidates.append((".cuda(", "", node, ctx.current_top))
        if isinstance(func, (cst.Attribute, cst.Name)):
            state.calls[id(func)] = node
            self._nccl_helper(ctx, node, func)
        for arg in node.args:
            if isinstance(arg.value, (cst.SimpleString, cst.FormattedString)):
                state.parent[id(arg.value)] = node
        name = func_name(func)
        if name == "parametrize":
            self._parametrized(ctx, node)
        if name in _REFLECTIVE and len(node.args) >= 2 and isinstance(func, cst.Name):
            state.quiet.add(id(node.args[1].value))  # ``hasattr(x, "cuda")``: an attribute's name
        if name == "add_argument" and node.args and not _DEVICE_OPTION.search(literal(node.args[0].value) or "dev"):
            state.quiet.update(map(id, _strings(node)))
        if (
            name in _PROSE_METHODS
            or name in _QUESTION_METHODS
            or name in _TEXT_METHODS
            or name.endswith(("Error", "Exception", "Warning"))
        ):
            for arg in node.args:
                state.quiet.update(map(id, _strings(arg.value)))
        else:
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value in _PROSE_KEYWORDS:
                    state.quiet.update(map(id, _strings(arg.value)))

    def _nccl_helper(self, ctx: Context, node: cst.Call, func: cst.BaseExpression) -> None:
        """``NcclBackend()``, ``pynccl.all_reduce(...)``: a call of something an import binds whose name
        says NCCL (the project's own ``test_nccl_ops`` defined in the file is not imported)."""
        qname = ctx.qname(func)
        if qname is None or "nccl" not in qname.lower() or not ctx.is_chain_top(func):
            return
        if qname.startswith(_CUDA_ONLY_PREFIXES) or qname.rsplit(".", 1)[-1].lower().startswith(_QUESTION_PREFIXES):
            return  # torch.cuda.nccl is the torch.cuda kind's; questions are right everywhere
        _state(ctx).candidates.append(("nccl-helper", qname, node, ctx.current_top))

    def visit_Expr(self, ctx: Context, node: cst.Expr) -> None:
        if isinstance(node.value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
            _state(ctx).quiet.update(map(id, _strings(node.value)))  # docstrings and bare strings

    def visit_Raise(self, ctx: Context, node: cst.Raise) -> None:
        if node.exc is not None:
            _state(ctx).quiet.update(map(id, _strings(node.exc)))

    def visit_Assert(self, ctx: Context, node: cst.Assert) -> None:
        if node.msg is not None:
            _state(ctx).quiet.update(map(id, _strings(node.msg)))

    def visit_Comparison(self, ctx: Context, node: cst.Comparison) -> None:
        quiet = _state(ctx).quiet
        for operand in (node.left, *(c.comparator for c in node.comparisons)):
            if isinstance(operand, (cst.Tuple, cst.List, cst.Set)):
                quiet.update(id(element.value) for element in operand.elements)
            else:
                quiet.add(id(operand))

    def visit_Subscript(self, ctx: Context, node: cst.Subscript) -> None:
        quiet = _state(ctx).quiet
        for element in node.slice:
            if isinstance(element.slice, cst.Index):
                quiet.add(id(element.slice.value))

    def visit_Dict(self, ctx: Context, node: cst.Dict) -> None:
        quiet = _state(ctx).quiet
        values = []
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                quiet.add(id(element.key))
                values.append(element.value)
        self._choices(ctx, values)

    def _choices(self, ctx: Context, values: Sequence[cst.BaseExpression]) -> None:
        """``["cuda", "cpu"]``, ``("nccl", "gloo")``: a list of options, not a CUDA device."""
        if any((literal(v) or "").split(":")[0] in OTHER_TARGETS for v in values):
            _state(ctx).quiet.update(id(v) for v in values)

    def visit_List(self, ctx: Context, node: cst.List) -> None:
        if id(node) not in _state(ctx).device_lists:
            self._choices(ctx, [element.value for element in node.elements])

    def _parametrized(self, ctx: Context, node: cst.Call) -> None:
        """``parametrize("device", ["meta", "cuda:0"])``: each value is the test's device."""
        names = literal(node.args[0].value) if node.args else None
        values = node.args[1].value if len(node.args) > 1 and node.args[1].keyword is None else None
        for arg in node.args:
            if arg.keyword is not None and arg.keyword.value == "argvalues":
                values = arg.value
        # One parameter only: with several, each value is a tuple and no string stands alone.
        if names is not None and "," not in names and is_device_word(names.strip()) and isinstance(values, (cst.List, cst.Tuple)):
            _state(ctx).device_lists.add(id(values))

    def _loop(self, ctx: Context, target: cst.BaseExpression, values: cst.BaseExpression) -> None:
        """``for device in ["cpu", "cuda"]``: each item is the body's device."""
        if isinstance(target, cst.Name) and is_device_word(target.value) and isinstance(values, (cst.List, cst.Tuple)):
            _state(ctx).device_lists.add(id(values))

    def visit_For(self, ctx: Context, node: cst.For) -> None:
        self._loop(ctx, node.target, node.iter)

    def visit_CompFor(self, ctx: Context, node: cst.CompFor) -> None:
        self._loop(ctx, node.target, node.iter)

    visit_Tuple = visit_Set = visit_List

    def visit_MatchValue(self, ctx: Context, node: cst.MatchValue) -> None:
        _state(ctx).quiet.add(id(node.value))

    def _region(
        self, ctx: Context, test: cst.CSTNode, yes: Sequence[cst.CSTNode], no: Sequence[cst.CSTNode], top: int = -1
    ) -> None:
        """A branch to weigh in ``review``, only if some candidate is left by then."""
        _state(ctx).pending.append((test, yes, no, ctx.current_top if top < 0 else top))

    def visit_If(self, ctx: Context, node: cst.If) -> None:
        self._region(ctx, node.test, [node.body], [node.orelse] if node.orelse is not None else [])

    def visit_While(self, ctx: Context, node: cst.While) -> None:
        self._region(ctx, node.test, [node.body], [])

    def visit_IfExp(self, ctx: Context, node: cst.IfExp) -> None:
        self._region(ctx, node.test, [node.body], [node.orelse])
        # ``"gpu" if style == "caffe2" else "cuda"``: a choice between two spellings.
        if any((literal(v) or "").split(":")[0] in _LABELS for v in (node.body, node.orelse)):
            _state(ctx).quiet.update((id(node.body), id(node.orelse)))

    def visit_BooleanOperation(self, ctx: Context, node: cst.BooleanOperation) -> None:
        if isinstance(node.operator, cst.And):
            self._region(ctx, node.left, [node.right], [])
        else:
            self._region(ctx, node.left, [], [node.right])

    def _after_exits(self, ctx: Context, body: Sequence[cst.CSTNode], module: bool = False) -> None:
        """``if not <CUDA question>: return`` makes the rest of the block CUDA's."""
        for index, stmt in enumerate(body):
            if isinstance(stmt, cst.If) and stmt.orelse is None and _exits(stmt.body):
                if module and id(stmt) in ctx.skip:
                    continue
                self._region(ctx, stmt.test, [], body[index + 1 :], index if module else -1)

    def visit_IndentedBlock(self, ctx: Context, node: cst.IndentedBlock) -> None:
        self._after_exits(ctx, node.body)

    def visit_Module(self, ctx: Context, node: cst.Module) -> None:
        self._after_exits(ctx, node.body, module=True)

    def _decorated(self, ctx: Context, node, decorators: Sequence[cst.Decorator]) -> None:
        for decorator in decorators:
            expr = decorator.decorator
            func = expr.func if isinstance(expr, cst.Call) else expr
            last = (dotted(func) or "").rsplit(".", 1)[-1].lower()
            # The other decorators only run with the test (`parametrize("device", ["cpu", "cuda"])`).
            runs = [node.body, *(other for other in decorators if other is not decorator)]
            if isinstance(expr, cst.Call) and last in ("skipif", "skipunless") and expr.args:
                test = expr.args[0].value
                if last == "skipif":
                    self._region(ctx, test, [], runs)
                else:
                    self._region(ctx, test, runs, [])
            elif _requires_cuda(last):
                _state(ctx).regions.append(_Region(None, [], runs))

    def visit_FunctionDef(self, ctx: Context, node: cst.FunctionDef) -> None:
        self._decorated(ctx, node, node.decorators)
        if node.name.value == "cuda":
            # Implementing ``cuda`` (``return super().cuda(device)``) is not calling it.
            _state(ctx).regions.append(_Region(None, [], [node.body]))

    def visit_ClassDef(self, ctx: Context, node: cst.ClassDef) -> None:
        self._decorated(ctx, node, node.decorators)
        if _requires_cuda(node.name.value.lower()):
            # ``class CUDA_Accelerator``, ``class CudaGraphRunner``: the CUDA implementation itself.
            _state(ctx).regions.append(_Region(None, [], [node.body]))
        elif any((dotted(base.value) or "").endswith("Enum") for base in node.bases):
            # ``CUDA = "cuda"`` members: names for the words, compared elsewhere.
            for stmt in node.body.body:
                if isinstance(stmt, cst.SimpleStatementLine):
                    for small in stmt.body:
                        if isinstance(small, cst.Assign):
                            _state(ctx).quiet.add(id(small.value))

    def visit_Assign(self, ctx: Context, node: cst.Assign) -> None:
        """``CUDA = "cuda"``, ``cuda_note = "cuda"``: a name that already says its word (a device is
        rather called ``device``: ``cuda_device = "cuda"`` is still reported)."""
        value = literal(node.value)
        if value is None:
            return
        word = value.split(":")[0]
        for target in node.targets:
            name = target.target.value if isinstance(target.target, cst.Name) else (
                target.target.attr.value if isinstance(target.target, cst.Attribute) else ""
            )
            lowered = name.lower()
            if word and word in lowered and "device" not in lowered and "backend" not in lowered:
                _state(ctx).quiet.add(id(node.value))

    # -- after every rule ------------------------------------------------------------------
    def review(self, ctx: Context) -> None:
        state = ctx.notes.get(_NOTE)
        if not isinstance(state, _State) or not state.candidates:
            return
        said = _Said(ctx, state)
        kinds = self.kinds
        left = [
            c for c in state.candidates
            if c[0] in kinds and id(c[2]) not in state.quiet and not said.covers(c[2], c[3])
        ]
        if not left:
            return
        question = _Question(ctx)
        for test, yes, no, top in state.pending:
            sign, pieces = question.pieces(test)
            if sign is not None and (yes if sign else no):
                state.regions.append(_Region(test, pieces, yes if sign else no, top))
        legit: Set[int] = set()
        for region in state.regions:
            if region.question is None or _still_asks(ctx, region, said):
                subtree_ids(region.nodes, legit)
        for kind, what, node, top in left:
            if id(node) in legit:
                continue
            if ctx.suppressions:
                where = ctx.range_of(node, top)
                if ctx.suppressions.marked(where.start.line, where.end.line):
                    continue
            qname = what
            if kind in (".cuda(", "nccl-helper"):
                what = _short(ctx.code(node.func)) + "(...)"  # type: ignore[attr-defined]
            elif kind == "device":
                what = _short(ctx.code(node))
            ctx.report(self, node, MESSAGES[kind].format(what=what, qname=qname), top)


@lru_cache(maxsize=64)
def _configured(selected: FrozenSet[str]) -> CudaLeftover:
    rule = CudaLeftover()
    owners = {name for names in OWNERS.values() for name in names}
    if selected & owners:
        rule.kinds = frozenset(kind for kind, names in OWNERS.items() if all(n in selected for n in names))
    return rule


class _Said:
    """Which nodes a rewrite or a finding of another rule covers (a finding at a call's name covers the
    call). Most candidates are such a node themselves; the subtrees of a statement's sites are walked
    only when a candidate there is not."""

    def __init__(self, ctx: Context, state: _State) -> None:
        self.sites: Dict[int, List[Tuple[cst.CSTNode, Optional[cst.CSTNode]]]] = {}
        self.direct: Set[int] = set()
        for site in (*ctx.fixes, *ctx.findings):
            # A finding at a call's name is about the call; a rewrite of the name leaves the arguments.
            node = site.node if site.replacement is not None else state.calls.get(id(site.node), site.node)
            self.sites.setdefault(site.top, []).append((node, site.replacement))
            self.direct.add(id(site.node))
            self.direct.add(id(node))
        self._inside: Dict[int, Set[int]] = {}
        self.calls = state.calls
        self.parent = state.parent

    def inside(self, top: int) -> Set[int]:
        found = self._inside.get(top)
        if found is None:
            found = self._inside[top] = subtree_ids([node for node, _ in self.sites.get(top, ())])
        return found

    def covers(self, node: cst.CSTNode, top: int) -> bool:
        if top not in self.sites:
            return False
        direct = self.direct
        if id(node) in direct:
            return True
        if isinstance(node, cst.Call) and id(node.func) in direct:
            return True
        call = self.calls.get(id(node))  # ``node`` is a call's name: the whole call rewritten or reported
        if call is not None and id(call) in direct:
            return True
        call = self.parent.get(id(node))  # ``node`` is a string argument: the call's rewritten or reported
        if call is not None and id(call) in direct:
            return True
        return id(node) in self.inside(top)


def _still_asks(ctx: Context, region: _Region, said: _Said) -> bool:
    """A question piece survives the port untouched, or a rewrite inside the question asks about CUDA."""
    if any(not said.covers(piece, region.top) for piece in region.pieces):
        return True
    inside = subtree_ids([region.question])  # type: ignore[list-item]
    for node, replacement in said.sites.get(region.top, ()):
        if replacement is not None and id(node) in inside:
            code = ctx.code(replacement)
            if '"cuda"' in code or "'cuda'" in code:
                return True
    return False
