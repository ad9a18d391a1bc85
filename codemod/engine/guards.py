"""Guards: questions about CUDA keep their meaning (§11 of the porting rules).

``torch.cuda.is_available()``, ``x.is_cuda``, ``x.device.type == "cuda"``, ``"cuda" in str(device)`` and
``backend == "nccl"`` ask "am I on CUDA?". Their accelerator forms (``is_available()``,
``on_accelerator(x)``, ``== device_name()``) are true on the CPU accelerator too, so they may replace
the question only where everything the guard protects runs on any backend once ported. The backend
question is right on every backend as written (only CUDA runs use NCCL): it is only watched (``watch``),
and reported where what it guards stays CUDA-only.

How it is decided, in the one rule walk (no second pass):

- On the way down, the test of an ``if``/``elif``, a conditional expression, a ``while`` and an ``assert``
  is split into *atoms* (through ``not``, ``and``, ``or``; ``!=`` and ``not in`` flip the polarity). Each
  atom gets a *region*: what runs when it is true. For a positive atom that is the body (the true
  branch); for a negative one the ``else`` branch, plus the rest of the block when the body always leaves
  it (``if not torch.cuda.is_available(): return``); for an ``assert``, the rest of the block.
- The region's original subtrees are scanned once, then: what codemod/engine/cuda_only.py names (vendor
  libraries and compiled extensions, ``torch.backends.cudnn``, CUDA's autocast API, custom ``torch.ops``
  namespaces, and the module's own functions, methods and aliases that reach one of them),
  ``fused=True``, ``device_map`` with device numbers and ``nvcc`` make it CUDA-only at once;
  ``torch.cuda`` names, ``.cuda()`` calls and CUDA device or ``"nccl"`` literals make it CUDA-only unless
  the walk rewrote them (``ctx.fixes``). So do a check of results against the CPU's
  (``allclose(cpu_out, gpu_out.cpu())``: a test of CUDA kernels) and, for an ``if``/``else``, an ``else``
  side that does more than choose the CPU (codemod/engine/backend_chains.py: the ported question would
  skip it on the CPU accelerator).
- A rule that rewrites an atom hands its replacement to ``propose``, which returns it provisionally.
  When the walk leaves the region, any finding reported inside it or any CUDA-only thing left in it
  decides "CUDA-only": the atom then goes back to a CUDA question (``is_available()`` becomes
  ``get_accelerator().device_name() == "cuda"``; ``x.is_cuda`` and string comparisons are left as
  written and reported). The test node, already rebuilt by the walk, is changed in place.

``torch.cuda.device_count()`` compared with a number is an atom too (codemod/engine/count_questions.py), and
an ``if`` or conditional expression that skips a test makes its regions CUDA-only (codemod/engine/skips.py).

A question stored in a name or a ``self`` attribute (``use_cuda = torch.cuda.is_available()``) is
followed to the tests that read it (codemod/engine/stored_reads.py, one walk of its function, class or module
when the assignment is reached): each such test registers a region as above, and when the walk leaves
that function, class or module the stored atoms are decided by all of them (``_decide_stored``).
Any other atom whose value is not a guard (returned, passed on, stored where its reads cannot all be
found) is not followed: ``is_available()`` becomes the CUDA question; ``.is_cuda`` and string
comparisons are left and reported, except as ``non_blocking=``/``pin_memory=`` arguments, which only
tune a copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from accelport.codemod.engine import count_questions, replace, skips, stored_reads, tree_walk
from accelport.codemod.engine.backend_chains import cpu_side_work, other_backend
from accelport.codemod.engine.cuda_only import CUDA_WORDS, call_reason, facts_of, module_reason, qname_reason
from accelport.codemod.engine.context import BACKEND_QUESTION, DEVICE, Context
from accelport.codemod.engine.names import Scope
from accelport.codemod.engine.stored_reads import TUNING_KEYWORDS
from accelport.codemod.engine.roles import is_backend_word, is_device_word, terminal_name

NOTES_KEY = "guards"
AVAILABLE = "torch.cuda.is_available"
DEVICE_COUNT = "torch.cuda.device_count"
CUDA_QUESTION = 'get_accelerator().device_name() == "cuda"'

# An assert or raise whose message says CUDA states that what it protects needs CUDA.
SAYS_CUDA = re.compile(r"cuda|nvidia|nccl", re.IGNORECASE)
# An `else: raise ...("only available on GPU")` after a CUDA guard says the guarded path is the only one.
SAYS_GPU = re.compile(r"cuda|nvidia|nccl|gpu", re.IGNORECASE)
DEVICE_LITERAL = re.compile(r"cuda(:\d+)?")
HALF = frozenset({"torch.float16", "torch.half"})
NCCL_CONSTANTS = frozenset({"torch.distributed.Backend.NCCL", "torch.distributed.distributed_c10d.Backend.NCCL"})
# A constant chosen by a conditional expression (`"fp16" if "cuda" in device else "bf16"`) is a choice
# made for CUDA; a device literal is a candidate instead (ported where it is used as a device).
# (numbers are left out: a worker or device count chosen that way is harmless elsewhere).
CONSTANTS = (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)
# Comparisons of results in tests: one whose argument is brought back with `.cpu()` checks a device's
# result against the CPU's, which is a test of CUDA kernels where the guard asks about CUDA.
PARITY_CHECKS = frozenset({
    "allclose", "isclose", "equal", "assert_close", "assert_allclose", "assert_array_almost_equal",
    "assert_array_equal", "assertAllClose", "assertEqual", "assertAlmostEqual", "assertTrue",
})
EXITS = (cst.Return, cst.Raise, cst.Continue, cst.Break)


@dataclass
class Region:
    """What runs when a guard atom is true, and what was found in it."""

    ids: Set[int] = field(default_factory=set)
    reasons: List[str] = field(default_factory=list)
    # (node, ids of it and its ancestors in the region, what it is): CUDA-only unless one was rewritten.
    candidates: List[Tuple[cst.CSTNode, Tuple[int, ...], str]] = field(default_factory=list)
    atoms: List["Atom"] = field(default_factory=list)
    # The rebuilt node whose ``test`` holds the atoms (captured when the walk leaves it).
    holder: Optional[cst.CSTNode] = None
    findings_from: int = 0
    fixes_from: int = 0
    # The stored question whose read this region's atom is (``if use_cuda:``), if any.
    stored: Optional["Stored"] = None
    # A "gloo" literal: a backend question that picks gloo asks "can it carry CPU tensors?".
    gloo: bool = False
    # A comparison of results (`allclose`, `assertEqual`) and an `x.cpu()`: together, a check of CUDA
    # results against the CPU's.
    checks: bool = False
    back_to_cpu: bool = False


@dataclass
class Stored:
    """A question stored in a name or ``self`` attribute, decided by what the tests that read it guard."""

    spelled: str
    value: Region  # holds the question's atoms; its holder is the assignment
    expected: int  # the tests that read it
    seen: int = 0  # their regions, registered as the walk reached them
    reason: Optional[str] = None


@dataclass
class Atom:
    node: cst.CSTNode
    region: Region
    bare: bool  # a whole test, or an operand of and/or/not: a comparison needs no parentheses there
    top: int = -1
    rule: object = None
    replacement: Optional[cst.CSTNode] = None
    restore: Optional[cst.CSTNode] = None
    what: str = ""
    watch: bool = False  # left as written whatever the region holds: only reported when it is CUDA-only


class Guards:
    def __init__(self) -> None:
        self.atoms: Dict[int, Atom] = {}
        self.portable: Set[int] = set()
        # Comparison operands that ask about CUDA ("cuda"/"nccl" next to a device or backend).
        self.questions: Set[int] = set()
        self.seen: Set[int] = set()
        # id(node the walk leaves) -> regions decided then.
        self.decide_at: Dict[int, List[Region]] = {}
        # id(if/assert statement) -> its block and index, for regions that run to the end of the block.
        self.rest_of: Dict[int, Tuple[cst.CSTNode, int]] = {}
        # id(statement whose test holds atoms) -> regions whose holder it is.
        self.holders: Dict[int, List[Region]] = {}
        # id(is_available() call) whose CUDA question needs no parentheses where it stands.
        self.bare: Set[int] = set()
        # id(read of a stored question in a test) -> the stored question.
        self.stored_uses: Dict[int, Stored] = {}
        # id(node the walk leaves once every read of a stored question was walked) -> those questions.
        self.stored_at: Dict[int, List[Stored]] = {}
        # The rule whose hooks run the guard logic in this walk (the first guard rule selected).
        self.owner: object = None


def state(ctx: Context) -> Guards:
    found = ctx.notes.get(NOTES_KEY)
    if found is None:
        found = ctx.notes[NOTES_KEY] = Guards()
    return found  # type: ignore[return-value]


# -- atoms ------------------------------------------------------------------------------------
def _string(node: cst.CSTNode) -> Optional[str]:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def str_argument(node: cst.BaseExpression) -> cst.BaseExpression:
    """``x`` for ``str(x)``, else the node."""
    return _str_of(node)


def _str_of(node: cst.BaseExpression) -> cst.BaseExpression:
    """``x`` for ``str(x)``, else the node."""
    if (
        isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "str"
        and len(node.args) == 1 and node.args[0].keyword is None and not node.args[0].star
    ):  # fmt: skip
        return node.args[0].value
    return node


def _device_like(node: cst.BaseExpression) -> bool:
    node = _str_of(node)
    if isinstance(node, cst.Attribute) and node.attr.value == "type":
        node = node.value
    name = terminal_name(node)
    return name is not None and is_device_word(name)


def _backend_like(ctx: Context, node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Call):
        qname = ctx.qname(node.func)
        return qname is not None and qname.endswith(".get_backend") and qname.startswith("torch.distributed")
    name = terminal_name(node)
    return name is not None and is_backend_word(name)


def question_operand(ctx: Context, node: cst.Comparison) -> Optional[Tuple[cst.SimpleString, bool, str]]:
    """The CUDA literal of a one-operator comparison that asks "on CUDA?" (``device == "cuda"``,
    ``"cuda" in str(device)``, ``backend == "nccl"``), whether it asks the negation, and the role."""
    if len(node.comparisons) != 1:
        return None
    op = node.comparisons[0].operator
    left, right = node.left, node.comparisons[0].comparator
    negated = isinstance(op, (cst.NotEqual, cst.NotIn))
    if not isinstance(op, (cst.Equal, cst.NotEqual, cst.In, cst.NotIn)):
        return None
    for literal, other in ((left, right), (right, left)):
        value = _string(literal)
        if value is None and isinstance(literal, cst.Attribute) and literal.attr.value == "NCCL":
            value = "nccl" if ctx.qname(literal) in NCCL_CONSTANTS else None  # `dist.Backend.NCCL`
        if value is None:
            continue
        if isinstance(op, (cst.In, cst.NotIn)) and literal is right:
            continue  # `device in "cuda"` is not the question
        if DEVICE_LITERAL.fullmatch(value) and _device_like(other):
            return literal, negated, DEVICE  # type: ignore[return-value]
        if value == "nccl" and _backend_like(ctx, other):
            return literal, negated, BACKEND_QUESTION  # type: ignore[return-value]
    return None


def _is_cuda_read(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Attribute) and node.attr.value == "is_cuda"


def _atoms(ctx: Context, test: cst.BaseExpression, positive: bool, bare: bool, out: List[Tuple[cst.CSTNode, bool, bool]],
           after: Optional[Dict[int, List[cst.CSTNode]]] = None) -> None:
    """(atom, polarity, bare) for every question in ``test``; ``after`` gets, per positive atom, the
    operands of ``and`` evaluated only where it holds (``torch.cuda.is_available() and cuda_fp8_ok()``)."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        _atoms(ctx, test.expression, not positive, True, out, after)
    elif isinstance(test, cst.BooleanOperation):
        start = len(out)
        _atoms(ctx, test.left, positive, True, out, after)
        if after is not None and isinstance(test.operator, cst.And):
            for atom, polarity, _ in out[start:]:
                if polarity == positive:
                    after.setdefault(id(atom), []).append(test.right)
        _atoms(ctx, test.right, positive, True, out, after)
    elif isinstance(test, cst.Call):
        if not test.args and ctx.qname(test.func) == AVAILABLE:
            out.append((test, positive, bare))
        else:
            _count_atom(ctx, test, positive, out)
    elif id(test) in state(ctx).stored_uses:
        out.append((test, positive, bare))
    elif _is_cuda_read(test):
        out.append((test, positive, bare))
    elif isinstance(test, cst.Comparison):
        found = question_operand(ctx, test)
        if found is not None:
            literal, negated, role = found
            ctx.set_role(literal, role)  # `"cuda" in str(device)` is a device question too
            out.append((literal, positive != negated, False))
        else:
            _count_atom(ctx, test, positive, out)


