"""The CUDA accelerator: ``TorchAccelerator`` configured for ``cuda`` (NVIDIA, and AMD under ROCm, which
PyTorch exposes as ``torch.cuda``).

It was a class of its own calling ``torch.cuda`` by name; the generic one does the same calls through
the device module and measured no slower (``bench/bench_dispatch.py --stub -a cuda``, README), so there
is one implementation to keep right. Constructing it touches no device.
"""

from __future__ import annotations

from accelport.accelerator_runtime.torch_accelerator import TorchAccelerator


class CudaAccelerator(TorchAccelerator):
    """NVIDIA and ROCm GPUs: the ``cuda`` row of ``devices.DEVICES`` (nccl, ``CUDA_VISIBLE_DEVICES``,
    CUDA graphs, NVTX ranges, Triton from compute capability 7.0)."""

    def __init__(self) -> None:
        super().__init__("cuda")

    def __repr__(self) -> str:
        return "CudaAccelerator()"
