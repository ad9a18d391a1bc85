"""``accelport launch``: run a ported training script under ``torchrun``, with CPU core binding.

Built on ``torch.distributed.run`` (torchrun): its own argument parser is reused, so every torchrun
option (``--nnodes``, ``--node-rank``, ``--rdzv-*``, ``--master-addr``, ``--max-restarts``, ...) is
accepted and means what it means there. accelport adds:

* a device-aware default for ``--nproc-per-node``: the number of GPUs when CUDA (or another
  accelerator) is available, else the number of NUMA nodes that hold the usable cores (sockets when
  the kernel exposes no NUMA topology, 1 when it exposes neither);
* ``--bind-cores-to-rank``: split the usable cores evenly among the local ranks (keeping each
  rank's cores inside one NUMA node when the counts allow it), pin every worker to its share with
  ``sched_setaffinity`` and set ``OMP_NUM_THREADS`` to the size of that share;
* ``--bind-core-list 0-51,56-107``: the cores to use (default: the launcher's own affinity). Without
  ``--bind-cores-to-rank`` every worker is restricted to the whole list;
* a single-node run with no rendezvous option uses torchrun's ``--standalone`` rendezvous (a free
  port), so two launches on one machine do not fight over port 29500.

Binding works through a tiny worker shim: torchrun starts ``python -m accelport.launch --worker ...``
for every local rank; the shim reads ``LOCAL_RANK``, pins itself, sets ``OMP_NUM_THREADS`` (and
``ACCELPORT_BOUND_CORES``, its core list, for the script's logs) and ``exec``s the real script (same pid, so torchrun monitors the script itself). The affinity is set
before the script starts, hence before torch creates its thread pools.

This module imports torch only inside :func:`main`; the worker shim never imports it.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
from typing import Dict, Iterable, List, Optional, Sequence

PROG = "accelport launch"
WORKER_FLAG = "--worker"
# torchrun options that choose a rendezvous: when any is given, accelport does not add --standalone.
_RENDEZVOUS_DESTS = ("rdzv_backend", "rdzv_endpoint", "rdzv_id", "master_addr", "master_port", "node_rank")
_SYS = "/sys/devices/system"


class LaunchError(Exception):
    """A usage problem found before anything is started (reported as exit code 2)."""


# --- core lists ------------------------------------------------------------------------------


def parse_core_list(text: str) -> List[int]:
    """``"0-3,8,10-11"`` -> ``[0, 1, 2, 3, 8, 10, 11]`` (order kept, duplicates dropped)."""
    cores: List[int] = []
    for part in text.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(f"bad core list {text!r}: expected numbers and ranges like 0-51,56-107")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise ValueError(f"bad core list {text!r}: range {part} goes backwards")
        cores.extend(core for core in range(low, high + 1) if core not in cores)
    return cores


def format_core_list(cores: Iterable[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"`` (order kept; only ascending runs are merged)."""
    parts: List[str] = []
    run: List[int] = []
    for core in cores:
        if run and core == run[-1] + 1:
            run.append(core)
            continue
        if run:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [core]
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def _core_list_arg(text: str) -> List[int]:
    try:
        cores = parse_core_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if not cores:
        raise argparse.ArgumentTypeError("the core list is empty")
    return cores


# --- topology --------------------------------------------------------------------------------