def _count_atom(ctx: Context, test: cst.BaseExpression, positive: bool, out: List[Tuple[cst.CSTNode, bool, bool]]) -> None:
    """``torch.cuda.device_count() == 0`` is ``not torch.cuda.is_available()``, ``> 1`` asks for several:
    the atom is its ``device_count`` reference, positive where its true side needs a GPU."""
    found = count_questions.question(ctx, test)
    if found is not None:
        count, needs_gpu, _ = found
        out.append((count, positive == needs_gpu, False))


def _suite_exits(suite: cst.BaseSuite) -> bool:
    """The block always leaves (its last statement returns, raises, continues, breaks or exits)."""
    if isinstance(suite, cst.SimpleStatementSuite):
        smalls: Sequence[cst.BaseSmallStatement] = suite.body
    else:
        body = suite.body
        if not body or not isinstance(body[-1], cst.SimpleStatementLine):
            return False
        smalls = body[-1].body
    if not smalls:
        return False
    last = smalls[-1]
    if isinstance(last, EXITS):
        return True
    if isinstance(last, cst.Expr) and isinstance(last.value, cst.Call):
        func = last.value.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
        return name in ("exit", "_exit", "skip", "skipTest", "fail")
    return False


# -- entering tests -------------------------------------------------------------------------
def enter_block(ctx: Context, block: cst.CSTNode) -> None:
    """Note the ``if``s that leave the block and the ``assert``s: their regions run to its end."""
    guards = state(ctx)
    if id(block) in guards.seen:
        return
    guards.seen.add(id(block))
    for index, stmt in enumerate(block.body):  # type: ignore[attr-defined]
        if isinstance(stmt, cst.If) and _suite_exits(stmt.body):
            guards.rest_of[id(stmt)] = (block, index)
        elif isinstance(stmt, cst.SimpleStatementLine) and any(isinstance(s, cst.Assert) for s in stmt.body):
            for small in stmt.body:
                if isinstance(small, cst.Assert):
                    guards.rest_of[id(small)] = (block, index)


