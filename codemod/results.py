"""Plain, picklable result records: what a worker process hands back to the parent."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Dict, List, Optional, Tuple


@dataclass(frozen=True, order=True)
class Finding:
    """One site a human should look at, or (``fixable``) one site ``rewrite`` ports."""

    path: str
    line: int
    col: int
    rule: str
    message: str
    code: str = ""
    fixable: bool = False
    fix: Optional[str] = None
    # Source text of the flagged expression's first line: the baseline fingerprint uses it.
    snippet: str = ""
    end_line: int = 0
    end_col: int = 0

    def location(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    def format(self) -> str:
        marker = " [*]" if self.fixable else ""
        return f"{self.location()}: {self.rule}{marker} {self.message}"


# Finding's own order (every field, in order) as a key: sorting tens of thousands of findings by it
# costs a fraction of calling the generated ``__lt__`` per comparison.
ORDER = attrgetter(*(f.name for f in fields(Finding)))


@dataclass
class FileResult:
    """What transforming one file produced. ``error`` set means the file must not be written."""

    path: str
    old_text: str = ""
    new_text: str = ""
    counts: Dict[str, int] = field(default_factory=dict)
    findings: List[Finding] = field(default_factory=list)
    fixes: List[Finding] = field(default_factory=list)
    error: Optional[str] = None
    unused_suppressions: List[Tuple[int, str]] = field(default_factory=list)
    # Old-text line ranges (1-based, inclusive) the rewrite may touch: the statements holding a rewritten
    # site and the top-level imports. None when they could not be worked out (then only parsing is checked).
    allowed_lines: Optional[List[Tuple[int, int]]] = None

    @property
    def changed(self) -> bool:
        return self.error is None and self.new_text != self.old_text
