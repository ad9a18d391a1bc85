"""Run the CLI in this process, as the console script would, and capture what it prints.

Faster than a subprocess for the many tests that only need exit code, stdout and stderr; the contract
of the real console script (from a temporary folder) is tested in tests/test_cli.py.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from typing import Optional, Sequence


@dataclass(frozen=True)
class Invocation:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout, then stderr."""
        return self.stdout + self.stderr


def invoke(args: Sequence[str], prog: str = "accelport", command: Optional[str] = None) -> Invocation:
    """``accelport ARGS`` (or ``command`` with ``args`` as its arguments); exceptions propagate."""
    from accelport.codemod.frontends.cli import dispatch

    streams = [io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape") for _ in range(2)]
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = streams
    try:
        code = dispatch(list(args), prog=prog, command=command)
    finally:
        sys.stdout, sys.stderr = saved
    texts = []
    for stream in streams:
        stream.flush()
        texts.append(stream.buffer.getvalue().decode("utf-8", "replace"))  # type: ignore[attr-defined]
    return Invocation(code, *texts)
