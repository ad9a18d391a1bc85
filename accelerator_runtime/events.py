"""Timing events that work under every runtime: what ``accelport rewrite --runtime deepspeed`` writes for
``torch.cuda.Event(...)``.

Training code times steps with ``start = torch.cuda.Event(enable_timing=True) ... start.elapsed_time(end)``.
DeepSpeed's CPU accelerator has no event class (``get_accelerator().Event`` is ``None``), so the plain
port ``get_accelerator().Event(enable_timing=True)`` raises ``TypeError`` there. ``make_event`` asks the
accelerator first and falls back to a host-clock event only where the accelerator has none or times
on the host (``use_host_timers()``, which is what DeepSpeed's own timers check): on CUDA it returns
exactly ``torch.cuda.Event(...)``, so the port changes nothing there.

This module imports torch only when a host-clock event is made.
"""

from __future__ import annotations

from typing import Any


def make_event(accelerator: Any, *args: Any, **kwargs: Any) -> Any:
    """``accelerator.Event(*args, **kwargs)``, or a host-clock event (``record``, ``query``,
    ``synchronize``, ``wait``, ``elapsed_time`` in milliseconds) where ``accelerator.Event`` is None or
    the accelerator times on the host. ``accelerator`` is any runtime's ``get_accelerator()``."""
    event_class = getattr(accelerator, "Event", None)
    if event_class is not None and not _host_timed(accelerator):
        return event_class(*args, **kwargs)
    from accelport.accelerator_runtime.cpu_parts import CpuEvent

    return CpuEvent(*args, **kwargs)


def _host_timed(accelerator: Any) -> bool:
    use_host_timers = getattr(accelerator, "use_host_timers", None)
    return bool(use_host_timers()) if callable(use_host_timers) else False