def enter_if(ctx: Context, node: cst.If) -> None:
    guards = state(ctx)
    if id(node) in guards.seen:
        return
    guards.seen.add(id(node))
    found: List[Tuple[cst.CSTNode, bool, bool]] = []
    after: Dict[int, List[cst.CSTNode]] = {}
    _atoms(ctx, node.test, True, True, found, after)
    if not found:
        return
    rest = guards.rest_of.get(id(node))
    other = other_backend(node.orelse)
    for atom, positive, bare in found:
        if positive:
            parts: List[cst.CSTNode] = [node.body, *after.get(id(atom), ())]
            end: cst.CSTNode = node
        else:
            parts = [node.orelse] if node.orelse is not None else []
            end = node
            if rest is not None:
                block, index = rest
                parts.extend(block.body[index + 1 :])  # type: ignore[attr-defined]
                end = block
        region = _register(ctx, guards, atom, bare, parts, node, end)
        if positive and other:
            region.reasons.append(f"an `elif` for another backend ({other}) follows, which the accelerator's answer would shadow")
        if positive and isinstance(node.orelse, cst.Else) and _says_cuda(node.orelse.body, SAYS_GPU):
            region.reasons.append("the `else` branch raises that it needs CUDA or a GPU")
        if not positive and _says_cuda(node.body):
            region.reasons.append("the message of the exit above says it needs CUDA")
        if skips.suite_skips(node.body) or skips.suite_skips(node.orelse):
            region.reasons.append(skips.REASON)
        work = _cpu_side_work(node, positive)
        if work is not None:
            region.reasons.append(f"the branch a run without CUDA takes does work of its own (`{work}`), which the "
                                  "accelerator's answer would skip on the CPU")
        if not positive and node.orelse is None and "cpu" in _strings_values(node.body):
            # `if not torch.cuda.is_available(): device = "cpu"`: skipped on the CPU accelerator, whatever
            # default stands (often CUDA's, from a config) would be used instead.
            region.reasons.append("its body picks the CPU where CUDA is missing, which the accelerator's answer would skip")


