"""The pieces a CPU backend needs that PyTorch does not give it: timing events, streams, amp, ranges,
and memory statistics with a meaning."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, Dict, List, Optional

import torch

from accelport.accelerator_runtime.common import Amp, TensorType


class CpuEvent:
    """``torch.cuda.Event`` on the host clock: PyTorch's own CPU event raises on ``record()``.

    CPU work is synchronous, so an event is complete the moment it is recorded.
    """

    def __init__(self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False) -> None:
        self.enable_timing = enable_timing
        self._time: Optional[float] = None

    def record(self, stream: Any = None) -> None:
        self._time = time.perf_counter()

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        return None

    def wait(self, stream: Any = None) -> None:
        return None

    def elapsed_time(self, end_event: "CpuEvent") -> float:
        """Milliseconds from this event to ``end_event``, like CUDA's."""
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("elapsed_time needs both events created with enable_timing=True")
        if self._time is None or end_event._time is None:
            raise RuntimeError("elapsed_time needs both events recorded")
        return (end_event._time - self._time) * 1000.0


class CpuStream:
    """A stream whose work is always done; a context manager like ``torch.cuda.stream(s)``."""

    def __init__(self, device: Any = None, priority: int = 0, **kwargs: Any) -> None:
        self.device = torch.device("cpu")
        self.priority = priority

    def synchronize(self) -> None:
        return None

    def query(self) -> bool:
        return True

    def wait_stream(self, stream: Any) -> None:
        return None

    def wait_event(self, event: Any) -> None:
        return None

    def record_event(self, event: Optional[CpuEvent] = None) -> CpuEvent:
        event = event or CpuEvent()
        event.record(self)
        return event

    def __enter__(self) -> "CpuStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CpuStream)

    def __hash__(self) -> int:
        return hash(CpuStream)


DEFAULT_STREAM = CpuStream()


# bf16 is the CPU's fast low-precision type (fp16 autocast on CPU exists but is slow on most parts).
CPU_AMP = Amp("cpu", torch.bfloat16)


class Ranges:
    """``range_push``/``range_pop`` as ``torch.profiler`` ranges, one stack per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _stack(self) -> List[Any]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def push(self, msg: str) -> None:
        scope = torch.autograd.profiler.record_function(msg)
        scope.__enter__()
        self._stack().append(scope)

    def pop(self) -> None:
        stack = self._stack()
        if not stack:
            raise RuntimeError("range_pop() without a matching range_push()")
        stack.pop().__exit__(None, None, None)


def _page_size() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4096


def resident_bytes() -> int:
    """This process's resident set size, from /proc (Linux) or psutil elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _page_size()
    except (OSError, IndexError, ValueError):
        try:
            import psutil

            return int(psutil.Process().memory_info().rss)
        except Exception:  # noqa: BLE001 - no way to measure: report nothing rather than fail
            return 0


def machine_memory() -> Dict[str, int]:
    """Total and available memory of the machine in bytes."""
    try:
        values = {}
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                values[key] = int(rest.split()[0]) * 1024
        return {"total": values["MemTotal"], "available": values.get("MemAvailable", values.get("MemFree", 0))}
    except (OSError, KeyError, ValueError, IndexError):
        import psutil

        memory = psutil.virtual_memory()
        return {"total": int(memory.total), "available": int(memory.available)}


class MemoryTracker:
    """CUDA's memory statistics for the host: current is the resident set, peak is the largest value seen
    at any query since the last reset (sampling, so it can miss a short spike between queries)."""

    def __init__(self) -> None:
        self._peak = 0
        self._lock = threading.Lock()

    def current(self) -> int:
        now = resident_bytes()
        with self._lock:
            if now > self._peak:
                self._peak = now
        return now

    def peak(self) -> int:
        self.current()
        return self._peak

    def reset(self) -> None:
        with self._lock:
            self._peak = 0
        self.current()

    def stats(self) -> Dict[str, int]:
        current, peak = self.current(), self.peak()
        out: Dict[str, int] = {}
        for kind in ("allocated_bytes", "reserved_bytes", "active_bytes"):
            out[f"{kind}.all.current"] = current
            out[f"{kind}.all.peak"] = peak
        return out


@contextlib.contextmanager
def nothing(*args: Any, **kwargs: Any) -> Any:
    yield


def host_device_module(memory: MemoryTracker) -> Any:
    """The host dressed as a device module (``torch.cuda``'s member names), so that ``TorchAccelerator``
    serves a host device with the same code as any other: ``torch.cpu`` has no RNG, memory or timing
    members, and its Event cannot record."""
    import types

    return types.SimpleNamespace(
        is_available=lambda: True,
        device_count=lambda: 1,
        current_device=lambda: 0,
        set_device=lambda device: None,
        synchronize=lambda device=None: None,
        device=nothing,
        manual_seed=torch.manual_seed,
        manual_seed_all=torch.manual_seed,
        seed=torch.seed,
        seed_all=torch.seed,
        initial_seed=torch.initial_seed,
        get_rng_state=lambda device=None: torch.get_rng_state(),
        set_rng_state=lambda new_state, device=None: torch.set_rng_state(new_state),
        default_generators=(torch.default_generator,),
        Stream=CpuStream,
        Event=CpuEvent,
        stream=nothing,
        current_stream=lambda device=None: DEFAULT_STREAM,
        default_stream=lambda device=None: DEFAULT_STREAM,
        empty_cache=lambda: None,
        memory_allocated=lambda device=None: memory.current(),
        max_memory_allocated=lambda device=None: memory.peak(),
        memory_reserved=lambda device=None: memory.current(),
        max_memory_reserved=lambda device=None: memory.peak(),
        memory_stats=lambda device=None: memory.stats(),
        reset_peak_memory_stats=lambda device=None: memory.reset(),
        mem_get_info=lambda device=None: (machine_memory()["available"], machine_memory()["total"]),
        is_bf16_supported=lambda: True,
        BFloat16Tensor=TensorType(torch.bfloat16, "cpu"),
        HalfTensor=TensorType(torch.float16, "cpu"),
        ByteTensor=torch.ByteTensor,
        DoubleTensor=torch.DoubleTensor,
        FloatTensor=torch.FloatTensor,
        IntTensor=torch.IntTensor,
        LongTensor=torch.LongTensor,
    )
