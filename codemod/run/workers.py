"""Pool workers that end with their parent, and how many of them are worth starting.

A parent killed outright (the OOM killer, a CI timeout, kill -9) cannot shut its pool down. Its workers
would go on rewriting the files queued to them and keep the parent's stdout and stderr open, so the
caller waiting on those pipes hangs. Each worker therefore asks Linux to kill it when the parent dies
(``PR_SET_PDEATHSIG``) and, everywhere, watches its parent's pid from a thread.

Where workers are forked, the parent imports LibCST and the rules before the pool starts (``preload``),
so that each worker inherits them instead of importing them again: that import is a good part of a
worker's start-up. Work goes to workers in small chunks: with large ones, the last chunk kept one
worker busy while the other had nothing left.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Sequence

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5
# Files per chunk handed to a worker, at most: a file costs milliseconds to hand over and hundreds to
# port, so chunks only need to be large enough to keep the queue fed.
MAX_CHUNK = 4


def cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def die_with(parent: int) -> None:
    """Pool initializer: end this worker as soon as process ``parent`` is gone."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes  # here: a run without a pool never pays for it

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # died before the request above was made
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="accelport-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(1)


def chunk_size(files: int, jobs: int) -> int:
    """Files per task: several tasks per worker, so that the last ones even out between workers."""
    return max(1, min(MAX_CHUNK, files // (jobs * 8)))


def preload(sources: Sequence, settings) -> None:
    """Import what porting a file needs, here in the parent, when workers will be forked from it and
    some file may need it (a run over trigger-free files still never imports LibCST)."""
    import multiprocessing

    if multiprocessing.get_start_method(allow_none=False) != "fork" or not _any_may_match(sources, settings):
        return
    import accelport.codemod.engine.pipeline  # noqa: F401 - LibCST, the engine and the rule modules
    from accelport.rules.registry import rules_for

    rules_for(settings)


def _any_may_match(sources: Sequence, settings) -> bool:
    """Whether some source holds a trigger of a selected rule (read here only until one does)."""
    from accelport.codemod.files.read import SourceError, read_bounded
    from accelport.rules.registry import may_match

    for source in sources:
        if source.path.suffix == ".ipynb":
            return True
        try:
            _, data = read_bounded(source.path, settings.max_file_size)
        except (OSError, SourceError):
            continue
        # Triggers are ASCII: latin-1 finds them in any ASCII-compatible encoding and never fails.
        if may_match(data.decode("latin-1"), settings):
            return True
    return False
