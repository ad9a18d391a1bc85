"""Device-count questions: ``torch.cuda.device_count()`` compared with a number asks about GPUs.

``torch.cuda.device_count() == 0`` asks "no GPU?", ``== 1`` "exactly one?", ``> 1`` "several?".
``torch.cuda.device_count()`` is 0 off CUDA; the accelerator's ``device_count()`` is 1 on the CPU
accelerator and any number on other backends, so the same comparison of the accelerator's count sends
those machines down the side the original kept for CUDA machines. Such a comparison is a guard like
``torch.cuda.is_available()`` (codemod/engine/guards.py): the side that a count of 0 does not take is what it
protects, and its rewrite stands only where that is all ported or portable. Otherwise, and where the
comparison decides a test skip or is a value that cannot be followed (assigned, returned, passed on),
``torch.cuda.device_count()`` is left as written, which asks exactly the original question on every
machine, and reported.

In the last ``else`` of a chain that already asks about other backends (``elif is_xpu_available():``)
the count is left as written and reported: the author ported the chain, and there the count means CUDA
devices, 0 without them (codemod/engine/backend_chains.py).

A count used as a number (``world_size = torch.cuda.device_count()``, ``range(...)``, ``nprocs=``, a
comparison with another count) is no question: it is ported. So is a comparison used as a value that
cannot tell 0 from 1 (``torch.cuda.device_count() > 1``): the CPU accelerator answers it like a machine
without CUDA.
"""

from __future__ import annotations

import operator
from typing import Callable, Dict, Optional, Tuple

import libcst as cst

from accelport.codemod.engine import skips
from accelport.codemod.engine.backend_chains import chain_backend, last_else
from accelport.codemod.engine.ordinals import integer
from accelport.codemod.engine.context import Context

COUNT = "torch.cuda.device_count"
NOTES_KEY = "count-questions"
SKIP = "skip"
VALUE = "value"
CHAIN = "chain"  # in the last `else` of a chain that asks about other backends

_HOLDS: Dict[type, Callable[[int, int], bool]] = {
    cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt,
    cst.LessThanEqual: operator.le, cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
}  # fmt: skip


def _count_call(ctx: Context, node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and not node.args and ctx.qname(node.func) == COUNT


def question(ctx: Context, test: cst.CSTNode) -> Optional[Tuple[cst.CSTNode, bool, Callable[[int], bool]]]:
    """For ``torch.cuda.device_count()`` alone (its truth) or compared with a number: the reference to
    ``device_count`` (what torch-cuda-call rewrites), whether the comparison's true side is the one a
    count of 0 does not take, and the comparison as a function of the count."""
    if _count_call(ctx, test):
        return test.func, True, bool  # type: ignore[attr-defined]
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    holds = _HOLDS.get(type(test.comparisons[0].operator))
    right = test.comparisons[0].comparator
    if holds is None:
        return None
    if _count_call(ctx, test.left) and integer(right) is not None:
        number = integer(right)
        asks: Callable[[int], bool] = lambda count: holds(count, number)  # noqa: E731
        call = test.left
    elif _count_call(ctx, right) and integer(test.left) is not None:
        number = integer(test.left)
        asks = lambda count: holds(number, count)  # noqa: E731
        call = right
    else:
        return None
    return call.func, not asks(0), asks  # type: ignore[attr-defined]


def _kinds(ctx: Context) -> Dict[int, Tuple[str, str]]:
    return ctx.notes.setdefault(NOTES_KEY, {})  # type: ignore[return-value]


def _mark(ctx: Context, expr: cst.CSTNode, kind: str, where: Optional[cst.CSTNode] = None, backend: str = "") -> None:
    """Every ``torch.cuda.device_count()`` in ``expr`` gets ``kind``, with the text of the comparison
    it is in (``WORLD_SIZE > torch.cuda.device_count()`` asks about GPUs in a skip as much as ``< 2``),
    or for ``CHAIN`` the other backend the chain asks about."""
    if isinstance(expr, cst.Comparison):
        where = expr
    if _count_call(ctx, expr):
        kinds = _kinds(ctx)
        if kind != CHAIN or kinds.get(id(expr.func), ("",))[0] != CHAIN:  # an `elif` names a later backend
            kinds[id(expr.func)] = (kind, backend or ctx.code(where or expr).strip())  # type: ignore[attr-defined]
        return
    for child in expr.children:
        _mark(ctx, child, kind, where, backend)


def enter_call(ctx: Context, node: cst.Call) -> None:
    """Counts in a skip condition (``skipUnless(torch.cuda.device_count() > 1, ...)``)."""
    if skips.is_skip_condition(node):
        for arg in node.args:
            if arg.keyword is None or arg.keyword.value == "condition":
                _mark(ctx, arg.value, SKIP)


def enter_if(ctx: Context, node: cst.If) -> None:
    """Counts in the test of an ``if`` that skips (``if torch.cuda.device_count() < n: pytest.skip()``),
    and in the last ``else`` of a chain that asks about other backends."""
    if skips.suite_skips(node.body) or skips.suite_skips(node.orelse):
        _mark(ctx, node.test, SKIP)
    end = last_else(node)
    if end is not None:
        backend = chain_backend(node)
        if backend is not None:
            _mark(ctx, end.body, CHAIN, backend=backend)


def enter_comparison(ctx: Context, node: cst.Comparison) -> None:
    """A comparison that tells 0 from 1 (``== 0``, ``> 0``, ``== 1``): a question about GPUs wherever
    its value goes; one that does not (``> 1``) is a count the CPU accelerator answers like no GPU."""
    found = question(ctx, node)
    if found is not None:
        kind = VALUE if found[2](0) != found[2](1) else ""
        _kinds(ctx).setdefault(id(found[0]), (kind, ctx.code(node).strip()))


def kind_of(ctx: Context, node: cst.CSTNode) -> Tuple[str, str]:
    """(``SKIP``, ``VALUE`` or "" for a plain count, the comparison's text) for a ``device_count``
    reference; ("", "") where it is in no comparison."""
    return _kinds(ctx).get(id(node), ("", ""))


def left_message(kind: str, text: str) -> str:
    """The finding for a count question left as written (``SKIP``, ``VALUE`` or ``CHAIN``)."""
    if kind == CHAIN:
        return (f"`torch.cuda.device_count()` in the last `else` of a chain that already asks about {text}: left as "
                "written, where it counts CUDA devices and 0 on a machine without one, as the chain's author meant "
                "(the accelerator's count is 1 on the CPU); add a branch for any other backend by hand")
    if kind == SKIP:
        why, steered = "decides whether a test written for CUDA runs", "the test"
    else:
        why, steered = "asks whether there is a GPU, and its answer is used as a value whose effect cannot be followed", "everything it steers"
    return (f"`{text}` {why}: left as written (`torch.cuda.device_count()` is 0 off CUDA; the accelerator's count "
            f"is 1 on the CPU); where {steered} runs on any backend, ask `get_accelerator().device_count()` by hand")
