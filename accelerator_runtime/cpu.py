"""The CPU accelerator: what ported code gets on a machine without a GPU."""

from __future__ import annotations

import functools
import importlib.util
from typing import Any, Callable, ContextManager, Dict, List, Optional

import torch

from accelport.accelerator_runtime.abstract import Accelerator, DeviceIndex
from accelport.accelerator_runtime.common import CommonMethods
from accelport.accelerator_runtime.cpu_parts import (
    DEFAULT_STREAM,
    CPU_AMP,
    CpuEvent,
    CpuStream,
    MemoryTracker,
    Ranges,
    machine_memory,
    nothing,
)



@functools.lru_cache(maxsize=1)
def _has_oneccl() -> bool:
    return importlib.util.find_spec("oneccl_bindings_for_pytorch") is not None


class CpuAccelerator(CommonMethods, Accelerator):
    """The host as the device. Every tensor is "on the accelerator"; work is synchronous."""

    def __init__(self) -> None:
        self._name = "cpu"
        self._communication_backend_name = "ccl" if _has_oneccl() else "gloo"
        self._compile_backend = "inductor"
        self._memory = MemoryTracker()
        self._ranges = Ranges()

    # identity
    def is_synchronized_device(self) -> bool:
        return True

    def use_host_timers(self) -> bool:
        return True

    def resolves_data_dependency(self) -> bool:
        return True

    def handles_memory_backpressure(self) -> bool:
        return True

    def is_available(self) -> bool:
        return True

    def communication_backend_name(self) -> str:
        return self._communication_backend_name

    def is_triton_supported(self) -> bool:
        return False

    # devices
    def device_name(self, device_index: DeviceIndex = None) -> str:
        return "cpu"

    def device(self, device_index: Optional[int] = None) -> ContextManager[Any]:
        return nothing()

    def set_device(self, device_index: int) -> None:
        return None

    def current_device(self) -> int:
        return 0

    def current_device_name(self) -> str:
        return "cpu"

    def device_count(self) -> int:
        return 1

    def synchronize(self, device_index: Optional[int] = None) -> None:
        return None

    # random numbers
    def random(self) -> Any:
        return torch.random

    def set_rng_state(self, new_state: torch.Tensor, device_index: Optional[int] = None) -> None:
        torch.set_rng_state(new_state)

    def get_rng_state(self, device_index: Optional[int] = None) -> torch.Tensor:
        return torch.get_rng_state()

    def manual_seed(self, seed: int) -> Any:
        return torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> Any:
        return torch.manual_seed(seed)

    def initial_seed(self) -> int:
        return torch.initial_seed()

    def seed(self) -> Any:
        return torch.seed()

    def seed_all(self) -> Any:
        return torch.seed()

    def default_generator(self, device_index: int) -> torch.Generator:
        return torch.default_generator

    # streams and events
    @property
    def Stream(self) -> type:
        return CpuStream

    def stream(self, stream: Any) -> ContextManager[Any]:
        return nothing()

    def current_stream(self, device_index: Optional[int] = None) -> Any:
        return DEFAULT_STREAM

    def default_stream(self, device_index: Optional[int] = None) -> Any:
        return DEFAULT_STREAM

    @property
    def Event(self) -> type:
        return CpuEvent

    # memory: this process's resident set, its peak, the machine's memory
    def empty_cache(self) -> None:
        return None

    def memory_allocated(self, device_index: Optional[int] = None) -> int:
        return self._memory.current()

    def max_memory_allocated(self, device_index: Optional[int] = None) -> int:
        return self._memory.peak()

    def reset_max_memory_allocated(self, device_index: Optional[int] = None) -> None:
        self._memory.reset()

    def memory_cached(self, device_index: Optional[int] = None) -> int:
        return self._memory.current()

    def max_memory_cached(self, device_index: Optional[int] = None) -> int:
        return self._memory.peak()

    def reset_max_memory_cached(self, device_index: Optional[int] = None) -> None:
        self._memory.reset()

    def memory_stats(self, device_index: Optional[int] = None) -> Dict[str, Any]:
        return self._memory.stats()

    def reset_peak_memory_stats(self, device_index: Optional[int] = None) -> None:
        self._memory.reset()

    def memory_reserved(self, device_index: Optional[int] = None) -> int:
        return self._memory.current()

    def max_memory_reserved(self, device_index: Optional[int] = None) -> int:
        return self._memory.peak()

    def total_memory(self, device_index: Optional[int] = None) -> int:
        return machine_memory()["total"]

    def available_memory(self, device_index: Optional[int] = None) -> int:
        return machine_memory()["available"]

    # data types
    def is_bf16_supported(self) -> bool:
        return True

    def is_fp16_supported(self) -> bool:
        return True

    def supported_dtypes(self) -> List[torch.dtype]:
        return [torch.float32, torch.bfloat16, torch.float16]

    @property
    def BFloat16Tensor(self) -> Any:
        return functools.partial(torch.tensor, dtype=torch.bfloat16)

    @property
    def ByteTensor(self) -> Any:
        return torch.ByteTensor

    @property
    def DoubleTensor(self) -> Any:
        return torch.DoubleTensor

    @property
    def FloatTensor(self) -> Any:
        return torch.FloatTensor

    @property
    def HalfTensor(self) -> Any:
        return functools.partial(torch.tensor, dtype=torch.float16)

    @property
    def IntTensor(self) -> Any:
        return torch.IntTensor

    @property
    def LongTensor(self) -> Any:
        return torch.LongTensor

    # misc
    def amp(self) -> Any:
        return CPU_AMP

    def range_push(self, msg: str) -> None:
        self._ranges.push(msg)

    def range_pop(self) -> None:
        self._ranges.pop()

    def lazy_call(self, callback: Callable[[], Any]) -> None:
        callback()

    # graphs
    def create_graph(self) -> Any:
        raise NotImplementedError("device graphs need a GPU; the CPU accelerator runs eagerly (use torch.compile)")

    def capture_to_graph(self, graph: Any, pool: Any = None, stream: Any = None) -> ContextManager[Any]:
        raise NotImplementedError("device graphs need a GPU; the CPU accelerator runs eagerly (use torch.compile)")

    def replay_graph(self, graph: Any) -> None:
        raise NotImplementedError("device graphs need a GPU; the CPU accelerator runs eagerly (use torch.compile)")

    # tensors
    def pin_memory(self, tensor: torch.Tensor, align_bytes: int = 1) -> torch.Tensor:
        # Pinning needs a device to transfer to; a CPU-only build raises on tensor.pin_memory().
        if torch.cuda.is_available():
            return tensor.pin_memory()
        return tensor

    def on_accelerator(self, tensor: torch.Tensor) -> bool:
        return tensor.device.type == "cpu"





    # launching
    def export_envs(self) -> List[str]:
        return ["MASTER", "KMP", "OMP", "LD_PRELOAD", "CCL", "I_MPI", "FI_"]

    def visible_devices_envs(self) -> List[str]:
        return []

    def set_visible_devices_envs(self, current_env: Dict[str, str], local_accelerator_ids: List[int]) -> None:
        return None


