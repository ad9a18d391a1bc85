"""Colour for people at a terminal, never for pipes: what ruff colours, coloured the same way.

The report modules produce plain lines (what CI, pipes and the tests read); this module paints those
lines on their way to a terminal, so the plain text stays the single format. rich renders the styles
and is imported only when colour is on: a hook whose output is piped never pays for it.

Whether to colour: ``--color always|never`` wins; with ``auto`` (the default), ``NO_COLOR`` (set and
not empty) turns colour off, else ``FORCE_COLOR`` (set and not empty) turns it on, else colour when
the stream is a terminal.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import IO, Callable, Optional

MODES = ("auto", "always", "never")

_FINDING = re.compile(r"^(?P<loc>.+?:\d+:\d+)(?P<sep>: )(?P<rule>[\w-]+)(?P<fix> \[\*\])?(?P<rest> .*)?$", re.S)
_STATISTIC = re.compile(r"^(?P<count>\s*\d+)(?P<gap>  )(?P<code>AP\d+)(?P<pad>\s*)(?P<rule>[\w-]+)(?P<fix> \[\*\])?$")
_RULE_ROW = re.compile(r"^(?P<code>AP\d+)(?P<gap>\s+)(?P<rule>[\w-]+)(?P<rest>\s.*)$", re.S)


def enabled(mode: str, stream: IO) -> bool:
    if mode == "always":
        return True
    if mode == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@lru_cache(maxsize=None)
def _style(name: str) -> Callable[[str], str]:
    from rich.color import ColorSystem
    from rich.style import Style

    style = Style.parse(name)
    return lambda text: style.render(text, color_system=ColorSystem.STANDARD)


class Painter:
    """Paints plain output lines; with ``on`` false every method returns its input unchanged."""

    def __init__(self, on: bool) -> None:
        self.on = on

    def __call__(self, text: str, style: str) -> str:
        return _style(style)(text) if self.on and text else text

    def _finding(self, match: "re.Match[str]") -> str:
        path, line, col = match["loc"].rsplit(":", 2)
        colon = self(":", "cyan")
        return (
            self(path, "bold") + colon + line + colon + col + colon + " "
            + self(match["rule"], "bold red") + self(match["fix"] or "", "cyan") + (match["rest"] or "")
        )  # fmt: skip

    def line(self, text: str) -> str:
        """A finding, an error, or a summary line, painted by what it is."""
        if not self.on:
            return text
        if text.startswith("error:"):
            return self("error:", "bold red") + text[len("error:") :]
        match = _FINDING.match(text)
        if match and not text.startswith(" "):
            return self._finding(match)
        return text

    def heading(self, text: str) -> str:
        return self(text, "bold")

    def statistic(self, text: str) -> str:
        match = _STATISTIC.match(text) if self.on else None
        if not match:
            return self.heading(text) if self.on and text.strip().split()[1:2] == ["total"] else text
        return match["count"] + match["gap"] + self(match["code"], "red") + match["pad"] + self(match["rule"], "bold") + self(match["fix"] or "", "cyan")

    def rule_row(self, text: str) -> str:
        match = _RULE_ROW.match(text) if self.on else None
        if not match:
            return text
        return self(match["code"], "bold red") + match["gap"] + self(match["rule"], "cyan") + match["rest"]

    def diff(self, data: bytes) -> bytes:
        """A unified diff, line by line: headers bold, hunks cyan, removals red, additions green."""
        if not self.on:
            return data
        out = []
        for raw in data.splitlines(keepends=True):
            body, end = (raw[:-1], raw[-1:]) if raw.endswith(b"\n") else (raw, b"")
            style: Optional[str] = None
            if raw.startswith((b"--- ", b"+++ ")):
                style = "bold"
            elif raw.startswith(b"@@"):
                style = "cyan"
            elif raw.startswith(b"-"):
                style = "red"
            elif raw.startswith(b"+"):
                style = "green"
            if style is None:
                out.append(raw)
            else:
                text = body.decode("utf-8", "surrogateescape")
                out.append(self(text, style).encode("utf-8", "surrogateescape") + end)
        return b"".join(out)
