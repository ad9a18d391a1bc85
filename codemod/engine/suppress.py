"""Suppression comments: ``# accelport: ignore``, ``# accelport: ignore[rule, ...]`` (names or codes),
``#ignore-cuda`` (DeepSpeed's marker) and the file-level ``# accelport: ignore-file``.

A line marker silences findings on any line the flagged expression spans, so a marker at the end of a
multi-line call works."""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Optional, Set, Tuple

ALL = frozenset({"*"})
_LINE = re.compile(r"#\s*accelport:\s*ignore(?!-file)(?:\[(?P<rules>[^\]]*)\])?|#\s*ignore-cuda\b")
_FILE = re.compile(r"#\s*accelport:\s*ignore-file\b")
# Cheap test before tokenizing: most files carry no marker at all.
_ANY = re.compile(r"accelport:\s*ignore|ignore-cuda")


@dataclass
class Suppressions:
    by_line: Dict[int, FrozenSet[str]] = field(default_factory=dict)
    whole_file: bool = False
    used: Set[Tuple[int, str]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.by_line) or self.whole_file

    def covers(self, first_line: int, last_line: int, rule: str) -> bool:
        """True when a marker on any line the node spans silences ``rule``; records the use."""
        if self.whole_file:
            return True
        for line in range(first_line, last_line + 1):
            rules = self.by_line.get(line)
            if rules is None:
                continue
            if rules is ALL or rule in rules:
                self.used.add((line, "*" if rules is ALL else rule))
                return True
        return False

    def marked(self, first_line: int, last_line: int) -> bool:
        """True when any marker, for any rule, sits on these lines (not recorded as a use)."""
        if self.whole_file:
            return True
        return any(line in self.by_line for line in range(first_line, last_line + 1))

    def unused(self) -> list:
        """Markers that silenced nothing: ``(line, rule-or-*)``, for ``--report-unused-suppressions``."""
        out = []
        for line, rules in sorted(self.by_line.items()):
            names = ["*"] if rules is ALL else sorted(rules)
            out.extend((line, name) for name in names if (line, name) not in self.used)
        return out


def _name(rule: str) -> str:
    """A rule code (``AP101``) as its name (``torch-cuda-call``); names and unknown words as written."""
    from accelport.rules.registry import NAME_OF_CODE

    return NAME_OF_CODE.get(rule.upper(), rule)


def parse(text: str) -> Suppressions:
    """Markers found in real comments only; a marker inside a string literal does not count."""
    found = Suppressions()
    if not _ANY.search(text):
        return found
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return found
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        if _FILE.search(tok.string):
            found.whole_file = True
            continue
        match = _LINE.search(tok.string)
        if match is None:
            continue
        rules: Optional[str] = match.group("rules") if match.groupdict().get("rules") is not None else None
        if rules is None:
            found.by_line[tok.start[0]] = ALL
        else:
            names = frozenset(_name(r.strip()) for r in rules.split(",") if r.strip())
            previous = found.by_line.get(tok.start[0], frozenset())
            found.by_line[tok.start[0]] = ALL if previous is ALL else previous | names
    return found