def usable_cores() -> List[int]:
    """The cores this process may run on (its affinity), ascending."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def numa_nodes(sys_root: str = _SYS) -> Dict[int, int]:
    """Map core -> NUMA node from sysfs; sockets (physical package ids) when no NUMA nodes are listed;
    empty when neither is known (then everything counts as one node)."""
    mapping: Dict[int, int] = {}
    for path in glob.glob(os.path.join(sys_root, "node", "node[0-9]*", "cpulist")):
        node = int(re.search(r"node(\d+)", os.path.basename(os.path.dirname(path))).group(1))
        try:
            with open(path, encoding="ascii") as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text:
            for core in parse_core_list(text):
                mapping[core] = node
    if mapping:
        return mapping
    for path in glob.glob(os.path.join(sys_root, "cpu", "cpu[0-9]*", "topology", "physical_package_id")):
        core = int(re.search(r"cpu(\d+)", path).group(1))
        try:
            with open(path, encoding="ascii") as handle:
                mapping[core] = int(handle.read().strip())
        except (OSError, ValueError):
            continue
    return mapping


def nodes_spanned(cores: Sequence[int], node_of: Dict[int, int]) -> int:
    """How many NUMA nodes (or sockets) the given cores touch; at least 1."""
    return max(1, len({node_of.get(core, 0) for core in cores}))


def split_cores(cores: Sequence[int], nproc: int, node_of: Optional[Dict[int, int]] = None) -> List[List[int]]:
    """Split ``cores`` evenly among ``nproc`` local ranks: every rank gets the same number of cores.

    When the ranks divide evenly over the NUMA nodes the cores span, each rank's share lies inside one
    node (ranks 0..k-1 on the first node, and so on). Otherwise the cores, ordered by node, are cut into
    equal consecutive chunks. Cores left over by the division are not used.
    """
    if nproc < 1:
        raise LaunchError("--nproc-per-node must be at least 1")
    if len(cores) < nproc:
        raise LaunchError(f"--bind-cores-to-rank needs at least one core per local rank: {len(cores)} core(s) for {nproc} ranks")
    node_of = node_of or {}
    by_node: Dict[int, List[int]] = {}
    for core in cores:
        by_node.setdefault(node_of.get(core, 0), []).append(core)
    nodes = [by_node[node] for node in sorted(by_node)]
    if nproc % len(nodes) == 0:
        per_node = nproc // len(nodes)
        share = min(len(node_cores) // per_node for node_cores in nodes)
        if share >= 1:
            return [node_cores[i * share:(i + 1) * share] for node_cores in nodes for i in range(per_node)]
    ordered = [core for node_cores in nodes for core in node_cores]
    share = len(ordered) // nproc
    return [ordered[i * share:(i + 1) * share] for i in range(nproc)]


# --- device ----------------------------------------------------------------------------------


def accelerator_devices() -> int:
    """How many accelerator devices (GPUs) this node has; 0 on a CPU-only machine.

    Asks accelport's runtime first (so its accelerator selection, e.g. a forced CPU, is honoured), then
    torch itself.
    """
    try:
        from accelport.accelerator_runtime import get_accelerator

        accelerator = get_accelerator()
        name = accelerator.device_name()
        if str(name).split(":")[0] == "cpu":
            return 0
        return int(accelerator.device_count())
    except (ImportError, AttributeError):
        pass
    import torch

    accel = getattr(torch, "accelerator", None)
    if accel is not None and accel.is_available():
        return int(accel.device_count())
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def default_nproc(cores: Sequence[int]) -> int:
    """The GPU count on an accelerator machine, else the number of NUMA nodes (sockets) of ``cores``."""
    devices = accelerator_devices()
    if devices > 0:
        return devices
    return nodes_spanned(cores, numa_nodes())


# --- the launcher ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """torchrun's own parser, renamed, with accelport's options added."""
    from torch.distributed.run import get_args_parser

    parser = get_args_parser()
    parser.prog = PROG
    parser.allow_abbrev = False  # script options such as --b or --n must not be read as abbreviations of ours
    parser.description = (
        "Run a training script under torchrun (torch.distributed.run). All torchrun options work; "
        "--nproc-per-node defaults to the GPU count, or on CPU to the number of NUMA nodes."
    )
    for action in parser._actions:
        if action.dest == "nproc_per_node":
            action.default = None
            action.help = "Workers per node (an int, or torchrun's auto/cpu/gpu/xpu). Default: the GPU count, on CPU the number of NUMA nodes (sockets)."
        elif action.dest in _RENDEZVOUS_DESTS:
            action.default = argparse.SUPPRESS
    group = parser.add_argument_group("accelport core binding")
    group.add_argument(
        "--bind-cores-to-rank", "--bind_cores_to_rank", action="store_true",
        help="Split the cores evenly among the local ranks (CPU affinity) and set OMP_NUM_THREADS to each rank's share.",
    )
    group.add_argument(
        "--bind-core-list", "--bind_core_list", type=_core_list_arg, default=None, metavar="LIST",
        help="Cores to use, e.g. 0-51,56-107 (default: every core this process may use).",
    )
    return parser


def _restore_rendezvous_defaults(args: argparse.Namespace) -> bool:
    """Put back torchrun's defaults of the rendezvous options; True when the user gave any of them."""
    given = False
    from torch.distributed.run import get_args_parser

    defaults = get_args_parser().parse_args(["x"])
    for dest in _RENDEZVOUS_DESTS:
        if hasattr(args, dest) or f"PET_{dest.upper()}" in os.environ:
            given = True
        else:
            setattr(args, dest, getattr(defaults, dest))
    return given


