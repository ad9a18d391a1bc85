"""One accelerator for every device torch knows, over torch's own device layer.

``TorchAccelerator("xpu")`` calls ``torch.get_device_module("xpu")`` (``torch.xpu``) for what the
device module has, ``torch.accelerator`` where the module lacks a member and that device is torch's
current accelerator, and ``devices.DEVICES`` for the facts torch does not expose (communication
backend, visible-devices variable, fp16/bf16 probes). A member neither has raises NotImplementedError
naming the device and what to do instead, never an AttributeError from inside torch.

Hot methods look the member up on the device module inside ``try``: the lookup is what a direct
``torch.cuda.x()`` call does too, and the ``except`` costs nothing until a member is missing. Nothing is
resolved at construction, so building one touches no device and sees members a vendor package adds later.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Callable, ContextManager, Dict, List, Optional

import torch

from accelport.accelerator_runtime import devices
from accelport.accelerator_runtime.abstract import Accelerator, DeviceIndex
from accelport.accelerator_runtime.common import Amp, CommonMethods, TensorType
from accelport.accelerator_runtime.cpu_parts import MemoryTracker, Ranges, host_device_module
from accelport.accelerator_runtime.devices import UnavailableAccelerator

# interface method -> (torch.accelerator member used when the device module lacks one, what to do instead)
_FALLBACKS: Dict[str, tuple] = {
    "device": ("device_index", "call set_device() around the code instead"),
    "set_device": ("set_device_index", "pass tensors their device explicitly"),
    "current_device": ("current_device_index", "use device index 0"),
    "device_count": ("device_count", "assume one device"),
    "synchronize": ("synchronize", "call .cpu() or .item() on a result to wait for it"),
    "current_stream": ("current_stream", "run on the default stream"),
    "empty_cache": ("empty_cache", "nothing: the cache is released at exit"),
    "memory_allocated": ("memory_allocated", "measure memory with the vendor's tools"),
    "max_memory_allocated": ("max_memory_allocated", "measure memory with the vendor's tools"),
    "memory_reserved": ("memory_reserved", "measure memory with the vendor's tools"),
    "max_memory_reserved": ("max_memory_reserved", "measure memory with the vendor's tools"),
    "memory_stats": ("memory_stats", "measure memory with the vendor's tools"),
    "reset_peak_memory_stats": ("reset_peak_memory_stats", "measure memory with the vendor's tools"),
    "mem_get_info": ("get_memory_info", "measure memory with the vendor's tools"),
}
_NO_FALLBACK = {
    "manual_seed": "seed with torch.manual_seed(), which seeds every device torch knows",
    "manual_seed_all": "seed with torch.manual_seed(), which seeds every device torch knows",
    "seed": "seed with torch.seed()",
    "seed_all": "seed with torch.seed()",
    "initial_seed": "read torch.initial_seed() for the host generator",
    "get_rng_state": "save torch.get_rng_state() for the host generator",
    "set_rng_state": "restore torch.set_rng_state() for the host generator",
    "default_generators": "create a torch.Generator(device=...) yourself",
    "default_stream": "use current_stream()",
    "stream": "run on the default stream",
    "get_device_properties": "use available_memory()",
    "get_device_capability": "check the device's documentation",
    "graph": "run eagerly or use torch.compile",
}


def device_module(device_type: str) -> Any:
    """``torch.<device_type>``, importing the vendor package that registers it first when the table names
    one and it is installed; raises UnavailableAccelerator saying what to install when there is none."""
    module, problem = _find_module(device_type)
    if problem is not None:
        raise UnavailableAccelerator(f"{device_type}: {problem}")
    return module


def _find_module(device_type: str) -> tuple:
    """(device module, None), or (None, what is missing)."""
    facts = devices.facts_for(device_type)
    if facts.provider is not None:
        if not devices.findable(facts.provider):
            return None, f"needs {facts.install}; {facts.provider} is not installed"
        try:
            importlib.import_module(facts.provider)
        except Exception as exc:  # noqa: BLE001 - vendor packages fail with OSError/RuntimeError too (no driver)
            return None, f"importing {facts.provider} failed ({type(exc).__name__}: {exc}); needs {facts.install}"
    get = getattr(torch, "get_device_module", None)
    try:
        if get is not None:
            return get(device_type), None
        return getattr(torch, device_type), None  # torch < 2.3
    except (RuntimeError, AttributeError):
        return None, f"torch {torch.__version__} has no {device_type} device module; needs {facts.install}"


def unavailable_reason(device_type: str) -> Optional[str]:
    """None when ``device_type`` can run here, else what is missing (package, torch build or hardware)."""
    facts = devices.facts_for(device_type)
    module, problem = _find_module(device_type)
    if problem is not None:
        return problem
    if facts.host:
        return None
    compiled = getattr(module, "_is_compiled", None)
    if callable(compiled) and not compiled():
        return f"torch {torch.__version__} is built without {device_type} support; needs {facts.install}"
    available = getattr(module, "is_available", None)
    if available is None:
        return None if _current_accelerator_type() == device_type else "torch cannot tell whether it is available"
    if not _fork_safe(available):
        return f"torch {torch.__version__} finds no {device_type} device; needs {facts.hardware}"
    return None


def _fork_safe(available: Callable[[], bool]) -> bool:
    """``available()`` asked through NVML where torch can (``PYTORCH_NVML_BASED_CUDA_CHECK``): the first
    ``get_accelerator()`` may run at import (a ported default), and torch's plain CUDA check initialises
    the driver, after which a forked child (``notebook_launcher``, fork-started DataLoader workers) cannot
    use CUDA. Without NVML torch falls back to its plain check."""
    if os.environ.get(_NVML_CHECK) is not None:
        return bool(available())
    os.environ[_NVML_CHECK] = "1"
    try:
        return bool(available())
    finally:
        os.environ.pop(_NVML_CHECK, None)


_NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def _current_accelerator_type() -> Optional[str]:
    accelerator = getattr(torch, "accelerator", None)
    current = getattr(accelerator, "current_accelerator", None)
    if current is None:
        return None
    device = current()
    return None if device is None else device.type


class TorchAccelerator(CommonMethods, Accelerator):
    """Any device type torch knows (``cuda``, ``xpu``, ``mps``, ``hpu``, ``mtia``, a renamed PrivateUse1
    backend such as ``npu``), configured by one row of ``devices.DEVICES``.

    Constructing it imports the device's vendor package when the table names one, and touches no device.
    """

    def __init__(self, device_type: str) -> None:
        device_type = devices.ALIASES.get(device_type, device_type)
        self._name = device_type
        self._facts = devices.facts_for(device_type)
        self._host = self._facts.host
        # The host has no device module worth the name (torch.cpu lacks RNG, memory and timing members).
        self._mod: Any = host_device_module(MemoryTracker()) if self._host else device_module(device_type)
        self._compile_backend = self._facts.compile_backends[0]
        self.COMPILE_BACKENDS = self._facts.compile_backends
        self._amp = Amp(device_type, getattr(torch, self._facts.amp_dtype))
        self._probed: Dict[str, bool] = {}
        self._device_names: Dict[Any, str] = {}
        self._ranges = Ranges()

    def __repr__(self) -> str:
        return f"TorchAccelerator({self._name!r})"

    # -- the slow paths -------------------------------------------------------------------
    def _missing(self, member: str, instead: str) -> NotImplementedError:
        return NotImplementedError(
            f"{self._name}: the {self._name} device module has no {member}() (torch {torch.__version__}); {instead}"
        )

    def _fallback(self, member: str) -> Callable[..., Any]:
        """``torch.accelerator``'s member when this device is torch's current accelerator, else raise."""
        accelerator_member, instead = _FALLBACKS.get(member, (None, _NO_FALLBACK.get(member, "")))
        if accelerator_member is not None and _current_accelerator_type() == self._name:
            found = getattr(torch.accelerator, accelerator_member, None)
            if found is not None:
                return found
        raise self._missing(member, instead)

    # -- identity -------------------------------------------------------------------------
    def is_synchronized_device(self) -> bool:
        return self._host

    def use_host_timers(self) -> bool:
        return self._host

    def resolves_data_dependency(self) -> bool:
        return self._host

    def handles_memory_backpressure(self) -> bool:
        return self._host

    def is_available(self) -> bool:
        try:
            available = self._mod.is_available
        except AttributeError:
            return _current_accelerator_type() == self._name
        return available()

    def communication_backend_name(self) -> str:
        facts = self._facts
        if facts.communication_backend_with is not None and devices.findable(facts.communication_backend_with[0]):
            return facts.communication_backend_with[1]
        # No torch.distributed backend for these devices (mps): gloo over host tensors is what works, and
        # raising would break ported code that only names the backend (a dataclass default read at import).
        return facts.communication_backend or "gloo"

    def is_triton_supported(self) -> bool:
        minimum = self._facts.triton_min_major
        if minimum is None or not self.is_available():
            return False
        if minimum == 0:
            return True
        capability = getattr(self._mod, "get_device_capability", None)
        return capability is not None and capability()[0] >= minimum

    # -- devices --------------------------------------------------------------------------
    def device_name(self, device_index: DeviceIndex = None) -> str:
        # Ported code calls this on every tensor move: a dict hit is half the cost of formatting.
        try:
            return self._device_names[device_index]
        except (KeyError, TypeError):
            return self._format_device_name(device_index)

    def _format_device_name(self, device_index: DeviceIndex) -> str:
        if self._host or device_index is None:
            name = self._name
        elif isinstance(device_index, int):
            name = f"{self._name}:{device_index}"
        elif isinstance(device_index, str) and device_index.isascii() and device_index.isdigit():
            # An ordinal read from the environment (f"cuda:{os.environ['LOCAL_RANK']}" ported): DeepSpeed's
            # accelerators format it as given, so ported code written for them passes strings too.
            name = f"{self._name}:{int(device_index)}"
        else:
            # A device written for another backend ('cuda:1', torch.device('cuda', 1)) keeps its index here.
            index = torch.device(device_index).index
            name = self._name if index is None else f"{self._name}:{index}"
        try:
            if len(self._device_names) < 256:
                self._device_names[device_index] = name
        except TypeError:  # unhashable: not cached
            pass
        return name

    def device(self, device_index: Optional[int] = None) -> ContextManager[Any]:
        try:
            context = self._mod.device
        except AttributeError:
            context = self._fallback("device")
        return context(device_index)

    def set_device(self, device_index: int) -> None:
        try:
            set_device = self._mod.set_device
        except AttributeError:
            set_device = self._fallback("set_device")
        set_device(device_index)

    def current_device(self) -> int:
        try:
            current = self._mod.current_device
        except AttributeError:
            current = self._fallback("current_device")
        return current()

    def current_device_name(self) -> str:
        if self._host:
            return self._name
        return f"{self._name}:{self.current_device()}"

    def device_count(self) -> int:
        try:
            count = self._mod.device_count
        except AttributeError:
            count = self._fallback("device_count")
        return count()

    def synchronize(self, device_index: Optional[int] = None) -> None:
        try:
            synchronize = self._mod.synchronize
        except AttributeError:
            synchronize = self._fallback("synchronize")
        synchronize(device_index)

    # -- random numbers -------------------------------------------------------------------
    def random(self) -> Any:
        return torch.random

    def set_rng_state(self, new_state: torch.Tensor, device_index: Optional[int] = None) -> None:
        set_state = self._member("set_rng_state")
        # Without an index the module's own default (its current device) applies; mps takes no index.
        set_state(new_state) if device_index is None else set_state(new_state, device_index)

    def get_rng_state(self, device_index: Optional[int] = None) -> torch.Tensor:
        get_state = self._member("get_rng_state")
        return get_state() if device_index is None else get_state(device_index)

    def manual_seed(self, seed: int) -> Any:
        try:
            function = self._mod.manual_seed
        except AttributeError:
            function = self._fallback("manual_seed")
        return function(seed)

    def manual_seed_all(self, seed: int) -> Any:
        # Single-device backends (mps) have only manual_seed: seeding their one generator is seeding all.
        # Raising here would crash ported code (``torch.cuda.manual_seed_all`` was a no-op on a Mac).
        function = getattr(self._mod, "manual_seed_all", None) or getattr(self._mod, "manual_seed", None)
        if function is None:
            function = self._fallback("manual_seed_all")
        return function(seed)

    def initial_seed(self) -> int:
        try:
            function = self._mod.initial_seed
        except AttributeError:
            function = self._fallback("initial_seed")
        return function()

    def seed(self) -> Any:
        return self._member("seed")()

    def seed_all(self) -> Any:
        return self._member("seed_all")()

    def default_generator(self, device_index: int) -> torch.Generator:
        return self._member("default_generators")[device_index]

    def _member(self, name: str) -> Any:
        try:
            return getattr(self._mod, name)
        except AttributeError:
            return self._fallback(name)

    # -- streams and events ---------------------------------------------------------------
    @property
    def Stream(self) -> type:
        found = getattr(self._mod, "Stream", None) or getattr(torch, "Stream", None)
        if found is None:
            raise self._missing("Stream", "run on the default stream")
        return found

    def stream(self, stream: Any) -> ContextManager[Any]:
        try:
            select = self._mod.stream
        except AttributeError:
            if hasattr(stream, "__enter__"):  # torch.Stream is a context manager from torch 2.7 on
                return stream
            select = self._fallback("stream")
        return select(stream)

    def current_stream(self, device_index: Optional[int] = None) -> Any:
        try:
            current = self._mod.current_stream
        except AttributeError:
            current = self._fallback("current_stream")
        return current(device_index)

    def default_stream(self, device_index: Optional[int] = None) -> Any:
        return self._member("default_stream")(device_index)

    @property
    def Event(self) -> type:
        found = getattr(self._mod, "Event", None) or getattr(torch, "Event", None)
        if found is None:
            raise self._missing("Event", "time with time.perf_counter() after synchronize()")
        return found

    # -- memory ---------------------------------------------------------------------------
    def empty_cache(self) -> None:
        try:
            empty = self._mod.empty_cache
        except AttributeError:
            empty = self._fallback("empty_cache")
        empty()

    def memory_allocated(self, device_index: Optional[int] = None) -> int:
        try:
            allocated = self._mod.memory_allocated
        except AttributeError:
            allocated = self._fallback("memory_allocated")
        return allocated(device_index)

    def max_memory_allocated(self, device_index: Optional[int] = None) -> int:
        try:
            peak = self._mod.max_memory_allocated
        except AttributeError:
            peak = self._fallback("max_memory_allocated")
        return peak(device_index)

    def reset_max_memory_allocated(self, device_index: Optional[int] = None) -> None:
        self.reset_peak_memory_stats(device_index)

    def memory_cached(self, device_index: Optional[int] = None) -> int:
        return self.memory_reserved(device_index)

    def max_memory_cached(self, device_index: Optional[int] = None) -> int:
        return self.max_memory_reserved(device_index)

    def reset_max_memory_cached(self, device_index: Optional[int] = None) -> None:
        self.reset_peak_memory_stats(device_index)

    def memory_stats(self, device_index: Optional[int] = None) -> Dict[str, Any]:
        return dict(self._member("memory_stats")(device_index))

    def reset_peak_memory_stats(self, device_index: Optional[int] = None) -> None:
        self._member("reset_peak_memory_stats")(device_index)

    def memory_reserved(self, device_index: Optional[int] = None) -> int:
        return self._member("memory_reserved")(device_index)

    def max_memory_reserved(self, device_index: Optional[int] = None) -> int:
        return self._member("max_memory_reserved")(device_index)

    def total_memory(self, device_index: Optional[int] = None) -> int:
        properties = getattr(self._mod, "get_device_properties", None)
        if properties is not None:
            return properties(self.current_device() if device_index is None else device_index).total_memory
        return self._member("mem_get_info")(device_index)[1]

    def available_memory(self, device_index: Optional[int] = None) -> int:
        return self._member("mem_get_info")(device_index)[0]

    # -- data types -----------------------------------------------------------------------
    def is_bf16_supported(self) -> bool:
        return self._probe("bf16", self._facts.bf16, torch.bfloat16)

    def is_fp16_supported(self) -> bool:
        return self._probe("fp16", self._facts.fp16, torch.float16)

    def _probe(self, kind: str, probe: str, dtype: "torch.dtype") -> bool:
        if kind in self._probed:
            return self._probed[kind]
        if probe == "no" or not self.is_available():
            return False  # not cached: the device may become available (a later set-up) and say otherwise
        if probe == "yes":
            result = True
        else:
            asked = getattr(self._mod, f"is_{kind}_supported", None) if probe == "module" else None
            result = bool(asked()) if asked is not None else _runs_in(self._name, dtype)
        self._probed[kind] = result
        return result

    def supported_dtypes(self) -> List[torch.dtype]:
        dtypes = [torch.float32]
        if self.is_bf16_supported():
            dtypes.append(torch.bfloat16)
        if self.is_fp16_supported():
            dtypes.append(torch.float16)
        return dtypes

    def _tensor_type(self, legacy: str, dtype: "torch.dtype") -> Any:
        return getattr(self._mod, legacy, None) or TensorType(dtype, self._name)

    @property
    def BFloat16Tensor(self) -> Any:
        # torch.cuda.BFloat16Tensor exists but cannot be constructed from data; every backend gets one that can.
        return TensorType(torch.bfloat16, self._name)

    @property
    def ByteTensor(self) -> Any:
        return self._tensor_type("ByteTensor", torch.uint8)

    @property
    def DoubleTensor(self) -> Any:
        return self._tensor_type("DoubleTensor", torch.float64)

    @property
    def FloatTensor(self) -> Any:
        return self._tensor_type("FloatTensor", torch.float32)

    @property
    def HalfTensor(self) -> Any:
        return self._tensor_type("HalfTensor", torch.float16)

    @property
    def IntTensor(self) -> Any:
        return self._tensor_type("IntTensor", torch.int32)

    @property
    def LongTensor(self) -> Any:
        return self._tensor_type("LongTensor", torch.int64)

    # -- misc -----------------------------------------------------------------------------
    def amp(self) -> Any:
        return self._amp

    def range_push(self, msg: str) -> None:
        nvtx = getattr(self._mod, "nvtx", None)
        if nvtx is not None:
            nvtx.range_push(msg)
        else:
            self._ranges.push(msg)

    def range_pop(self) -> None:
        nvtx = getattr(self._mod, "nvtx", None)
        if nvtx is not None:
            nvtx.range_pop()
        else:
            self._ranges.pop()

    def lazy_call(self, callback: Callable[[], Any]) -> None:
        lazy = getattr(self._mod, "_lazy_call", None)
        if lazy is None:
            callback()
        else:
            lazy(callback)

    # -- graphs ---------------------------------------------------------------------------
    def _no_graphs(self) -> NotImplementedError:
        if self._host:
            return NotImplementedError("device graphs need a GPU; the CPU accelerator runs eagerly (use torch.compile)")
        return NotImplementedError(
            f"{self._name}: torch {torch.__version__} has no device graphs for {self._name}; "
            "run eagerly or use torch.compile"
        )

    def _graph_class(self) -> Any:
        name = self._facts.graph_class
        graph_class = getattr(self._mod, name, None) if name and not self._host else None
        if graph_class is None and not self._host and _current_accelerator_type() == self._name:
            graph_class = getattr(torch.accelerator, "Graph", None)
        return graph_class

    def create_graph(self) -> Any:
        graph_class = self._graph_class()
        if graph_class is None:
            raise self._no_graphs()
        try:
            return graph_class()
        except RuntimeError as exc:  # torch.accelerator.Graph on a device whose backend has no graphs
            raise NotImplementedError(f"{self._no_graphs()} ({exc})") from None

    def capture_to_graph(self, graph: Any, pool: Any = None, stream: Any = None) -> ContextManager[Any]:
        if self._graph_class() is None:
            raise self._no_graphs()
        capture = getattr(self._mod, "graph", None)
        if capture is not None:
            return capture(graph, pool, stream)
        if hasattr(graph, "__enter__"):  # torch.accelerator.Graph captures as a context manager
            return graph
        raise self._no_graphs()

    def replay_graph(self, graph: Any) -> None:
        replay = getattr(graph, "replay", None)
        if replay is None:  # no graph was made: say why there is none rather than fail on None.replay
            raise self._no_graphs() if self._graph_class() is None else NotImplementedError(
                f"{self._name}: {graph!r} is not a device graph; make one with create_graph()"
            )
        replay()

    # -- tensors --------------------------------------------------------------------------
    def pin_memory(self, tensor: torch.Tensor, align_bytes: int = 1) -> torch.Tensor:
        # Pinning needs a device to transfer to; a CPU-only build raises on tensor.pin_memory().
        if self._host and not _any_accelerator():
            return tensor
        try:
            return tensor.pin_memory()
        except (RuntimeError, NotImplementedError) as exc:
            if self._host:  # pinning only speeds up copies to a device: the host tensor itself serves
                return tensor
            raise NotImplementedError(
                f"{self._name}: torch cannot pin host memory for this device here ({exc}); pass pin_memory=False"
            ) from None

    def on_accelerator(self, tensor: torch.Tensor) -> bool:
        return tensor.device.type == self._name

    # -- launching ------------------------------------------------------------------------
    def export_envs(self) -> List[str]:
        return list(self._facts.export_envs)

    def visible_devices_envs(self) -> List[str]:
        return list(self._facts.visible_devices_envs)

    def set_visible_devices_envs(self, current_env: Dict[str, str], local_accelerator_ids: List[int]) -> None:
        for name in self.visible_devices_envs():
            current_env[name] = ",".join(str(i) for i in local_accelerator_ids)


def _any_accelerator() -> bool:
    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and hasattr(accelerator, "is_available"):
        return bool(accelerator.is_available())
    return torch.cuda.is_available()


def _runs_in(device_type: str, dtype: "torch.dtype") -> bool:
    """Whether a small multiply in ``dtype`` runs on the device (the probe for devices that cannot say)."""
    try:
        x = torch.ones(2, 2, dtype=dtype, device=device_type)
        return bool(torch.isfinite((x @ x).float()).all().item())
    except (RuntimeError, TypeError, NotImplementedError):
        return False


__all__ = ["TorchAccelerator", "UnavailableAccelerator", "device_module", "unavailable_reason"]