def _cpu_side_work(node: cst.If, positive: bool) -> Optional[str]:
    """Of an ``if``/``else`` about CUDA: what the side a run without CUDA takes does beyond choosing the
    CPU (see codemod/engine/backend_chains.py). Without an ``else`` that side is a move or a fallback
    the ported answer makes unnecessary (``if not x.is_cuda: x = x.to(device)``): not judged here."""
    if not isinstance(node.orelse, cst.Else):
        return None
    if positive:
        return cpu_side_work(node.body, node.orelse.body)
    return cpu_side_work(node.orelse.body, node.body)


def _candidate_literal(value: Optional[str]) -> bool:
    """A CUDA device or ``"nccl"`` literal: CUDA-only unless a rule ports it where it stands."""
    return value is not None and (DEVICE_LITERAL.fullmatch(value) is not None or value.lower() == "nccl")


def enter_test(ctx: Context, node: cst.CSTNode) -> None:
    """``a if test else b``, ``while test:``, ``assert test``."""
    guards = state(ctx)
    if id(node) in guards.seen:
        return
    guards.seen.add(id(node))
    found: List[Tuple[cst.CSTNode, bool, bool]] = []
    after: Dict[int, List[cst.CSTNode]] = {}
    _atoms(ctx, node.test, True, True, found, after)  # type: ignore[attr-defined]
    if not found:
        return
    for atom, positive, bare in found:
        siblings = list(after.get(id(atom), ()))
        if isinstance(node, cst.IfExp):
            parts, end = [node.body if positive else node.orelse, *siblings], node
            branch = parts[0]
            if (isinstance(branch, CONSTANTS) and not _candidate_literal(_string(branch))) or (
                isinstance(branch, cst.Name) and branch.value in ("True", "False", "None")
            ):
                region = _register(ctx, guards, atom, bare, parts, node, end)
                region.reasons.append(f"the value `{ctx.code(branch).strip()[:40]}` chosen for CUDA")
                continue
            if skips.is_skip(node.body) or skips.is_skip(node.orelse):
                region = _register(ctx, guards, atom, bare, parts, node, end)
                region.reasons.append(skips.REASON)
                continue
        elif isinstance(node, cst.While):
            parts, end = ([node.body, *siblings] if positive else []), node
        else:  # assert: what follows runs only where the test held
            rest = guards.rest_of.get(id(node))
            if not positive or rest is None:
                parts, end = siblings, node
            else:
                block, index = rest
                parts, end = [*siblings, *block.body[index + 1 :]], block  # type: ignore[attr-defined]
        region = _register(ctx, guards, atom, bare, parts, node, end)
        if isinstance(node, cst.Assert) and positive and node.msg is not None:
            if any(SAYS_CUDA.search(text) for text in _strings(node.msg)):
                region.reasons.append("the assert's message says it needs CUDA")


def enter_call(ctx: Context, node: cst.Call) -> None:
    """``non_blocking=x.is_cuda``: a question whose answer only tunes a copy may be the accelerator's."""
    guards = state(ctx)
    printed = isinstance(node.func, cst.Name) and node.func.value == "print"
    for arg in node.args:
        mark_bare(ctx, arg.value)
        if printed:
            portable(ctx, arg.value)
        if arg.keyword is not None and arg.keyword.value in TUNING_KEYWORDS:
            portable(ctx, arg.value)


def enter_store(ctx: Context, node: cst.CSTNode) -> None:
    """``use_cuda = torch.cuda.is_available()``, ``self.on_gpu = x.is_cuda``: a question stored to be read
    by tests later. Its atoms are proposed like a guard's and decided when every read has been walked
    (``_decide_stored``); where the reads cannot all be found, it is a value (``propose``)."""
    value = getattr(node, "value", None)
    if value is None:
        return
    if isinstance(node, cst.Assign):
        if len(node.targets) != 1:
            return
        target = node.targets[0].target
    else:
        target = node.target  # type: ignore[attr-defined]
    found: List[Tuple[cst.CSTNode, bool, bool]] = []
    _atoms(ctx, value, True, True, found)
    if not found or not all(positive for _, positive, _ in found):
        return  # `on_cpu = not x.is_cuda`: not followed
    where = stored_reads.reads(ctx, target)
    if where is None:
        return
    guards = state(ctx)
    region = Region(findings_from=len(ctx.findings), fixes_from=len(ctx.fixes))
    stored = Stored(where.spelled, region, len(where.tests))
    for read in where.tests:
        guards.stored_uses[id(read)] = stored
    for atom, _, bare in found:
        guards.atoms[id(atom)] = Atom(atom, region, bare, ctx.current_top)
    guards.holders.setdefault(id(node), []).append(region)
    guards.stored_at.setdefault(id(where.end), []).append(stored)


def portable(ctx: Context, expr: cst.BaseExpression) -> None:
    """The questions in ``expr`` only tune a copy or are printed: the accelerator's answer is right."""
    found: List[Tuple[cst.CSTNode, bool, bool]] = []
    _atoms(ctx, expr, True, True, found)
    state(ctx).portable.update(id(atom) for atom, _, _ in found)


def enter_comparison(ctx: Context, node: cst.Comparison) -> None:
    found = question_operand(ctx, node)
    if found is not None:
        state(ctx).questions.add(id(found[0]))
    elif (
        len(node.comparisons) == 1
        and isinstance(node.comparisons[0].operator, (cst.Equal, cst.NotEqual))
        and _is_cuda_read(node.left)
        and _is_cuda_read(node.comparisons[0].comparator)
    ):
        # `a.is_cuda == b.is_cuda` asks "same kind of device?": both accelerator answers keep it.
        state(ctx).portable.update((id(node.left), id(node.comparisons[0].comparator)))


