"""The fused (multi-tensor) CUDA Adam op builder: ``csrc/fused_adam.cu``."""

from __future__ import annotations

from typing import List, Tuple

from accelport.kernels.builder import OpBuilder


class FusedAdamBuilder(OpBuilder):
    NAME = "accelport_fused_adam"
    BACKEND = "cuda"

    def sources(self) -> List[str]:
        return ["fused_adam_binding.cpp", "fused_adam.cu"]

    def is_compatible(self) -> Tuple[bool, str]:
        ok, reason = super().is_compatible()
        if not ok:
            return ok, reason
        import torch
        from torch.utils import cpp_extension

        if torch.version.cuda is None and getattr(torch.version, "hip", None) is None:
            return False, f"this torch ({torch.__version__}) is a CPU-only build"
        if cpp_extension.CUDA_HOME is None and cpp_extension.ROCM_HOME is None:
            return False, "no CUDA toolkit found (set CUDA_HOME to the folder holding bin/nvcc)"
        if not torch.cuda.is_available():
            return False, "no CUDA device is visible"
        return True, ""
