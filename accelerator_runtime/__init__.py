"""What ported code imports: ``from accelport.accelerator_runtime import get_accelerator``.

Importing this package touches no device and builds nothing; the accelerator is chosen on the first
``get_accelerator()`` call (see ``selection.py``).
"""

from accelport.accelerator_runtime.abstract import Accelerator
from accelport.accelerator_runtime.selection import get_accelerator, reset_accelerator, set_accelerator

__all__ = ["Accelerator", "CpuAccelerator", "CudaAccelerator", "get_accelerator", "set_accelerator", "reset_accelerator"]


def __getattr__(name: str):
    # The backends import torch; ported code that only calls get_accelerator() pays for it once.
    if name == "CpuAccelerator":
        from accelport.accelerator_runtime.cpu import CpuAccelerator

        return CpuAccelerator
    if name == "CudaAccelerator":
        from accelport.accelerator_runtime.cuda import CudaAccelerator

        return CudaAccelerator
    raise AttributeError(name)
