"""The accelerator interface that ported code calls.

Method names and signatures are DeepSpeed's (``deepspeed.accelerator``'s abstract class), so a file
ported with ``--runtime deepspeed`` and one ported for this runtime call the same things. Unlike the
reference, every method says what it returns on each backend, and return types agree across backends
(``current_device()`` is an ``int`` everywhere). ``tests/runtime/test_conformance.py`` checks that every
implementation has exactly these signatures.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Callable, ContextManager, Dict, List, Optional, Union

if TYPE_CHECKING:  # importing the interface must not import torch
    import torch

DeviceIndex = Optional[Union[int, str, "torch.device"]]


class Accelerator(abc.ABC):
    """One backend: CUDA, CPU, or a third-party device registered under ``accelport.accelerators``."""

    _name: str = ""
    _communication_backend_name: str = ""
    _compile_backend: Optional[str] = None

    # -- identity -------------------------------------------------------------------------
    @abc.abstractmethod
    def is_synchronized_device(self) -> bool:
        """True when work runs synchronously with the host (CPU: True; CUDA: False)."""

    @abc.abstractmethod
    def use_host_timers(self) -> bool:
        """True when wall-clock timers measure device work (CPU: True; CUDA: False)."""

    @abc.abstractmethod
    def resolves_data_dependency(self) -> bool:
        """True when the device orders dependent work itself (CPU: True; CUDA: False)."""

    @abc.abstractmethod
    def handles_memory_backpressure(self) -> bool:
        """True when the device throttles allocation itself (CPU: True; CUDA: False)."""

    @abc.abstractmethod
    def is_available(self) -> bool:
        """Whether this backend can run here (CPU: always True; CUDA: ``torch.cuda.is_available()``)."""

    @abc.abstractmethod
    def communication_backend_name(self) -> str:
        """``torch.distributed`` backend: CUDA ``'nccl'``; CPU ``'ccl'`` with oneCCL bindings, else ``'gloo'``."""

    @abc.abstractmethod
    def is_triton_supported(self) -> bool:
        """Whether Triton kernels can run (CPU: False; CUDA: compute capability 7.0 or newer)."""

    def name(self) -> str:
        """The backend's short name: ``'cuda'``, ``'cpu'`` (DeepSpeed keeps it in ``_name``)."""
        return self._name

    # -- devices --------------------------------------------------------------------------
    @abc.abstractmethod
    def device_name(self, device_index: DeviceIndex = None) -> str:
        """A device string: CUDA ``'cuda'`` / ``'cuda:N'``; CPU always ``'cpu'``.

        ``device_index`` may be an int, None, or a ``torch.device``/string (``x.cuda(dev)`` ports to
        ``x.to(device_name(dev))``), which is returned as the string for this backend.
        """

    @abc.abstractmethod
    def device(self, device_index: Optional[int] = None) -> ContextManager[Any]:
        """A context manager making ``device_index`` current (CUDA: ``torch.cuda.device``; CPU: no-op)."""

    @abc.abstractmethod
    def set_device(self, device_index: int) -> None:
        """Make ``device_index`` current (CPU: nothing to do)."""

    @abc.abstractmethod
    def current_device(self) -> int:
        """The current device index, an int on every backend (CPU: 0)."""

    @abc.abstractmethod
    def current_device_name(self) -> str:
        """The current device as a string: CUDA ``'cuda:N'``; CPU ``'cpu'``."""

    @abc.abstractmethod
    def device_count(self) -> int:
        """Devices visible: CUDA the GPU count; CPU 1 (one host device)."""

    @abc.abstractmethod
    def synchronize(self, device_index: Optional[int] = None) -> None:
        """Wait for queued work (CUDA: ``torch.cuda.synchronize``; CPU: returns at once)."""

    # -- random numbers -------------------------------------------------------------------
    @abc.abstractmethod
    def random(self) -> Any:
        """The module with this backend's RNG functions (``torch.random`` on CPU, ``torch.cuda.random``)."""

    @abc.abstractmethod
    def set_rng_state(self, new_state: torch.Tensor, device_index: Optional[int] = None) -> None:
        """Restore the generator state (CPU: ``torch.set_rng_state``)."""

    @abc.abstractmethod
    def get_rng_state(self, device_index: Optional[int] = None) -> torch.Tensor:
        """The generator state as a ByteTensor (CPU: ``torch.get_rng_state()``)."""

    @abc.abstractmethod
    def manual_seed(self, seed: int) -> Any:
        """Seed the current device's generator (CPU: ``torch.manual_seed``)."""

    @abc.abstractmethod
    def manual_seed_all(self, seed: int) -> Any:
        """Seed every device's generator (CPU: ``torch.manual_seed``)."""

    @abc.abstractmethod
    def initial_seed(self) -> int:
        """The seed the current generator started from."""

    @abc.abstractmethod
    def seed(self) -> Any:
        """Seed the current generator with a random number (``torch.cuda.seed`` / ``torch.seed``)."""

    @abc.abstractmethod
    def seed_all(self) -> Any:
        """Seed every generator with a random number."""

    @abc.abstractmethod
    def default_generator(self, device_index: int) -> torch.Generator:
        """The default generator of a device (CPU: ``torch.default_generator``)."""

    # -- streams and events ---------------------------------------------------------------
    @property
    @abc.abstractmethod
    def Stream(self) -> type:
        """The stream class (CUDA: ``torch.cuda.Stream``; CPU: a stream whose work is already done)."""

    @abc.abstractmethod
    def stream(self, stream: Any) -> ContextManager[Any]:
        """A context manager selecting ``stream`` (CPU: a no-op context)."""

    @abc.abstractmethod
    def current_stream(self, device_index: Optional[int] = None) -> Any:
        """The current stream object."""

    @abc.abstractmethod
    def default_stream(self, device_index: Optional[int] = None) -> Any:
        """The default stream object."""

    @property
    @abc.abstractmethod
    def Event(self) -> type:
        """The event class: ``Event(enable_timing=True)`` with ``record``, ``synchronize``, ``query``,
        ``wait`` and ``elapsed_time`` in milliseconds (CPU: host-clock events)."""

    # -- memory ---------------------------------------------------------------------------
    @abc.abstractmethod
    def empty_cache(self) -> None:
        """Release cached memory (CPU: nothing is cached)."""

    @abc.abstractmethod
    def memory_allocated(self, device_index: Optional[int] = None) -> int:
        """Bytes in use: CUDA tensors' bytes; CPU this process's resident memory."""

    @abc.abstractmethod
    def max_memory_allocated(self, device_index: Optional[int] = None) -> int:
        """Peak of ``memory_allocated`` since the last reset (CPU: peak resident memory seen)."""

    @abc.abstractmethod
    def reset_max_memory_allocated(self, device_index: Optional[int] = None) -> None:
        """Restart the ``max_memory_allocated`` peak from the current value."""

    @abc.abstractmethod
    def memory_cached(self, device_index: Optional[int] = None) -> int:
        """Bytes held by the caching allocator (old name of ``memory_reserved``)."""

    @abc.abstractmethod
    def max_memory_cached(self, device_index: Optional[int] = None) -> int:
        """Peak of ``memory_cached`` (old name of ``max_memory_reserved``)."""

    @abc.abstractmethod
    def reset_max_memory_cached(self, device_index: Optional[int] = None) -> None:
        """Restart the ``max_memory_cached`` peak."""

    @abc.abstractmethod
    def memory_stats(self, device_index: Optional[int] = None) -> Dict[str, Any]:
        """Allocator statistics under CUDA's key names (``'allocated_bytes.all.current'``, ``...peak``)."""

    @abc.abstractmethod
    def reset_peak_memory_stats(self, device_index: Optional[int] = None) -> None:
        """Restart every peak statistic."""

    @abc.abstractmethod
    def memory_reserved(self, device_index: Optional[int] = None) -> int:
        """Bytes reserved: CUDA the caching allocator's; CPU this process's resident memory."""

    @abc.abstractmethod
    def max_memory_reserved(self, device_index: Optional[int] = None) -> int:
        """Peak of ``memory_reserved`` since the last reset."""

    @abc.abstractmethod
    def total_memory(self, device_index: Optional[int] = None) -> int:
        """Device memory in bytes (CPU: the machine's memory)."""

    @abc.abstractmethod
    def available_memory(self, device_index: Optional[int] = None) -> int:
        """Free device memory in bytes (CPU: the machine's available memory)."""

    # -- data types -----------------------------------------------------------------------
    @abc.abstractmethod
    def is_bf16_supported(self) -> bool:
        """Whether bfloat16 math is supported."""

    @abc.abstractmethod
    def is_fp16_supported(self) -> bool:
        """Whether float16 math is supported."""

    @abc.abstractmethod
    def supported_dtypes(self) -> List[torch.dtype]:
        """Floating-point dtypes worth training in on this backend."""

    @property
    @abc.abstractmethod
    def BFloat16Tensor(self) -> Any:
        """The bfloat16 tensor type of this backend (a callable and an ``isinstance`` target)."""

    @property
    @abc.abstractmethod
    def ByteTensor(self) -> Any:
        """The uint8 tensor type of this backend."""

    @property
    @abc.abstractmethod
    def DoubleTensor(self) -> Any:
        """The float64 tensor type of this backend."""

    @property
    @abc.abstractmethod
    def FloatTensor(self) -> Any:
        """The float32 tensor type of this backend."""

    @property
    @abc.abstractmethod
    def HalfTensor(self) -> Any:
        """The float16 tensor type of this backend."""

    @property
    @abc.abstractmethod
    def IntTensor(self) -> Any:
        """The int32 tensor type of this backend."""

    @property
    @abc.abstractmethod
    def LongTensor(self) -> Any:
        """The int64 tensor type of this backend."""

    # -- misc -----------------------------------------------------------------------------
    @abc.abstractmethod
    def amp(self) -> Any:
        """An object with ``autocast(...)`` and ``GradScaler(...)`` taking ``torch.cuda.amp``'s arguments
        and working on this backend (CPU: autocast defaults to bfloat16)."""

    @abc.abstractmethod
    def range_push(self, msg: str) -> None:
        """Open a named range (CUDA: NVTX; CPU: a ``torch.profiler`` record_function range)."""

    @abc.abstractmethod
    def range_pop(self) -> None:
        """Close the range opened last by ``range_push`` on this thread."""

    @abc.abstractmethod
    def lazy_call(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` once the backend is initialised (CPU: at once)."""

    # -- graphs ---------------------------------------------------------------------------
    @abc.abstractmethod
    def create_graph(self) -> Any:
        """A new device graph (CUDA: ``torch.cuda.CUDAGraph``; CPU: raises NotImplementedError)."""

    @abc.abstractmethod
    def capture_to_graph(self, graph: Any, pool: Any = None, stream: Any = None) -> ContextManager[Any]:
        """A context manager capturing the work inside it into ``graph``."""

    @abc.abstractmethod
    def replay_graph(self, graph: Any) -> None:
        """Run a captured graph again."""

    # -- tensors --------------------------------------------------------------------------
    @abc.abstractmethod
    def pin_memory(self, tensor: torch.Tensor, align_bytes: int = 1) -> torch.Tensor:
        """Page-locked copy for fast transfers; CPU without an accelerator: the tensor itself."""

    @abc.abstractmethod
    def is_pinned(self, tensor: torch.Tensor) -> bool:
        """Whether the tensor is in page-locked memory (False where pinning does not exist)."""

    @abc.abstractmethod
    def on_accelerator(self, tensor: torch.Tensor) -> bool:
        """Whether the tensor lives on this backend's device (CPU backend: a CPU tensor is)."""

    # -- op builders ----------------------------------------------------------------------
    @abc.abstractmethod
    def op_builder_dir(self) -> str:
        """The package holding this backend's op builders (``'accelport.kernels'``)."""

    @abc.abstractmethod
    def create_op_builder(self, class_name: str) -> Any:
        """An instance of the named op builder for this backend, or None when there is none."""

    @abc.abstractmethod
    def get_op_builder(self, class_name: str) -> Any:
        """The named op builder class for this backend, or None when there is none."""

    @abc.abstractmethod
    def build_extension(self) -> Any:
        """The setuptools build_ext class for ahead-of-time builds (``BuildExtension``)."""

    # -- launching ------------------------------------------------------------------------
    @abc.abstractmethod
    def export_envs(self) -> List[str]:
        """Prefixes of environment variables a launcher forwards to workers."""

    @abc.abstractmethod
    def visible_devices_envs(self) -> List[str]:
        """Variables that restrict visible devices (CUDA ``['CUDA_VISIBLE_DEVICES']``; CPU ``[]``)."""

    @abc.abstractmethod
    def set_visible_devices_envs(self, current_env: Dict[str, str], local_accelerator_ids: List[int]) -> None:
        """Write ``local_accelerator_ids`` into ``current_env`` under ``visible_devices_envs()``."""

    @abc.abstractmethod
    def get_compile_backend(self) -> str:
        """The ``torch.compile`` backend to use (default ``'inductor'``)."""

    @abc.abstractmethod
    def set_compile_backend(self, backend: str) -> None:
        """Choose the ``torch.compile`` backend; an unknown one raises ValueError naming the known ones."""
