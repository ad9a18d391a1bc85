"""What the built-in accelerators share: ``torch.cuda.amp``-shaped amp, op builders, compile backend."""

from __future__ import annotations

from typing import Any, Optional, Tuple

import torch

from accelport.accelerator_runtime import builders


class Amp:
    """``torch.cuda.amp``'s call shapes, ``autocast(enabled=True, dtype=...)`` and ``GradScaler(...)``,
    for any device through ``torch.amp`` (``torch.cuda.amp`` itself warns as deprecated)."""

    def __init__(self, device_type: str, default_dtype: "torch.dtype") -> None:
        self.device_type = device_type
        self.default_dtype = default_dtype

    def autocast(self, enabled: bool = True, dtype: Optional["torch.dtype"] = None, cache_enabled: bool = True) -> Any:
        return torch.amp.autocast(
            self.device_type, enabled=enabled, dtype=dtype or self.default_dtype, cache_enabled=cache_enabled
        )

    def GradScaler(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> Any:
        return torch.amp.GradScaler(
            self.device_type,
            init_scale=init_scale,
            growth_factor=growth_factor,
            backoff_factor=backoff_factor,
            growth_interval=growth_interval,
            enabled=enabled,
        )


class TensorType:
    """A typed-tensor type for a device that has no legacy ones (``torch.cuda.FloatTensor``'s uses):
    ``T([1, 2])`` copies data, ``T(2, 3)`` is an uninitialised 2x3 tensor, and ``isinstance(x, T)``
    checks dtype and device type."""

    def __init__(self, dtype: "torch.dtype", device_type: str) -> None:
        self.dtype = dtype
        self.device_type = device_type

    def __call__(self, *args: Any) -> "torch.Tensor":
        if len(args) == 1 and not isinstance(args[0], int):
            if isinstance(args[0], torch.Size):
                return torch.empty(args[0], dtype=self.dtype, device=self.device_type)
            return torch.tensor(args[0], dtype=self.dtype, device=self.device_type)
        return torch.empty(args, dtype=self.dtype, device=self.device_type)

    def __instancecheck__(self, obj: Any) -> bool:
        return isinstance(obj, torch.Tensor) and obj.dtype == self.dtype and obj.device.type == self.device_type

    def __repr__(self) -> str:
        return f"TensorType({self.dtype}, {self.device_type!r})"


class CommonMethods:
    """Interface methods that do not depend on the device: mixed into CpuAccelerator and CudaAccelerator."""

    _name: str
    _compile_backend: Optional[str]
    COMPILE_BACKENDS: Tuple[str, ...] = ("inductor", "eager", "aot_eager")

    def is_pinned(self, tensor: torch.Tensor) -> bool:
        try:
            return bool(tensor.is_pinned())
        except RuntimeError:  # a CPU-only build cannot tell: nothing is pinned there
            return False

    def op_builder_dir(self) -> str:
        return builders.OP_BUILDER_PACKAGE

    def create_op_builder(self, class_name: str) -> Any:
        return builders.create(self._name, class_name)

    def get_op_builder(self, class_name: str) -> Any:
        return builders.find(self._name, class_name)

    def build_extension(self) -> Any:
        from torch.utils.cpp_extension import BuildExtension

        return BuildExtension

    def get_compile_backend(self) -> str:
        return self._compile_backend or "inductor"

    def set_compile_backend(self, backend: str) -> None:
        if backend not in self.COMPILE_BACKENDS:
            known = ", ".join(self.COMPILE_BACKENDS)
            raise ValueError(f"{backend!r} is not a torch.compile backend for {self._name}; known: {known}")
        self._compile_backend = backend
