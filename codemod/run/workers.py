"""Pool workers that end with their parent, and how many of them are worth starting.

A parent killed outright (the OOM killer, a CI timeout, kill -9) cannot shut its pool down. Its workers
would go on rewriting the files queued to them and keep the parent's stdout and stderr open, so the
caller waiting on those pipes hangs. Each worker therefore asks Linux to kill it when the parent dies
(``PR_SET_PDEATHSIG``) and, everywhere, watches its parent's pid from a thread.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5


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