def _register(ctx: Context, guards: Guards, atom: cst.CSTNode, bare: bool, parts: Sequence[cst.CSTNode], holder: cst.CSTNode, end: cst.CSTNode) -> Region:
    region = Region(findings_from=len(ctx.findings), fixes_from=len(ctx.fixes))
    for part in parts:
        _scan(ctx, part, region)
    if region.checks and region.back_to_cpu:
        region.reasons.append("a check of results brought back with `.cpu()` against the CPU's (on the CPU accelerator "
                              "it compares the CPU with itself; elsewhere it tests kernels the project may only have for CUDA)")
    guards.atoms[id(atom)] = Atom(atom, region, bare, ctx.current_top)
    stored = guards.stored_uses.get(id(atom))
    if stored is not None:
        region.stored = stored
        stored.seen += 1
    guards.decide_at.setdefault(id(end), []).append(region)
    guards.holders.setdefault(id(holder), []).append(region)
    return region


def _leaves(node: cst.CSTNode, kinds: Tuple[type, ...]) -> List[cst.CSTNode]:
    """Every node of ``kinds`` in ``node`` (not below them); tests and messages are small."""
    out: List[cst.CSTNode] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, kinds):
            out.append(item)
        else:
            stack.extend(item.children)
    return out


def _says_cuda(suite: cst.CSTNode, pattern: "re.Pattern[str]" = SAYS_CUDA) -> bool:
    """A ``raise``/``assert`` message in ``suite``'s last statement that names CUDA."""
    body = getattr(suite, "body", ())
    last = body[-1] if body else None
    smalls = last.body if isinstance(last, cst.SimpleStatementLine) else body if isinstance(suite, cst.SimpleStatementSuite) else ()
    for small in smalls:
        if isinstance(small, (cst.Raise, cst.Assert)):
            if any(pattern.search(text) for text in _strings(small)):
                return True
    return False


def _strings_values(node: cst.CSTNode) -> Set[str]:
    values = (leaf.evaluated_value for leaf in _leaves(node, (cst.SimpleString,)))  # type: ignore[attr-defined]
    return {value for value in values if isinstance(value, str)}


def _strings(node: cst.CSTNode) -> List[str]:
    return [leaf.value for leaf in _leaves(node, (cst.SimpleString, cst.FormattedStringText))]  # type: ignore[attr-defined]


