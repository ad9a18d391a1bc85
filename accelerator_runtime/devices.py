"""What torch does not say about a device: one row per device type, read by ``TorchAccelerator`` and by
detection. Adding a device is adding a row, never a subclass.

Sources for the rows: the vendors' own torch extensions and DeepSpeed's accelerator classes (the
communication backends, visible-devices variables and exported variable prefixes they use). A device
type torch knows but this table does not (a renamed PrivateUse1 backend, ``maia``...) gets ``generic``:
everything torch itself exposes works, and the facts it cannot give raise NotImplementedError.

Importing this module imports nothing heavy (no torch).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Dict, Optional, Tuple

# How fp16/bf16 support is found out, in the order of the cheapest reliable source:
#   "yes"     whenever the device is available
#   "no"      never
#   "module"  the device module's own is_bf16_supported()/is_fp16_supported(), else "try"
#   "try"     run a tiny multiply in that dtype on the device, once (its result is cached)
Probe = str


@dataclasses.dataclass(frozen=True)
class DeviceFacts:
    device_type: str
    hardware: str  # what the machine needs, for error messages and `accelport info`
    install: str  # what to install so that torch knows the device
    provider: Optional[str] = None  # module whose import registers the device with torch (torch_npu)
    communication_backend: Optional[str] = None  # torch.distributed backend; None: there is none
    # (module, backend): the backend to use instead when that module is installed (oneCCL bindings)
    communication_backend_with: Optional[Tuple[str, str]] = None
    visible_devices_envs: Tuple[str, ...] = ()
    export_envs: Tuple[str, ...] = ("MASTER",)
    amp_dtype: str = "float16"  # autocast's default dtype, as torch.cuda.amp has it on CUDA
    fp16: Probe = "module"
    bf16: Probe = "module"
    graph_class: Optional[str] = None  # the device module's graph class (CUDAGraph); else torch.accelerator.Graph
    triton_min_major: Optional[int] = None  # Triton runs from this capability major on; None: no Triton
    compile_backends: Tuple[str, ...] = ("inductor", "eager", "aot_eager")
    host: bool = False  # the device is the host: synchronous, host-clock events, resident-memory statistics


DEVICES: Dict[str, DeviceFacts] = {
    facts.device_type: facts
    for facts in (
        DeviceFacts(
            "cuda",
            hardware="an NVIDIA GPU with its driver (or an AMD GPU with ROCm)",
            install="a CUDA or ROCm build of torch (pip install torch on Linux x86-64 gives CUDA)",
            communication_backend="nccl",
            visible_devices_envs=("CUDA_VISIBLE_DEVICES",),
            export_envs=("NCCL", "MASTER", "CUDA", "PYTORCH_CUDA_ALLOC_CONF"),
            fp16="yes",
            graph_class="CUDAGraph",
            triton_min_major=7,
            compile_backends=("inductor", "eager", "aot_eager", "cudagraphs"),
        ),
        DeviceFacts(
            "xpu",
            hardware="an Intel GPU with its driver",
            install="a torch build with XPU support (pip install torch --index-url https://download.pytorch.org/whl/xpu)",
            communication_backend="xccl",
            communication_backend_with=("oneccl_bindings_for_pytorch", "ccl"),
            visible_devices_envs=("ZE_AFFINITY_MASK",),
            export_envs=("MASTER", "ZE_", "CCL", "I_MPI", "FI_"),
            amp_dtype="bfloat16",
            fp16="yes",
            graph_class="XPUGraph",
            triton_min_major=0,
        ),
        DeviceFacts(
            "mps",
            hardware="an Apple-silicon Mac (macOS 12.3 or newer)",
            install="torch for macOS on arm64 (pip install torch)",
            fp16="yes",
            bf16="try",
        ),
        DeviceFacts(
            "hpu",
            hardware="an Intel Gaudi card",
            install="the Intel Gaudi software stack (habana_frameworks, from Intel's Gaudi installer)",
            provider="habana_frameworks.torch",
            communication_backend="hccl",
            # Gaudi's own variable; DeepSpeed writes CUDA_VISIBLE_DEVICES here instead.
            visible_devices_envs=("HABANA_VISIBLE_MODULES",),
            export_envs=("MASTER", "HABANA", "HCCL", "PT_HPU"),
            amp_dtype="bfloat16",
            fp16="module",
            bf16="yes",
            graph_class="HPUGraph",
            compile_backends=("hpu_backend", "inductor", "eager", "aot_eager"),
        ),
        DeviceFacts(
            "npu",
            hardware="an Ascend NPU with the CANN toolkit",
            install="the torch_npu package (pip install torch-npu, matching your torch)",
            provider="torch_npu",
            communication_backend="hccl",
            visible_devices_envs=("ASCEND_RT_VISIBLE_DEVICES",),
            export_envs=("MASTER", "ASCEND", "HCCL", "LD_LIBRARY", "PATH"),
            fp16="yes",
            graph_class="NPUGraph",
        ),
        DeviceFacts(
            "mlu",
            hardware="a Cambricon MLU with the Neuware toolkit",
            install="the torch_mlu package (from Cambricon)",
            provider="torch_mlu",
            communication_backend="cncl",
            visible_devices_envs=("MLU_VISIBLE_DEVICES",),
            export_envs=("MASTER", "NEUWARE_HOME", "CNCL", "LD_LIBRARY", "PATH"),
            fp16="yes",
            graph_class="MLUGraph",
        ),
        DeviceFacts(
            "sdaa",
            hardware="a Tecorigin SDAA card",
            install="the torch_sdaa package (from Tecorigin)",
            provider="torch_sdaa",
            communication_backend="tccl",
            visible_devices_envs=("SDAA_VISIBLE_DEVICES",),
            export_envs=("MASTER", "NCCL", "LD_LIBRARY", "PATH"),
            fp16="yes",
        ),
        DeviceFacts(
            "supa",
            hardware="a Biren GPU",
            install="the torch_supa package (from Biren)",
            provider="torch_supa",
            communication_backend="bccl",
            visible_devices_envs=("SUPA_VISIBLE_DEVICES",),
            export_envs=("MASTER", "BCCL", "BIREN", "SUPA", "LD_LIBRARY", "PATH"),
            fp16="yes",
            bf16="yes",
        ),
        DeviceFacts(
            "mtia",
            hardware="a Meta MTIA accelerator",
            install="a torch build with MTIA support",
        ),
        DeviceFacts(
            "cpu",
            hardware="nothing (the host)",
            install="torch",
            communication_backend="gloo",
            communication_backend_with=("oneccl_bindings_for_pytorch", "ccl"),
            export_envs=("MASTER", "KMP", "OMP", "LD_PRELOAD", "CCL", "I_MPI", "FI_"),
            amp_dtype="bfloat16",  # the CPU's fast low-precision type; fp16 autocast exists but is slow
            fp16="yes",
            bf16="yes",
            host=True,
        ),
    )
}

# DeepSpeed's DS_ACCELERATOR values that are not plain torch device types.
ALIASES: Dict[str, str] = {"xpu.external": "xpu"}


class UnavailableAccelerator(RuntimeError):
    """A known accelerator was asked for but cannot run here; the message says what is missing."""


def generic(device_type: str) -> DeviceFacts:
    """The facts of a device the table does not list: only what torch itself says."""
    return DeviceFacts(
        device_type,
        hardware=f"a {device_type} device",
        install=f"the package that registers the {device_type!r} device with torch",
    )


def facts_for(device_type: str) -> DeviceFacts:
    return DEVICES.get(device_type) or generic(device_type)


def findable(module: str) -> bool:
    """Whether the top-level package of ``module`` is installed, found without importing it."""
    try:
        return importlib.util.find_spec(module.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False
