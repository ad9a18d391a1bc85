"""A fake accelerator for tests: torch's PrivateUse1 backend renamed ``fakeaccel`` with a Python device
module, the way an out-of-tree vendor package (torch_npu) registers its device, but with no hardware.

``register()`` is process-global and cannot be undone: call it in a subprocess only. The module records
every call in ``CALLS`` so that tests see which function a runtime method reached. It deliberately lacks
some members (``default_stream``, ``Event``, ``get_rng_state``...) to exercise the runtime's
NotImplementedError messages, and ``current_device`` to exercise the ``torch.accelerator`` fallback.
"""

from __future__ import annotations

import types
from typing import Any, List, Tuple

import torch

NAME = "fakeaccel"
CALLS: List[Tuple[str, tuple]] = []
_state = {"device": 0, "seed": 0, "allocated": 0, "peak": 0}


def _recorded(name: str, result: Any = None):
    def function(*args: Any) -> Any:
        CALLS.append((name, args))
        return result() if callable(result) else result

    function.__name__ = name
    return function


def _set_device(index: int) -> None:
    CALLS.append(("set_device", (index,)))
    _state["device"] = index


def _manual_seed(seed: int) -> None:
    CALLS.append(("manual_seed", (seed,)))
    _state["seed"] = seed


def build_module() -> types.ModuleType:
    module = types.ModuleType(f"torch.{NAME}")
    module.is_available = lambda: True
    module.is_initialized = lambda: True
    module._is_in_bad_fork = lambda: False
    module.device_count = _recorded("device_count", 2)
    module.set_device = _set_device
    module.synchronize = _recorded("synchronize")
    module.manual_seed = _manual_seed
    module.manual_seed_all = _recorded("manual_seed_all")
    module.initial_seed = lambda: _state["seed"]
    module.seed = _recorded("seed")
    module.seed_all = _recorded("seed_all")
    module.empty_cache = _recorded("empty_cache")
    module.memory_allocated = _recorded("memory_allocated", lambda: _state["allocated"])
    module.max_memory_allocated = _recorded("max_memory_allocated", lambda: _state["peak"])
    module.memory_reserved = _recorded("memory_reserved", 4096)
    module.max_memory_reserved = _recorded("max_memory_reserved", 8192)
    module.memory_stats = _recorded("memory_stats", lambda: {"allocated_bytes.all.current": _state["allocated"]})
    module.reset_peak_memory_stats = _recorded("reset_peak_memory_stats")
    module.mem_get_info = _recorded("mem_get_info", (1 << 20, 1 << 30))
    module.is_bf16_supported = lambda: True
    return module


def register() -> types.ModuleType:
    from torch.utils.backend_registration import _setup_privateuseone_for_python_backend

    module = build_module()
    _setup_privateuseone_for_python_backend(rename=NAME, backend_module=module)
    return module


assert torch is not None  # the module needs torch importable before register()
