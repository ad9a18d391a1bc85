"""The CUDA accelerator: a thin, documented layer over ``torch.cuda``.

Constructing it touches no device; every method calls into ``torch.cuda`` only when it is called.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, ContextManager, Dict, List, Optional

import torch

from accelport.accelerator_runtime.abstract import Accelerator, DeviceIndex
from accelport.accelerator_runtime.common import CommonMethods
from accelport.accelerator_runtime.common import Amp



_CUDA_AMP = Amp("cuda", torch.float16)


class CudaAccelerator(CommonMethods, Accelerator):
    """NVIDIA (and ROCm, which PyTorch exposes as ``torch.cuda``) GPUs."""

    def __init__(self) -> None:
        self._name = "cuda"
        self._communication_backend_name = "nccl"
        self._compile_backend = "inductor"

    COMPILE_BACKENDS = ("inductor", "eager", "aot_eager", "cudagraphs")

    # identity
    def is_synchronized_device(self) -> bool:
        return False

    def use_host_timers(self) -> bool:
        return False

    def resolves_data_dependency(self) -> bool:
        return False

    def handles_memory_backpressure(self) -> bool:
        return False

    def is_available(self) -> bool:
        return torch.cuda.is_available()

    def communication_backend_name(self) -> str:
        return self._communication_backend_name

    def is_triton_supported(self) -> bool:
        return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 7

    # devices
    def device_name(self, device_index: DeviceIndex = None) -> str:
        if device_index is None:
            return "cuda"
        if isinstance(device_index, int):
            return f"cuda:{device_index}"
        return str(torch.device(device_index))

    def device(self, device_index: Optional[int] = None) -> ContextManager[Any]:
        return torch.cuda.device(device_index)

    def set_device(self, device_index: int) -> None:
        torch.cuda.set_device(device_index)

    def current_device(self) -> int:
        return torch.cuda.current_device()

    def current_device_name(self) -> str:
        return f"cuda:{torch.cuda.current_device()}"

    def device_count(self) -> int:
        return torch.cuda.device_count()

    def synchronize(self, device_index: Optional[int] = None) -> None:
        torch.cuda.synchronize(device_index)

    # random numbers
    def random(self) -> Any:
        return torch.random

    def set_rng_state(self, new_state: torch.Tensor, device_index: Optional[int] = None) -> None:
        torch.cuda.set_rng_state(new_state, "cuda" if device_index is None else device_index)

    def get_rng_state(self, device_index: Optional[int] = None) -> torch.Tensor:
        return torch.cuda.get_rng_state("cuda" if device_index is None else device_index)

    def manual_seed(self, seed: int) -> Any:
        return torch.cuda.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> Any:
        return torch.cuda.manual_seed_all(seed)

    def initial_seed(self) -> int:
        return torch.cuda.initial_seed()

    def seed(self) -> Any:
        return torch.cuda.seed()

    def seed_all(self) -> Any:
        return torch.cuda.seed_all()

    def default_generator(self, device_index: int) -> torch.Generator:
        return torch.cuda.default_generators[device_index]

    # streams and events
    @property
    def Stream(self) -> type:
        return torch.cuda.Stream

    def stream(self, stream: Any) -> ContextManager[Any]:
        return torch.cuda.stream(stream)

    def current_stream(self, device_index: Optional[int] = None) -> Any:
        return torch.cuda.current_stream(device_index)

    def default_stream(self, device_index: Optional[int] = None) -> Any:
        return torch.cuda.default_stream(device_index)

    @property
    def Event(self) -> type:
        return torch.cuda.Event

    # memory
    def empty_cache(self) -> None:
        torch.cuda.empty_cache()

    def memory_allocated(self, device_index: Optional[int] = None) -> int:
        return torch.cuda.memory_allocated(device_index)

    def max_memory_allocated(self, device_index: Optional[int] = None) -> int:
        return torch.cuda.max_memory_allocated(device_index)

    def reset_max_memory_allocated(self, device_index: Optional[int] = None) -> None:
        torch.cuda.reset_peak_memory_stats(device_index)

    def memory_cached(self, device_index: Optional[int] = None) -> int:
        return torch.cuda.memory_reserved(device_index)

    def max_memory_cached(self, device_index: Optional[int] = None) -> int:
        return torch.cuda.max_memory_reserved(device_index)

    def reset_max_memory_cached(self, device_index: Optional[int] = None) -> None:
        torch.cuda.reset_peak_memory_stats(device_index)

    def memory_stats(self, device_index: Optional[int] = None) -> Dict[str, Any]:
        return dict(torch.cuda.memory_stats(device_index))

    def reset_peak_memory_stats(self, device_index: Optional[int] = None) -> None:
        torch.cuda.reset_peak_memory_stats(device_index)

    def memory_reserved(self, device_index: Optional[int] = None) -> int:
        return torch.cuda.memory_reserved(device_index)

    def max_memory_reserved(self, device_index: Optional[int] = None) -> int:
        return torch.cuda.max_memory_reserved(device_index)

    def total_memory(self, device_index: Optional[int] = None) -> int:
        return torch.cuda.get_device_properties(device_index or 0).total_memory

    def available_memory(self, device_index: Optional[int] = None) -> int:
        return torch.cuda.mem_get_info(device_index)[0]

    # data types
    def is_bf16_supported(self) -> bool:
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()

    def is_fp16_supported(self) -> bool:
        return torch.cuda.is_available()

    def supported_dtypes(self) -> List[torch.dtype]:
        dtypes = [torch.float32, torch.float16]
        if self.is_bf16_supported():
            dtypes.append(torch.bfloat16)
        return dtypes

    @property
    def BFloat16Tensor(self) -> Any:
        return functools.partial(torch.tensor, dtype=torch.bfloat16, device="cuda")

    @property
    def ByteTensor(self) -> Any:
        return torch.cuda.ByteTensor

    @property
    def DoubleTensor(self) -> Any:
        return torch.cuda.DoubleTensor

    @property
    def FloatTensor(self) -> Any:
        return torch.cuda.FloatTensor

    @property
    def HalfTensor(self) -> Any:
        return torch.cuda.HalfTensor

    @property
    def IntTensor(self) -> Any:
        return torch.cuda.IntTensor

    @property
    def LongTensor(self) -> Any:
        return torch.cuda.LongTensor

    # misc
    def amp(self) -> Any:
        return _CUDA_AMP

    def range_push(self, msg: str) -> None:
        torch.cuda.nvtx.range_push(msg)

    def range_pop(self) -> None:
        torch.cuda.nvtx.range_pop()

    def lazy_call(self, callback: Callable[[], Any]) -> None:
        torch.cuda._lazy_call(callback)

    # graphs
    def create_graph(self) -> Any:
        return torch.cuda.CUDAGraph()

    def capture_to_graph(self, graph: Any, pool: Any = None, stream: Any = None) -> ContextManager[Any]:
        return torch.cuda.graph(graph, pool, stream)

    def replay_graph(self, graph: Any) -> None:
        graph.replay()

    # tensors
    def pin_memory(self, tensor: torch.Tensor, align_bytes: int = 1) -> torch.Tensor:
        return tensor.pin_memory()

    def is_pinned(self, tensor: torch.Tensor) -> bool:
        return bool(tensor.is_pinned())

    def on_accelerator(self, tensor: torch.Tensor) -> bool:
        return tensor.device.type == "cuda"





    # launching
    def export_envs(self) -> List[str]:
        return ["NCCL", "MASTER", "CUDA", "PYTORCH_CUDA_ALLOC_CONF"]

    def visible_devices_envs(self) -> List[str]:
        return ["CUDA_VISIBLE_DEVICES"]

    def set_visible_devices_envs(self, current_env: Dict[str, str], local_accelerator_ids: List[int]) -> None:
        for name in self.visible_devices_envs():
            current_env[name] = ",".join(str(i) for i in local_accelerator_ids)


