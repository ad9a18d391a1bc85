"""The rule interface. A rule is a stateless object with hook methods named after LibCST node types:

- ``visit_<Node>(ctx, node)``: runs top-down; claim children here (``ctx.claim``) when the rule will
  rewrite them as part of this node.
- ``leave_<Node>(ctx, original, updated) -> node | None``: runs bottom-up; return a replacement to
  rewrite, or None. Decide from ``original`` (names and roles are keyed by the original tree) and
  build from ``updated`` (its children may already be ported).

Rules never print: findings go through ``ctx.report``. The docstring is the user documentation, in
ruff's sections (What it does / Why is this bad? / Example / Use instead / Fix safety); its first line
is the summary that ``accelport rules`` and the README's table show.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import ClassVar, Tuple


class Rule:
    NAME: ClassVar[str]
    CODE: ClassVar[str]
    # Substrings of which at least one must appear in a file for this rule to possibly match.
    TRIGGERS: ClassVar[Tuple[str, ...]]
    FIXES: ClassVar[bool] = True
    DEFAULT: ClassVar[bool] = True

    @classmethod
    def summary(cls) -> str:
        return _summary(cls)

    @classmethod
    def doc(cls) -> str:
        return inspect.getdoc(cls) or ""


@lru_cache(maxsize=None)
def _summary(cls: type) -> str:
    """The docstring's first line; asked for once per rewritten site, so worked out once per rule."""
    doc = inspect.getdoc(cls) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


@lru_cache(maxsize=None)
def for_runtime(cls: type, runtime: str) -> Rule:
    """One instance of ``cls`` per ``--runtime``, for rules whose output depends on it: their
    ``configured(settings)`` returns it (``registry.rules_for`` calls that once per file)."""
    rule = cls()
    rule.runtime = runtime  # type: ignore[attr-defined]
    return rule


def keep_parens(new, old):
    """Carry the parentheses around ``old`` over to its replacement."""
    lpar = getattr(old, "lpar", None)
    if lpar and hasattr(new, "lpar"):
        return new.with_changes(lpar=old.lpar, rpar=old.rpar)
    return new


def is_module_ref(ctx, node) -> bool:
    """True when ``node`` names an imported module or object (``torch``, ``numba``), not a value."""
    return ctx.qname(node) is not None