# -- scanning a region ----------------------------------------------------------------------
def _dotted(node: cst.CSTNode) -> str:
    parts: List[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
    return ".".join(reversed(parts))


def _has_integer(node: cst.CSTNode) -> bool:
    if isinstance(node, cst.Integer):
        return True
    return any(_has_integer(child) for child in node.children)


NOT_RUN = (cst.FunctionDef, cst.ClassDef)


class _Scanner(cst.CSTVisitor):
    """Collects a region's reasons and candidates in one walk that passes over layout nodes."""

    def __init__(self, ctx: Context, region: Region) -> None:
        super().__init__()
        self.ctx = ctx
        self.region = region
        self.path: List[int] = []
        # Names that are no references (attribute names, keywords): never resolved.
        self.not_refs: Set[int] = set()
        self.compared = 0  # how many comparisons the walk is inside

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.path.pop()
        if type(original_node) is cst.Comparison:
            self.compared -= 1

    def on_visit(self, node: cst.CSTNode) -> bool:
        ctx, region = self.ctx, self.region
        key = id(node)
        region.ids.add(key)
        self.path.append(key)
        kind = type(node)
        if kind in NOT_RUN:
            # A def or class runs nothing that a guard protects here (and a sparse parse stubs trigger-free
            # ones, so reading their bodies would make the answer depend on the parse): judged where called.
            return False
        if kind is cst.Import:
            for alias in node.names:  # type: ignore[attr-defined]
                reason = module_reason(_dotted(alias.name))
                if reason:
                    region.reasons.append(reason)
            return False
        if kind is cst.ImportFrom:
            module = _dotted(node.module) if node.module else ""  # type: ignore[attr-defined]
            reason = module_reason(module)
            if reason is None and not isinstance(node.names, cst.ImportStar):  # type: ignore[attr-defined]
                for alias in node.names:  # type: ignore[attr-defined]
                    reason = reason or module_reason(_dotted(alias.name))
            if reason:
                region.reasons.append(reason)
            return False
        if kind is cst.Arg:
            if node.keyword is not None:  # type: ignore[attr-defined]
                self.not_refs.add(id(node.keyword))  # type: ignore[attr-defined]
        elif kind is cst.Name or kind is cst.Attribute:
            if key in self.not_refs:
                return False
            qname = ctx.qname(node)
            if qname is None:
                return self._own(node)
            reason = qname_reason(qname)
            if reason:
                region.reasons.append(reason)
            elif qname == "torch.cuda" or qname.startswith("torch.cuda."):
                region.candidates.append((node, tuple(self.path), f"`{qname}`"))
            elif qname in HALF:
                region.reasons.append(f"`{qname}`, a dtype chosen for CUDA (other backends prefer bfloat16)")
            return False
        elif kind is cst.Assert:
            if any(ctx.qname(call.func) == DEVICE_COUNT for call in _calls(node.test)):  # type: ignore[attr-defined]
                region.reasons.append("an assert on `torch.cuda.device_count()` (the CPU accelerator counts one device)")
        elif kind is cst.Call:
            self._call(node)  # type: ignore[arg-type]
        elif kind is cst.Comparison:
            self.compared += 1
        elif kind is cst.SimpleString:
            value = _string(node)
            if value is not None:
                # A "nccl" compared is a question about the backend in use, left as written: not CUDA-only code.
                if _candidate_literal(value) and not (value.lower() == "nccl" and self.compared):
                    region.candidates.append((node, tuple(self.path), f"the literal {value!r}"))
                elif value == "gloo":
                    region.gloo = True
                elif "nvcc" in value:
                    region.reasons.append("an `nvcc` build step")
        elif kind is cst.FormattedString:
            first = node.parts[0] if node.parts else None  # type: ignore[attr-defined]
            if isinstance(first, cst.FormattedStringText) and first.value.startswith("cuda:"):
                region.candidates.append((node, tuple(self.path), "a CUDA device f-string"))
        return True

    def _own(self, node: cst.CSTNode) -> bool:
        """A name of this module (or ``self.method``) that reaches CUDA-only code; whether to walk on."""
        ctx = self.ctx
        reason = None
        if isinstance(node, cst.Name):
            if _module_bound(ctx, node.value) and node.value in facts_of(ctx).names:
                reason = facts_of(ctx).name_reason(node.value)
        else:
            self.not_refs.add(id(node.attr))  # type: ignore[attr-defined]
            value = node.value  # type: ignore[attr-defined]
            cls = _class_name(ctx) if isinstance(value, cst.Name) and value.value == "self" else None
            if cls is not None:
                reason = facts_of(ctx).method_reason(cls, node.attr.value)  # type: ignore[attr-defined]
        if reason:
            self.region.reasons.append(reason)
        return isinstance(node, cst.Attribute)

    def _call(self, node: cst.Call) -> None:
        ctx, region = self.ctx, self.region
        func = node.func
        if isinstance(func, (cst.Name, cst.Attribute)):
            positional = sum(1 for arg in node.args if arg.keyword is None and not arg.star)
            reason = call_reason(ctx.qname(func), positional, positional != len(node.args))
            if reason:
                region.reasons.append(reason)
        method = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
        if method == "cuda" and isinstance(func, cst.Attribute):
            region.candidates.append((node, tuple(self.path), "a `.cuda()` call"))
        elif method == "pin_memory" and isinstance(func, cst.Attribute) and not node.args:
            region.candidates.append((node, tuple(self.path), "a `.pin_memory()` call (needs an accelerator)"))
        elif method == "record_stream":
            region.reasons.append("`Tensor.record_stream`, a CUDA stream's bookkeeping")
        elif method in PARITY_CHECKS:
            region.checks = True
        elif method == "cpu" and isinstance(func, cst.Attribute) and not node.args:
            region.back_to_cpu = True
        elif method == "half" and not node.args:
            region.reasons.append("`.half()`, float16 chosen for CUDA (other backends prefer bfloat16)")
        elif method is not None and CUDA_WORDS.search(method) and ctx.qname(func) is None:
            # A project helper named for CUDA (imported ones are judged by their qualified name).
            region.reasons.append(f"`{method}()`, CUDA-specific by its name")
        for arg in node.args:
            word = arg.keyword.value if arg.keyword is not None else None
            if word is None:
                continue
            if word == "fused" and isinstance(arg.value, cst.Name) and arg.value.value == "True":
                region.reasons.append("`fused=True`, a fused kernel most backends lack")
            elif word == "pin_memory" and isinstance(arg.value, cst.Name) and arg.value.value == "True":
                region.candidates.append((arg.value, (*self.path, id(arg), id(arg.value)), "`pin_memory=True`"))
            elif word == "device_map" and _has_integer(arg.value):
                region.reasons.append("a `device_map` of CUDA device numbers")
            elif word == "device_ids" and method == "barrier":
                region.reasons.append("`barrier(device_ids=...)`, which only NCCL takes")


def _calls(node: cst.CSTNode) -> List[cst.Call]:
    """Every call in ``node`` (an assert's test: small)."""
    out: List[cst.Call] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.Call):
            out.append(item)
        stack.extend(item.children)
    return out


def _module_bound(ctx: Context, name: str) -> bool:
    """``name`` here means a binding of the module's own (a def, an assignment, a relative import), not a
    local, a builtin or an absolute import (those resolve to a qualified name)."""
    scope: Optional[Scope] = ctx.scope
    first = True
    while scope is not None and not scope.is_module:
        if name in scope.globals_:
            break
        if not (scope.is_class and not first) and (name in scope.bound or name in scope.imports):
            return False
        first = False
        scope = scope.parent
    return name in ctx.scopes.root.bound


def _class_name(ctx: Context) -> Optional[str]:
    """The class whose method is being walked (``self.X`` belongs to it)."""
    scope: Optional[Scope] = ctx.scope
    while scope is not None and not scope.is_class:
        scope = scope.parent
    node = scope.node if scope is not None else None
    return node.name.value if isinstance(node, cst.ClassDef) else None


def _scan(ctx: Context, node: cst.CSTNode, region: Region) -> None:
    tree_walk.visit(node, _Scanner(ctx, region))


# -- proposals and decisions -----------------------------------------------------------------
def propose(ctx: Context, rule: object, original: cst.CSTNode, updated: cst.CSTNode, replacement: cst.CSTNode, what: str) -> Optional[cst.CSTNode]:
    """The replacement a rule may return for a question atom (``original``), or None to leave it.

    ``what`` names the question for a finding. Atoms in a guard get the replacement provisionally
    (``leave`` may take it back); questions whose value goes elsewhere are left and reported, except
    ``is_available()``, which becomes the CUDA question (call ``available_value``)."""
    guards = ctx.notes.get(NOTES_KEY)
    key = id(original)
    if guards is not None:
        atom = guards.atoms.get(key)  # type: ignore[attr-defined]
        if atom is not None:
            atom.rule, atom.replacement, atom.restore, atom.what = rule, replacement, updated, what
            atom.region.atoms.append(atom)
            return replacement
        if key in guards.portable:  # type: ignore[attr-defined]
            return replacement
    ctx.report(rule, original, f"{what} is used as a value whose effect cannot be followed: left as a CUDA question "
               "(the accelerator's answer is true on the CPU too); where everything it steers runs on any backend, "
               "write the accelerator question by hand")
    return None


