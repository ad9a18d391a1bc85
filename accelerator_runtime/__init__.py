"""What ported code imports: ``from accelport.accelerator_runtime import get_accelerator``.

Importing this package imports no torch, touches no device and builds nothing; the accelerator is
chosen on the first ``get_accelerator()`` call (see ``selection.py``).
"""

from accelport.accelerator_runtime.abstract import Accelerator
from accelport.accelerator_runtime.devices import UnavailableAccelerator
from accelport.accelerator_runtime.selection import get_accelerator, reset_accelerator, set_accelerator

__all__ = [
    "Accelerator",
    "CpuAccelerator",
    "CudaAccelerator",
    "TorchAccelerator",
    "UnavailableAccelerator",
    "get_accelerator",
    "set_accelerator",
    "reset_accelerator",
]

# The backends import torch; ported code that only calls get_accelerator() pays for it once.
_LAZY = {
    "CpuAccelerator": "accelport.accelerator_runtime.cpu",
    "CudaAccelerator": "accelport.accelerator_runtime.cuda",
    "TorchAccelerator": "accelport.accelerator_runtime.torch_accelerator",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
