"""What a call through ``get_accelerator()`` adds over calling torch directly, in nanoseconds.

    python bench/bench_dispatch.py

Each pair runs in this process, interleaved, best of several timeit repeats (the minimum is the
least noisy estimate of a call's cost on a busy machine).
"""

from __future__ import annotations

import timeit

import torch

from accelport.accelerator_runtime import get_accelerator

PAIRS = [
    ("is_available()", "get_accelerator().is_available()", "torch.cuda.is_available()"),
    ("device_count()", "get_accelerator().device_count()", "torch.cuda.device_count()"),
    ("initial_seed()", "get_accelerator().initial_seed()", "torch.initial_seed()"),
    ("set_device(0)", "get_accelerator().set_device(0)", "torch.cpu.set_device(0)"),
    ("synchronize()", "get_accelerator().synchronize()", "torch.cpu.synchronize()"),
    ("device_name(0)", "get_accelerator().device_name(0)", "'cpu'"),
]


def best(statement: str, number: int = 20_000, repeat: int = 7) -> float:
    scope = {"get_accelerator": get_accelerator, "torch": torch}
    return min(timeit.repeat(statement, globals=scope, number=number, repeat=repeat)) / number * 1e9


def main() -> None:
    print(f"accelerator: {type(get_accelerator()).__name__}")
    print("| call | through get_accelerator() (ns) | direct (ns) | added (ns) |")
    print("|---|---|---|---|")
    for label, ours, direct in PAIRS:
        a, b = best(ours), best(direct)
        print(f"| {label} | {a:.0f} | {b:.0f} | {a - b:+.0f} |")


if __name__ == "__main__":
    main()