def watch(ctx: Context, rule: object, original: cst.CSTNode, what: str) -> None:
    """A question left as written (``backend == "nccl"`` is already right on every backend): reported
    when the walk leaves its region only if what it guards stays CUDA-only."""
    guards = ctx.notes.get(NOTES_KEY)
    atom = guards.atoms.get(id(original)) if guards is not None else None  # type: ignore[attr-defined]
    if atom is not None:
        atom.rule, atom.what, atom.watch = rule, what, True
        atom.region.atoms.append(atom)


def is_guard_atom(ctx: Context, node: cst.CSTNode) -> bool:
    """``node`` is a question in a guard, or one whose answer only tunes a copy: hand it to ``propose``."""
    guards = ctx.notes.get(NOTES_KEY)
    return guards is not None and (id(node) in guards.atoms or id(node) in guards.portable)  # type: ignore[attr-defined]


def is_question(ctx: Context, node: cst.CSTNode) -> bool:
    """A ``"cuda"``/``"nccl"`` literal compared with a device or backend."""
    guards = ctx.notes.get(NOTES_KEY)
    return guards is not None and id(node) in guards.questions  # type: ignore[attr-defined]


def available_value(ctx: Context, original: cst.CSTNode, replacement: cst.Call) -> cst.CSTNode:
    """``torch.cuda.is_available()``: the accelerator question in a guard whose region is portable
    (decided later) or in a copy-tuning keyword; elsewhere the CUDA question."""
    guards = ctx.notes.get(NOTES_KEY)
    if guards is not None:
        atom = guards.atoms.get(id(original))  # type: ignore[attr-defined]
        if atom is not None:
            atom.replacement, atom.restore = replacement, None
            atom.region.atoms.append(atom)
            return replacement
        if id(original) in guards.portable:  # type: ignore[attr-defined]
            return replacement
    return _cuda_question(ctx, replacement, parens=guards is None or id(original) not in guards.bare)  # type: ignore[attr-defined]


def _cuda_question(ctx: Context, like: cst.CSTNode, parens: bool) -> cst.BaseExpression:
    expr = cst.Comparison(
        left=ctx.accel_call("device_name"),
        comparisons=[cst.ComparisonTarget(operator=cst.Equal(), comparator=cst.SimpleString('"cuda"'))],
    )
    lpar = getattr(like, "lpar", ())
    if lpar:
        return expr.with_changes(lpar=like.lpar, rpar=like.rpar)  # type: ignore[attr-defined]
    if parens:
        return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expr


def leave_holder(ctx: Context, original: cst.CSTNode, updated: cst.CSTNode) -> None:
    """Remember the rebuilt node whose ``test`` holds atoms, then decide what ends here."""
    guards = ctx.notes.get(NOTES_KEY)
    if guards is None:
        return
    for region in guards.holders.pop(id(original), ()):  # type: ignore[attr-defined]
        region.holder = updated
    leave(ctx, original)


def leave(ctx: Context, original: cst.CSTNode) -> None:
    guards = ctx.notes.get(NOTES_KEY)
    if guards is None:
        return
    for region in guards.decide_at.pop(id(original), ()):  # type: ignore[attr-defined]
        if region.stored is not None and region.stored.reason is None:
            region.stored.reason = _cuda_only(ctx, region)
        if region.atoms:
            _decide(ctx, region)
    for stored in guards.stored_at.pop(id(original), ()):  # type: ignore[attr-defined]
        _decide_stored(ctx, stored)


def _cuda_only(ctx: Context, region: Region) -> Optional[str]:
    """Why the region stays CUDA-only, or None where everything in it is ported or portable."""
    if region.reasons:
        return region.reasons[0]
    for site in ctx.findings[region.findings_from :]:
        if id(site.node) in region.ids:
            return f"`{ctx.code(site.node).strip()[:60]}`, which {site.rule} reports"
    if region.candidates:
        fixed = {id(site.node) for site in ctx.fixes[region.fixes_from :]}
        for node, path, what in region.candidates:
            if not any(key in fixed for key in path):
                return what
    return None


def _decide(ctx: Context, region: Region) -> None:
    reason = _cuda_only(ctx, region)
    if reason is None:
        if region.gloo:
            for atom in region.atoms:
                if atom.watch:
                    ctx.report(atom.rule, atom.node, f"{atom.what} chooses gloo for what NCCL cannot carry (CPU tensors); "
                               "other accelerators' backends (xccl, hccl) cannot either, yet answer no: left as written; "
                               "compare with `get_accelerator().communication_backend_name()` where the accelerator's "
                               "own backend is meant", atom.top)
        return
    for atom in region.atoms:
        if atom.watch:
            ctx.report(atom.rule, atom.node, f"{atom.what} guards CUDA-only code ({reason}): left as written, so only "
                       "NCCL (CUDA) runs take that branch, as before; port that code by hand where another backend needs it",
                       atom.top)
    _restore(ctx, region, "test", f"guards CUDA-only code ({reason})")


