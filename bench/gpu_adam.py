"""accelport's fused-Adam CUDA kernel against ``torch.optim.AdamW(fused=True)``: correctness over 20 steps
and step time on about 100M parameters. Run by ``bench/gpu_check.sh``; prints one JSON line last.

    python bench/gpu_adam.py                                    # on a GPU: builds the kernel, must use it
    python bench/gpu_adam.py --device cpu --params 200000       # the same code path on the CPU (fallback)

Correctness: both optimizers start from identical parameters and see identical gradients for
``--steps`` steps; the result is the largest difference relative to the parameter's magnitude,
``max |ours - torch| / max |torch|`` over all tensors, and must be at most ``--tolerance`` (1e-6).
Timing: the two optimizers step alternately on their own copies of ``--params`` parameters (a
transformer-like mix of shapes); the median of ``--reps`` synchronized steps each, and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import List

import torch

from accelport.kernels import FusedAdam, FusedAdamBuilder

HYPER = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)


def shapes(total: int, width: int = 1024) -> List[tuple]:
    """Per layer: 4 square matrices, 2 MLP matrices (4x), biases and norms; layers until ``total``."""
    out: List[tuple] = []
    while sum(_numel(shape) for shape in out) < total:
        out += [(width, width)] * 4 + [(width, 4 * width), (4 * width, width)] + [(width,)] * 6 + [(4 * width,)]
    return out


def _numel(shape: tuple) -> int:
    size = 1
    for dim in shape:
        size *= dim
    return size


def _pair(shape_list: List[tuple], device: str, builder: FusedAdamBuilder) -> tuple:
    torch.manual_seed(0)
    base = [torch.randn(*shape, device=device) for shape in shape_list]
    ours_params = [p.clone().requires_grad_() for p in base]
    torch_params = [p.clone().requires_grad_() for p in base]
    ours = FusedAdam(ours_params, adamw_mode=True, builder=builder, **HYPER)
    reference = torch.optim.AdamW(torch_params, fused=True, **HYPER)
    return ours, ours_params, reference, torch_params


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--params", type=int, default=100_000_000)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--tolerance", type=float, default=1e-6)
    parser.add_argument("--width", type=int, default=1024, help="model width of the timed parameter set")
    args = parser.parse_args()
    result = {"device": args.device, "torch": torch.__version__}
    builder = FusedAdamBuilder(build_dir=Path(tempfile.mkdtemp(prefix="accelport_fused_adam_")))
    started = time.perf_counter()

    # Correctness: a few million parameters in many tensors, identical gradients each step.
    ours, a, reference, b = _pair(shapes(min(args.params, 2_000_000), 256) + [(1_000_003,)], args.device, builder)
    result["kernel"] = "built and used" if ours.uses_kernel else "not used (PyTorch fallback)"
    result["build_s"] = round(time.perf_counter() - started, 1)
    generator = torch.Generator(device=args.device).manual_seed(1)
    for _ in range(args.steps):
        for x, y in zip(a, b):
            x.grad = torch.randn(x.shape, generator=generator, device=args.device)
            y.grad = x.grad.clone()
        ours.step()
        reference.step()
    _sync(args.device)
    difference = max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(a, b))
    result["max_rel_diff"] = difference
    result["correct"] = difference <= args.tolerance
    del ours, a, reference, b

    # Step time on about --params parameters.
    shape_list = shapes(args.params, args.width)
    result["timed_params"] = sum(_numel(s) for s in shape_list)
    ours, a, reference, b = _pair(shape_list, args.device, builder)
    for x, y in zip(a, b):
        x.grad = torch.randn_like(x)
        y.grad = x.grad.clone()
    times = {"ours": [], "torch": []}
    for _ in range(args.reps + 1):  # the first round warms both up and is dropped
        for name, optimizer in (("ours", ours), ("torch", reference)):
            _sync(args.device)
            start = time.perf_counter()
            optimizer.step()
            _sync(args.device)
            times[name].append(time.perf_counter() - start)
    result["ours_ms"] = round(statistics.median(times["ours"][1:]) * 1e3, 3)
    result["torch_fused_ms"] = round(statistics.median(times["torch"][1:]) * 1e3, 3)
    result["ratio_ours_over_torch"] = round(result["ours_ms"] / result["torch_fused_ms"], 3)
    print(json.dumps(result))
    must_use_kernel = args.device == "cuda"
    return 0 if result["correct"] and (ours.uses_kernel or not must_use_kernel) else 1


if __name__ == "__main__":
    sys.exit(main())
