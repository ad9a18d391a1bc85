"""CPU Adam step time: accelport's kernel against torch.optim.AdamW (for-loop default, foreach, fused).

    OMP_NUM_THREADS=2 python bench/bench_adam.py [--params 16000000] [--reps 7]

All four run in this process on identical copies of the same parameters, interleaved round by round,
and the median of each is reported with its ratio and effective bandwidth (28 bytes per parameter per
step: read p, g, m, v and write p, m, v, all fp32). The parameter set mimics a transformer: a few
hundred tensors, mostly matrices plus small biases and norms.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from accelport.kernels import CPUAdam

BYTES_PER_PARAM = 28


def shapes(total: int) -> list:
    """Per layer: 4 square matrices, 2 MLP matrices (4x), biases and norms; layers until ``total``."""
    width = 512
    out = []
    while sum(a * b for a, b in out) < total:
        out += [(width, width)] * 4 + [(width, 4 * width), (4 * width, width)]
        out += [(1, width)] * 6 + [(1, 4 * width)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--params", type=int, default=16_000_000)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    base = [torch.randn(*s) for s in shapes(args.params)]
    count = sum(p.numel() for p in base)

    def make(factory):
        params = [p.clone().requires_grad_() for p in base]
        for p in params:
            p.grad = torch.randn_like(p)
        return factory(params)

    contenders = {
        "torch AdamW (default for-loop)": make(lambda p: torch.optim.AdamW(p, lr=1e-3, foreach=False)),
        "torch AdamW foreach": make(lambda p: torch.optim.AdamW(p, lr=1e-3, foreach=True)),
        "torch AdamW fused": make(lambda p: torch.optim.AdamW(p, lr=1e-3, fused=True)),
        "accelport CPUAdam": make(lambda p: CPUAdam(p, lr=1e-3, weight_decay=1e-2)),
    }
    assert contenders["accelport CPUAdam"].uses_kernel, "the CPU Adam kernel did not build"
    times = {name: [] for name in contenders}
    for name, opt in contenders.items():  # warm-up: state allocation, first-touch
        opt.step()
    for _ in range(args.reps):
        for name, opt in contenders.items():
            start = time.perf_counter()
            opt.step()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    ours = median["accelport CPUAdam"]
    print(f"{count / 1e6:.1f}M parameters in {len(base)} tensors, {torch.get_num_threads()} threads, median of {args.reps}")
    print("| optimizer | step (ms) | GB/s | CPUAdam speed-up |")
    print("|---|---|---|---|")
    for name, value in median.items():
        gbs = count * BYTES_PER_PARAM / value / 1e9
        print(f"| {name} | {value * 1e3:.1f} | {gbs:.1f} | {value / ours:.2f}x |")


if __name__ == "__main__":
    main()