def _decide_stored(ctx: Context, stored: Stored) -> None:
    """Every test that reads the stored question has been decided: the question follows them."""
    if not stored.value.atoms:
        return
    if stored.seen != stored.expected:
        # A read the walk met before the assignment (a loop) or never walks: its region is unknown.
        why = f"is stored in `{stored.spelled}`, whose reads cannot all be followed"
    elif stored.reason is not None:
        why = f"is stored in `{stored.spelled}`, which guards CUDA-only code ({stored.reason})"
    else:
        return
    _restore(ctx, stored.value, "value", why)


def _restore(ctx: Context, region: Region, where: str, why: str) -> None:
    """Back to CUDA questions: the atoms in ``region.holder``'s ``where`` field."""
    holder = region.holder
    if holder is None:
        return
    test = getattr(holder, where)
    for atom in region.atoms:
        if atom.replacement is None or atom.watch:
            continue
        if atom.restore is None:  # is_available(): the CUDA question
            new = _cuda_question(ctx, atom.replacement, parens=not atom.bare)
            test = _swap(test, atom.replacement, new)
            for site in ctx.fixes:
                if site.replacement is atom.replacement:
                    site.replacement = new
                    break
        else:
            test = _swap(test, atom.replacement, atom.restore)
            ctx.fixes[:] = [site for site in ctx.fixes if site.replacement is not atom.replacement]
            ctx.report(atom.rule, atom.node, f"{atom.what} {why}: left as a CUDA question; port that code, then this guard",
                       atom.top)
    object.__setattr__(holder, where, test)


def _swap(tree: cst.CSTNode, old: Optional[cst.CSTNode], new: cst.CSTNode) -> cst.CSTNode:
    if old is None:
        return tree
    return replace.replace(tree, old, new)


def mark_bare(ctx: Context, expr: Optional[cst.BaseExpression]) -> None:
    """``is_available()`` calls that are a whole value (or an operand of and/or/not) there: their CUDA
    question needs no parentheses."""
    if expr is None:
        return
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        mark_bare(ctx, expr.expression)
    elif isinstance(expr, cst.BooleanOperation):
        mark_bare(ctx, expr.left)
        mark_bare(ctx, expr.right)
    elif isinstance(expr, cst.Call) and not expr.args and ctx.qname(expr.func) == AVAILABLE:
        state(ctx).bare.add(id(expr))


class GuardHooks:
    """The walk hooks every rule that rewrites a question carries. The first such rule to see a file
    runs them; for the others each hook returns at once."""

    def _runs(self, ctx: Context) -> bool:
        guards = state(ctx)
        if guards.owner is None:
            guards.owner = self
        return guards.owner is self

    def visit_Module(self, ctx: Context, node: cst.Module) -> None:
        if self._runs(ctx):
            enter_block(ctx, node)

    def leave_Module(self, ctx: Context, original: cst.Module, updated: cst.Module) -> None:
        if self._runs(ctx):
            leave(ctx, original)

    def visit_IndentedBlock(self, ctx: Context, node: cst.IndentedBlock) -> None:
        if self._runs(ctx):
            enter_block(ctx, node)

    def leave_IndentedBlock(self, ctx: Context, original: cst.IndentedBlock, updated: cst.IndentedBlock) -> None:
        if self._runs(ctx):
            leave(ctx, original)

    def visit_If(self, ctx: Context, node: cst.If) -> None:
        if self._runs(ctx):
            enter_if(ctx, node)

    def leave_If(self, ctx: Context, original: cst.If, updated: cst.If) -> None:
        if self._runs(ctx):
            leave_holder(ctx, original, updated)

    def visit_IfExp(self, ctx: Context, node: cst.IfExp) -> None:
        if self._runs(ctx):
            enter_test(ctx, node)

    def leave_IfExp(self, ctx: Context, original: cst.IfExp, updated: cst.IfExp):
        if self._runs(ctx):
            leave_holder(ctx, original, updated)
        return None

    def visit_While(self, ctx: Context, node: cst.While) -> None:
        if self._runs(ctx):
            enter_test(ctx, node)

    def leave_While(self, ctx: Context, original: cst.While, updated: cst.While) -> None:
        if self._runs(ctx):
            leave_holder(ctx, original, updated)

    def visit_Assert(self, ctx: Context, node: cst.Assert) -> None:
        if self._runs(ctx):
            enter_test(ctx, node)

    def leave_Assert(self, ctx: Context, original: cst.Assert, updated: cst.Assert) -> None:
        if self._runs(ctx):
            leave_holder(ctx, original, updated)

    def visit_Comparison(self, ctx: Context, node: cst.Comparison) -> None:
        if self._runs(ctx):
            enter_comparison(ctx, node)

    def visit_Call(self, ctx: Context, node: cst.Call) -> None:
        if self._runs(ctx):
            enter_call(ctx, node)

    def visit_FormattedStringExpression(self, ctx: Context, node: cst.FormattedStringExpression) -> None:
        if self._runs(ctx):
            portable(ctx, node.expression)

    def visit_Assign(self, ctx: Context, node: cst.Assign) -> None:
        if self._runs(ctx):
            mark_bare(ctx, node.value)
            enter_store(ctx, node)

    def leave_Assign(self, ctx: Context, original: cst.Assign, updated: cst.Assign) -> None:
        if self._runs(ctx):
            leave_holder(ctx, original, updated)

    def visit_AnnAssign(self, ctx: Context, node: cst.AnnAssign) -> None:
        if self._runs(ctx):
            mark_bare(ctx, node.value)
            enter_store(ctx, node)

    def leave_AnnAssign(self, ctx: Context, original: cst.AnnAssign, updated: cst.AnnAssign) -> None:
        if self._runs(ctx):
            leave_holder(ctx, original, updated)

    def visit_Return(self, ctx: Context, node: cst.Return) -> None:
        if self._runs(ctx):
            mark_bare(ctx, node.value)
