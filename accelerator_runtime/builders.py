"""Op builder lookup for the accelerators: which builder class a backend uses for a name.

Imported by the accelerators' ``get_op_builder``; it imports the builder modules only when asked,
so importing the runtime builds nothing.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Optional, Tuple

OP_BUILDER_PACKAGE = "accelport.kernels"

# backend -> class name -> "module:attribute"
BUILDERS: Dict[str, Dict[str, str]] = {
    "cpu": {"CPUAdamBuilder": "accelport.kernels.cpu_adam:CPUAdamBuilder"},
    "cuda": {
        "FusedAdamBuilder": "accelport.kernels.fused_adam:FusedAdamBuilder",
        # CPU Adam also serves GPU training with optimizer offload, as in DeepSpeed.
        "CPUAdamBuilder": "accelport.kernels.cpu_adam:CPUAdamBuilder",
    },
}


def register(backend: str, class_name: str, target: str) -> None:
    """Add a builder (``"package.module:Class"``) for a backend; third-party accelerators call this."""
    BUILDERS.setdefault(backend, {})[class_name] = target


def _split(target: str) -> Tuple[str, str]:
    module, _, attr = target.partition(":")
    return module, attr


def find(backend: str, class_name: str) -> Optional[type]:
    """The builder class, or None when the backend has no builder of that name."""
    target = BUILDERS.get(backend, {}).get(class_name)
    if target is None:
        return None
    module, attr = _split(target)
    return getattr(importlib.import_module(module), attr)


def create(backend: str, class_name: str) -> Any:
    builder = find(backend, class_name)
    return None if builder is None else builder()
