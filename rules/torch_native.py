"""``--target torch``: which accelerator methods have an exact PyTorch-native spelling, and which do not.

The rules always build ``get_accelerator().X(...)``; with ``--target torch`` a post-pass
(``accelport.codemod.engine.torch_target``) replaces the calls whose ``X`` is in ``TORCH_NATIVE`` with
PyTorch's own device-agnostic API. "Exact" means all three of:

1. on CUDA it does what the ``torch.cuda`` call did;
2. it exists for every accelerator PyTorch ships a device module for (CUDA, XPU, MPS, MTIA), so it
   means something on the other backends (``tests/test_torch_target.py`` checks this against the
   installed torch);
3. on a machine with no accelerator it behaves as the ``torch.cuda`` call did there: both raise, or
   both return the same. ``torch.cuda.empty_cache()`` does nothing and ``torch.cuda.memory_allocated()``
   returns 0 without a GPU, while ``torch.accelerator.empty_cache()`` raises; porting them would break
   scripts that run today on CPU, so they stay ``get_accelerator()`` calls, which work there.

Every other method the rules emit is in ``FALLBACK`` with the reason; the two tables together cover
``ACCELERATOR_METHODS`` (a test checks it), and ``docs/targets.md`` is generated from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Tuple

from accelport.rules.torch_cuda_call import RESHAPED, SAME_NAME

# Every method of the accelerator handle the rules can emit: the same-name ``torch.cuda`` ports, the
# first step of each reshaped one, and what the other rule families build.
EMITTED_BY_OTHER_RULES: FrozenSet[str] = frozenset(
    {
        "current_device_name",  # current-device, device use
        "device_name",  # cuda-device-string, tensor-cuda-method, ddp-device-ids
        "on_accelerator",  # tensor-is-cuda
        "pin_memory",  # tensor-pin-memory
        "communication_backend_name",  # nccl-backend
        "total_memory",  # torch-cuda-call: get_device_properties(i).total_memory
        "default_generator",  # torch-cuda-call: default_generators[i]
        "create_op_builder",  # op-builder
    }
)
ACCELERATOR_METHODS: FrozenSet[str] = frozenset(
    SAME_NAME | {steps[0].rstrip("()") for steps in RESHAPED.values()} | EMITTED_BY_OTHER_RULES
)


@dataclass(frozen=True)
class TorchNative:
    # The replacement for ``get_accelerator().X``, spelled from ``torch`` (the file's alias is used).
    target: str
    # The ``torch.cuda`` parameter names, in order. PyTorch's device-agnostic functions take them
    # positional-only, so ``device=0`` becomes ``0``; any other keyword or a ``*args`` keeps the
    # call on ``get_accelerator()``.
    params: Tuple[str, ...]
    note: str


_NO_ACCEL_RAISES = "without an accelerator both raise"

TORCH_NATIVE: Dict[str, TorchNative] = {
    "is_available": TorchNative(
        "torch.accelerator.is_available", (), "True when an accelerator is usable; False on CPU-only machines, as torch.cuda's"
    ),
    "device_count": TorchNative("torch.accelerator.device_count", (), "0 on CPU-only machines, as torch.cuda's"),
    "synchronize": TorchNative("torch.accelerator.synchronize", ("device",), _NO_ACCEL_RAISES),
    "set_device": TorchNative(
        "torch.accelerator.set_device_index", ("device",), f"a negative index is a no-op in both; {_NO_ACCEL_RAISES}"
    ),
    "current_device": TorchNative(
        "torch.accelerator.current_device_index", (), f"an int, as torch.cuda.current_device(); {_NO_ACCEL_RAISES}"
    ),
    "reset_peak_memory_stats": TorchNative("torch.accelerator.reset_peak_memory_stats", ("device",), _NO_ACCEL_RAISES),
    "reset_max_memory_allocated": TorchNative(
        "torch.accelerator.reset_peak_memory_stats",
        ("device",),
        f"the deprecated CUDA function calls reset_peak_memory_stats; {_NO_ACCEL_RAISES}",
    ),
    "reset_max_memory_cached": TorchNative(
        "torch.accelerator.reset_peak_memory_stats",
        ("device",),
        f"the deprecated CUDA function calls reset_peak_memory_stats; {_NO_ACCEL_RAISES}",
    ),
    "get_rng_state": TorchNative(
        "torch.get_device_module().get_rng_state",
        ("device",),
        f"the current accelerator's module (torch.cuda on CUDA); {_NO_ACCEL_RAISES}",
    ),
}

_CPU_ZERO = "torch.accelerator.{} raises without an accelerator, where torch.cuda's {}"
_SEED = (
    "torch.cuda's queues the seed and does nothing without a GPU; torch.get_device_module() gives "
    "torch.cpu there, which has no {}"
)
_NOT_ON_MPS = "torch.mps has no {0}, so torch.get_device_module().{0} fails on Apple GPUs"
_DEVICE_STRING = (
    "torch.accelerator.current_accelerator() is a torch.device, and None on CPU-only machines, where "
    "the runtime gives 'cpu'"
)
_STREAM_TYPE = (
    "PyTorch's generic {} is a torch.{} and not a torch.cuda.{} (no .cuda_{} and fails isinstance checks "
    "against the CUDA class)"
)

FALLBACK: Dict[str, str] = {
    "empty_cache": _CPU_ZERO.format("empty_cache", "does nothing"),
    "memory_allocated": _CPU_ZERO.format("memory_allocated", "returns 0"),
    "max_memory_allocated": _CPU_ZERO.format("max_memory_allocated", "returns 0"),
    "memory_reserved": _CPU_ZERO.format("memory_reserved", "returns 0"),
    "max_memory_reserved": _CPU_ZERO.format("max_memory_reserved", "returns 0"),
    "memory_cached": _CPU_ZERO.format("memory_reserved", "memory_cached returns 0"),
    "max_memory_cached": _CPU_ZERO.format("max_memory_reserved", "max_memory_cached returns 0"),
    "memory_stats": _CPU_ZERO.format("memory_stats", "returns {}"),
    "manual_seed": _SEED.format("manual_seed"),
    "manual_seed_all": _SEED.format("manual_seed_all"),
    "seed": _SEED.format("seed"),
    "seed_all": _SEED.format("seed_all"),
    "initial_seed": _NOT_ON_MPS.format("initial_seed"),
    "set_rng_state": (
        "torch.cuda's queues the state and does nothing without a GPU; torch.get_device_module() gives "
        "torch.cpu there, which has no set_rng_state"
    ),
    "is_bf16_supported": _NOT_ON_MPS.format("is_bf16_supported"),
    "device": (
        "torch.accelerator.device_index takes an int or None only, where torch.cuda.device also takes a "
        "torch.device or a string"
    ),
    "stream": "torch.accelerator has no stream context manager for a given stream (torch.Stream is one itself)",
    "current_stream": _STREAM_TYPE.format("stream", "Stream", "Stream", "stream"),
    "default_stream": "torch.accelerator has no default_stream",
    "Stream": _STREAM_TYPE.format("stream", "Stream", "Stream", "stream"),
    "Event": _STREAM_TYPE.format("event", "Event", "Event", "event"),
    "lazy_call": "a CUDA initialisation hook with no PyTorch-native counterpart",
    "range_push": "PyTorch has no device-agnostic push/pop range (torch.profiler.record_function is a context manager)",
    "range_pop": "PyTorch has no device-agnostic push/pop range (torch.profiler.record_function is a context manager)",
    "device_name": _DEVICE_STRING,
    "current_device_name": _DEVICE_STRING,
    "on_accelerator": _DEVICE_STRING,
    "communication_backend_name": (
        "torch.distributed.get_default_backend_for_device needs the accelerator's device, which is None on "
        "CPU-only machines"
    ),
    "total_memory": (
        "torch.accelerator.get_memory_info() reports the driver's total, which is not always the device "
        "property total_memory"
    ),
    "default_generator": "torch.accelerator has no per-device default generators",
    "create_op_builder": "PyTorch has no op builders; the runtime picks the builder of the active backend",
    "pin_memory": "x.pin_memory() raises without an accelerator; the runtime returns the tensor unpinned on CPU",
    **{
        name: "a CUDA typed-tensor class; PyTorch has no device-agnostic typed tensors"
        for name in ("BFloat16Tensor", "ByteTensor", "DoubleTensor", "FloatTensor", "HalfTensor", "IntTensor", "LongTensor")
    },
}
