"""``CPUAdam`` and ``FusedAdam``: ``torch.optim.Optimizer``s backed by the JIT-built kernels.

When the kernel cannot be built (no compiler, ``ACCELPORT_DISABLE_JIT=1``, no GPU for FusedAdam),
both fall back to the same update written in PyTorch, after a one-line warning (once per process).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import torch

from accelport.kernels.builder import BuildError, OpBuilder

_warned: set = set()


def _kernel(builder: OpBuilder) -> Any:
    """The compiled module, or None after a one-line warning when it cannot be had."""
    try:
        return builder.load()
    except BuildError as exc:
        if builder.NAME not in _warned:
            _warned.add(builder.NAME)
            warnings.warn(f"accelport: {exc}; using the PyTorch fallback (slower)", RuntimeWarning, stacklevel=3)
        return None


def adam_reference(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    adamw_mode: bool,
    bias_correction: bool,
) -> None:
    """The update in PyTorch, as ``torch.optim.Adam``/``AdamW`` compute it (in place)."""
    if weight_decay:
        if adamw_mode:
            param.mul_(1 - lr * weight_decay)
        else:
            grad = grad.add(param, alpha=weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    bc1 = 1 - beta1**step if bias_correction else 1.0
    bc2 = 1 - beta2**step if bias_correction else 1.0
    denom = (exp_avg_sq.sqrt() / math.sqrt(bc2)).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-lr / bc1)


class _AdamBase(torch.optim.Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        adamw_mode: bool = True,
        bias_correction: bool = True,
        amsgrad: bool = False,
    ) -> None:
        if amsgrad:
            raise ValueError(f"{type(self).__name__} does not support amsgrad")
        if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid hyperparameters: lr={lr}, betas={betas}, eps={eps}, weight_decay={weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, bias_correction=bias_correction)
        super().__init__(params, defaults)
        self.adamw_mode = adamw_mode

    def _state(self, param: torch.Tensor) -> Dict[str, Any]:
        state = self.state[param]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param, dtype=torch.float32, memory_format=torch.contiguous_format)
            state["exp_avg_sq"] = torch.zeros_like(param, dtype=torch.float32, memory_format=torch.contiguous_format)
        state["step"] = int(state["step"]) + 1
        return state

    def _fallback(self, param: torch.Tensor, state: Dict[str, Any], group: Dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        master = param.data if param.dtype == torch.float32 else param.data.float()
        adam_reference(
            master, param.grad.float(), state["exp_avg"], state["exp_avg_sq"], state["step"], group["lr"], beta1,
            beta2, group["eps"], group["weight_decay"], self.adamw_mode, group["bias_correction"],
        )  # fmt: skip
        if master is not param.data:
            param.data.copy_(master)


class CPUAdam(_AdamBase):
    """Adam/AdamW over fp32 CPU parameters with the OpenMP+SIMD kernel (``CPUAdamBuilder``).

    ``step(param_copies=...)`` also writes each updated parameter into a bf16/fp16 tensor of the same
    shape in the same pass: the low-precision copy a mixed-precision model computes with.
    """

    def __init__(self, params: Iterable[Any], *args: Any, builder: Optional[OpBuilder] = None, **kwargs: Any) -> None:
        super().__init__(params, *args, **kwargs)
        from accelport.kernels.cpu_adam import CPUAdamBuilder

        self._module = _kernel(builder or CPUAdamBuilder())

    @property
    def uses_kernel(self) -> bool:
        return self._module is not None

    @torch.no_grad()
    def step(
        self, closure: Optional[Callable[[], Any]] = None, param_copies: Optional[Dict[torch.Tensor, torch.Tensor]] = None
    ) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self._state(param)
                copy = param_copies.get(param) if param_copies else None
                usable = (
                    self._module is not None
                    and param.device.type == "cpu"
                    and param.dtype == torch.float32
                    and param.is_contiguous()
                )
                if usable:
                    grad = param.grad if param.grad.is_contiguous() else param.grad.contiguous()
                    self._module.adam_step(
                        param.data, grad.float(), state["exp_avg"], state["exp_avg_sq"], state["step"], group["lr"],
                        beta1, beta2, group["eps"], group["weight_decay"], self.adamw_mode, group["bias_correction"],
                        copy,
                    )  # fmt: skip
                else:
                    self._fallback(param, state, group)
                    if copy is not None:
                        copy.copy_(param.data)
        return loss


class FusedAdam(_AdamBase):
    """Adam/AdamW over CUDA parameters with one multi-tensor kernel launch per dtype (``FusedAdamBuilder``).

    Without a GPU or a CUDA toolkit it runs the PyTorch fallback, after a one-line warning.
    """

    def __init__(self, params: Iterable[Any], *args: Any, builder: Optional[OpBuilder] = None, **kwargs: Any) -> None:
        super().__init__(params, *args, **kwargs)
        from accelport.kernels.fused_adam import FusedAdamBuilder

        self._module = _kernel(builder or FusedAdamBuilder())

    @property
    def uses_kernel(self) -> bool:
        return self._module is not None

    @torch.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            by_kind: Dict[Tuple[torch.device, torch.dtype, int], List[Any]] = {}
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self._state(param)
                if self._module is None or not param.is_cuda or not param.is_contiguous():
                    self._fallback(param, state, group)
                    continue
                key = (param.device, param.dtype, state["step"])
                by_kind.setdefault(key, []).append((param, state))
            for (_device, _dtype, step), items in by_kind.items():
                self._module.fused_adam(
                    [p.data for p, _ in items], [p.grad.contiguous() for p, _ in items],
                    [s["exp_avg"] for _, s in items], [s["exp_avg_sq"] for _, s in items], step, group["lr"],
                    beta1, beta2, group["eps"], group["weight_decay"], self.adamw_mode, group["bias_correction"],
                )  # fmt: skip
        return loss
