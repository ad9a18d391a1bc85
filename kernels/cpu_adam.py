"""The CPU Adam op builder: ``csrc/cpu_adam.cpp``, threads from PyTorch's pool, the host's SIMD."""

from __future__ import annotations

import platform
from typing import List

from accelport.kernels.builder import OpBuilder


class CPUAdamBuilder(OpBuilder):
    NAME = "accelport_cpu_adam"
    BACKEND = "cpu"

    def sources(self) -> List[str]:
        return ["cpu_adam.cpp"]

    def cxx_args(self) -> List[str]:
        # Built on the machine that runs it, so the host's vector units are fair game. sqrt needs
        # -fno-math-errno to vectorise; no -ffast-math, so results match PyTorch's to rounding.
        args = ["-O3", "-std=c++17", "-fopenmp-simd", "-fno-math-errno"]
        if platform.machine() in ("x86_64", "AMD64"):
            args.append("-march=native")
        return args

