"""A progress bar for long runs: rich, on stderr, only when stderr is a terminal; silent otherwise."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, TextIO

# Below this many files a run is over before a bar would be worth drawing.
MIN_FILES = 50


def wanted(total: int, stream: Optional[TextIO] = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    try:
        is_tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return is_tty and total > MIN_FILES


@contextmanager
def progress(total: int, label: str = "files", stream: Optional[TextIO] = None) -> Iterator[Callable[[], None]]:
    """Yields ``advance()``: call it once per finished file. Draws only when ``wanted``."""
    if not wanted(total, stream):
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=stream if stream is not None else sys.stderr)
    with Progress(
        TextColumn("accelport"), BarColumn(), MofNCompleteColumn(), TextColumn(label), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