def _script_mode(args: argparse.Namespace) -> str:
    if getattr(args, "run_path", False) or not (args.module or args.no_python):
        return "python"
    return "module" if args.module else "program"


def plan(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` into the namespace handed to ``torch.distributed.run.run`` (no process started).

    The namespace carries ``bind_groups`` (the cores of each local rank, or None) for inspection.
    """
    from torch.distributed.run import determine_local_world_size

    parser = build_parser()
    args = parser.parse_args(list(argv))
    rendezvous_given = _restore_rendezvous_defaults(args)
    if args.nnodes in ("1", "1:1") and not rendezvous_given:
        args.standalone = True

    allowed = usable_cores()
    cores = args.bind_core_list if args.bind_core_list is not None else allowed
    outside = [core for core in cores if core not in allowed]
    if outside:
        raise LaunchError(
            f"--bind-core-list names core(s) {format_core_list(outside)} that this process may not use "
            f"(allowed: {format_core_list(allowed)})"
        )
    if args.nproc_per_node is None:
        args.nproc_per_node = str(default_nproc(cores))
    nproc = determine_local_world_size(args.nproc_per_node)
    args.nproc_per_node = str(nproc)

    args.bind_groups = None
    if args.bind_cores_to_rank:
        args.bind_groups = split_cores(cores, nproc, numa_nodes())
    elif args.bind_core_list is not None:
        args.bind_groups = [list(cores)] * nproc
    if args.bind_groups is not None:
        if not hasattr(os, "sched_setaffinity"):
            raise LaunchError("core binding needs sched_setaffinity (Linux)")
        shim = [
            WORKER_FLAG,
            "--cores", ";".join(format_core_list(group) for group in args.bind_groups),
            "--mode", _script_mode(args),
            "--threads", "1" if args.bind_cores_to_rank else "0",
            "--",
            args.training_script,
            *args.training_script_args,
        ]
        args.training_script, args.training_script_args = "accelport.launch", shim
        args.module, args.no_python, args.run_path = True, False, False
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``accelport launch [options] script.py [args]``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = plan(argv)
    except LaunchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if args.bind_cores_to_rank:
        # Every rank gets the same number of cores; set it here too so torchrun does not override it with 1.
        os.environ["OMP_NUM_THREADS"] = str(len(args.bind_groups[0]))
        print(
            f"{PROG}: binding {args.nproc_per_node} local rank(s) to cores "
            + " | ".join(format_core_list(group) for group in args.bind_groups)
            + f", OMP_NUM_THREADS={len(args.bind_groups[0])}",
            file=sys.stderr,
        )
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import run

    try:
        run(args)
    except ChildFailedError as exc:
        print(exc.format_msg(), file=sys.stderr)
        codes = [failure.exitcode for failure in exc.failures.values() if failure.exitcode and failure.exitcode > 0]
        return codes[0] if codes else 1
    return 0


# --- the worker shim (runs in every worker, before the script; never imports torch) ------------


def worker(argv: Sequence[str]) -> None:
    """Pin this worker to its local rank's cores, set OMP_NUM_THREADS, then exec the script."""
    shim = argparse.ArgumentParser(prog="accelport.launch --worker")
    shim.add_argument("--cores", required=True)
    shim.add_argument("--mode", choices=("python", "module", "program"), required=True)
    shim.add_argument("--threads", type=int, default=0)
    shim.add_argument("command", nargs=argparse.REMAINDER)
    opts = shim.parse_args(list(argv))
    command = opts.command[1:] if opts.command[:1] == ["--"] else opts.command
    groups = [parse_core_list(group) for group in opts.cores.split(";")]
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if local_rank >= len(groups):
        sys.exit(f"accelport.launch: local rank {local_rank} has no core group ({len(groups)} planned)")
    cores = groups[local_rank]
    os.sched_setaffinity(0, cores)
    if opts.threads:
        os.environ["OMP_NUM_THREADS"] = str(len(cores))
    os.environ["ACCELPORT_BOUND_CORES"] = format_core_list(cores)
    if opts.mode == "python":
        exe, args = sys.executable, [sys.executable, "-u", *command]
    elif opts.mode == "module":
        exe, args = sys.executable, [sys.executable, "-u", "-m", *command]
    else:
        exe, args = command[0], command
    sys.stdout.flush()
    sys.stderr.flush()
    if opts.mode == "program":
        os.execvp(exe, args)
    os.execv(exe, args)


if __name__ == "__main__":
    if sys.argv[1:2] == [WORKER_FLAG]:
        worker(sys.argv[2:])
    else:
        sys.exit(main())
