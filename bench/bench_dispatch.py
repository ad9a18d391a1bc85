"""What a call through ``get_accelerator()`` adds over calling torch directly, in nanoseconds.

    python bench/bench_dispatch.py                        # the accelerator detection picks
    python bench/bench_dispatch.py -a cpu -a torch:cpu    # side by side
    python bench/bench_dispatch.py -a cuda -a torch:cuda -a old_cuda.py:CudaAccelerator

An accelerator is a name ``get_accelerator()`` accepts or ``path/to/file.py:Class`` (to measure a class
that is not installed, e.g. an older version of one). Each accelerator is installed with
``set_accelerator`` and timed through ``get_accelerator().method()``, the way ported code calls it; the
direct column is the torch call the port replaced. Best of several timeit repeats (the minimum is the
least noisy estimate of a call's cost on a busy machine). A call that raises here (a CUDA call on a
machine without a GPU) is shown as such, not timed; ``--stub`` replaces the device module's functions
in CALLS by trivial Python ones for both columns, so that what is left is the dispatch alone (how the
CUDA classes are compared on a machine without a GPU).
"""

from __future__ import annotations

import argparse
import importlib.util
import timeit
from typing import Dict, List, Optional

import torch

from accelport.accelerator_runtime import Accelerator, get_accelerator, selection, set_accelerator

# (label, call through the accelerator, direct call for a device type's module `{mod}`; cpu overrides)
CALLS = [
    ("is_available()", "is_available()", "torch.{mod}.is_available()"),
    ("device_count()", "device_count()", "torch.{mod}.device_count()"),
    ("current_device()", "current_device()", "torch.{mod}.current_device()"),
    ("initial_seed()", "initial_seed()", "torch.{mod}.initial_seed()"),
    ("set_device(0)", "set_device(0)", "torch.{mod}.set_device(0)"),
    ("synchronize()", "synchronize()", "torch.{mod}.synchronize()"),
    ("device_name(0)", "device_name(0)", "'{mod}:0'"),
]
CPU_DIRECT = {"initial_seed()": "torch.initial_seed()", "device_name(0)": "'cpu'", "current_device()": "0"}


def load(spec: str) -> Accelerator:
    if ".py:" in spec:
        path, _, name = spec.rpartition(":")
        module_spec = importlib.util.spec_from_file_location(f"bench_{name.lower()}", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return getattr(module, name)()
    return selection.create(spec)


def best(statement: str, number: int, repeat: int) -> Optional[float]:
    scope = {"get_accelerator": get_accelerator, "torch": torch}
    try:
        exec(statement, scope)  # noqa: S102 - fixed statements from this file
    except Exception:  # noqa: BLE001 - report, do not time, what cannot run here
        return None
    return min(timeit.repeat(statement, globals=scope, number=number, repeat=repeat)) / number * 1e9


def measure(accelerator: Accelerator, number: int, repeat: int) -> Dict[str, tuple]:
    set_accelerator(accelerator)
    device = accelerator.name()
    rows = {}
    for label, ours, direct in CALLS:
        direct = CPU_DIRECT.get(label, direct) if device == "cpu" else direct
        through = best(f"get_accelerator().{ours}", number, repeat)
        plain = best(direct.format(mod=device), number, repeat)
        rows[label] = (through, plain)
    return rows


def stub(device_type: str) -> None:
    """Replace the device module's functions that CALLS time by no-ops returning what they would."""
    module = getattr(torch, device_type)
    answers = {"is_available": True, "device_count": 1, "current_device": 0, "initial_seed": 0}
    for name in ("is_available", "device_count", "current_device", "initial_seed", "set_device", "synchronize"):
        value = answers.get(name)
        setattr(module, name, lambda *args, _value=value: _value)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-a", "--accelerator", action="append", help="name or file.py:Class (repeatable)")
    parser.add_argument("--number", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--stub", action="store_true", help="time dispatch alone: device functions become no-ops")
    args = parser.parse_args(argv)
    accelerators = [load(spec) for spec in args.accelerator] if args.accelerator else [get_accelerator()]
    if args.stub:
        for accelerator in accelerators:
            stub(accelerator.name())
    specs = args.accelerator or [""]
    labels = [spec if ".py:" in spec else f"{type(a).__name__}({a.name()})" for spec, a in zip(specs, accelerators)]
    results = [measure(a, args.number, args.repeat) for a in accelerators]

    def cell(value: Optional[float]) -> str:
        return "raises here" if value is None else f"{value:.0f}"

    header = " | ".join(f"{label}: through / direct / added (ns)" for label in labels)
    print(f"| call | {header} |")
    print("|---|" + "---|" * len(labels))
    for label, _, _ in CALLS:
        cells = []
        for rows in results:
            through, plain = rows[label]
            added = "" if through is None or plain is None else f" / {through - plain:+.0f}"
            cells.append(f"{cell(through)} / {cell(plain)}{added}")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
