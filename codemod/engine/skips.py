"""Test skips: which tests run is a decision made for CUDA.

A test skipped when CUDA is missing (``if not torch.cuda.is_available(): self.skipTest(...)``,
``return unittest.skip(...)(fn)`` in a ``require_gpu`` helper, ``skipIf(...)``/``skipUnless(...)``/
``pytest.mark.skipif(...)`` conditions) was written for a CUDA machine: its author's question is "is
this CUDA?". The accelerator's answers (``is_available()``, ``device_count()``) are true or 1 on the CPU
accelerator, so asking them instead would run the CUDA test everywhere. The guards keep such questions
CUDA questions (codemod/engine/guards.py, codemod/engine/count_questions.py); this module only recognises the skips.
"""

from __future__ import annotations

from typing import Optional, Sequence

import libcst as cst

from accelport.codemod.engine.roles import terminal_name

# Calls whose first argument (or ``condition=``) decides whether a test runs.
SKIP_CONDITIONS = frozenset({"skipIf", "skipUnless", "skipif"})
# Calls that skip the test where they run, or build a decorator that does.
SKIP_CALLS = frozenset({"skip", "skipTest"})
# Exceptions that skip the test they are raised in.
SKIP_EXCEPTIONS = frozenset({"SkipTest", "Skipped"})
REASON = "a test skip: the test was written for CUDA, and the accelerator's answer would run it on the CPU too"


def is_skip_condition(call: cst.Call) -> bool:
    """``unittest.skipIf(...)``, ``skipUnless(...)``, ``pytest.mark.skipif(...)``."""
    return terminal_name(call.func) in SKIP_CONDITIONS


def _callee(expr: cst.BaseExpression) -> Optional[str]:
    """``skip`` for ``unittest.skip("...")`` and ``unittest.skip("...")(fn)``."""
    while isinstance(expr, cst.Call):
        name = terminal_name(expr.func)
        if name is not None:
            return name
        expr = expr.func
    return None


def is_skip(expr: Optional[cst.BaseExpression]) -> bool:
    """A call that skips, or builds a skip decorator (``pytest.skip(...)``, ``unittest.skip(...)(fn)``,
    ``unittest.skipUnless(...)``)."""
    if expr is None:
        return False
    name = _callee(expr)
    return name is not None and (name in SKIP_CALLS or name in SKIP_CONDITIONS)


def suite_skips(suite: Optional[cst.CSTNode]) -> bool:
    """The block skips the test: it ends with ``self.skipTest(...)``, ``pytest.skip(...)``,
    ``raise unittest.SkipTest(...)`` or ``return unittest.skip(...)(fn)``, or an ``if`` in it does."""
    if isinstance(suite, cst.Else):
        suite = suite.body
    if isinstance(suite, cst.IndentedBlock) and any(
        # ``if not cuda: if use_cuda_tensors: pytest.skip(...)``: a skip one condition further in.
        isinstance(statement, cst.If) and (suite_skips(statement.body) or suite_skips(statement.orelse))
        for statement in suite.body
    ):
        return True
    if isinstance(suite, cst.SimpleStatementSuite):
        smalls: Sequence[cst.BaseSmallStatement] = suite.body
    elif isinstance(suite, cst.IndentedBlock) and suite.body and isinstance(suite.body[-1], cst.SimpleStatementLine):
        smalls = suite.body[-1].body  # type: ignore[union-attr]
    else:
        return False
    if not smalls:
        return False
    last = smalls[-1]
    if isinstance(last, cst.Expr) or isinstance(last, cst.Return):
        return is_skip(last.value)
    if isinstance(last, cst.Raise) and last.exc is not None:
        exc = last.exc.func if isinstance(last.exc, cst.Call) else last.exc
        return terminal_name(exc) in SKIP_EXCEPTIONS
    return False
