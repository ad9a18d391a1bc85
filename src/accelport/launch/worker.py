"""The worker shim: runs first in every worker process, then ``exec``s the training script.

torchrun or an MPI launcher starts ``python -u -m accelport.launch --worker [options] -- script args``
on every rank. The shim

1. under MPI (``--mpi hydra|openmpi``), sets torch's variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
   and ``LOCAL_WORLD_SIZE`` from the launcher's own (:data:`RANK_VARIABLES`); ``MASTER_ADDR`` and
   ``MASTER_PORT`` come from the launcher's exports and must be set;
2. pins itself to its local rank's cores: the groups the launcher computed (``--cores``, torchrun) or,
   under MPI, an even NUMA-aware split of this node's cores among this node's ranks
   (``--split``, optionally restricted by ``--core-list``), since only the node itself knows its cores;
3. sets ``OMP_NUM_THREADS`` to its share (``--threads 1``) and ``ACCELPORT_BOUND_CORES`` for the logs;
4. ``exec``s the script: same pid, so the launcher monitors the script itself, and the affinity is in
   place before torch creates its thread pools.

It never imports torch.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Mapping, MutableMapping, Sequence, Tuple

from accelport.launch.cores import format_core_list, numa_nodes, parse_core_list, split_cores, usable_cores
from accelport.launch.errors import LaunchError

PROG = "accelport.launch --worker"

# torch's variable -> the launcher's names for it, by command-line dialect.
RANK_VARIABLES: Dict[str, Dict[str, Tuple[str, ...]]] = {
    # MPICH's and Intel MPI's Hydra (PMI-1 / PMI-2 process managers)
    "hydra": {
        "RANK": ("PMI_RANK", "PMIX_RANK"),
        "WORLD_SIZE": ("PMI_SIZE", "PMIX_SIZE"),
        "LOCAL_RANK": ("MPI_LOCALRANKID", "PALS_LOCAL_RANKID"),
        "LOCAL_WORLD_SIZE": ("MPI_LOCALNRANKS", "PALS_LOCAL_SIZE"),
    },
    "openmpi": {
        "RANK": ("OMPI_COMM_WORLD_RANK",),
        "WORLD_SIZE": ("OMPI_COMM_WORLD_SIZE",),
        "LOCAL_RANK": ("OMPI_COMM_WORLD_LOCAL_RANK",),
        "LOCAL_WORLD_SIZE": ("OMPI_COMM_WORLD_LOCAL_SIZE",),
    },
}


def map_rank_variables(style: str, environ: MutableMapping[str, str]) -> None:
    """Set ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``LOCAL_WORLD_SIZE`` in ``environ`` from the MPI
    launcher's variables; a missing one, or a missing ``MASTER_ADDR``/``MASTER_PORT``, is an error."""
    for target, sources in RANK_VARIABLES[style].items():
        value = next((environ[name] for name in sources if environ.get(name, "") != ""), None)
        if value is None:
            raise LaunchError(f"{target}: none of {', '.join(sources)} is set; was this started by the {style} launcher?")
        environ[target] = value
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if not environ.get(name):
            raise LaunchError(f"{name} is not set; accelport launch exports it to every rank")


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    shim = argparse.ArgumentParser(prog=PROG)
    shim.add_argument("--cores", default=None, help="the launcher's core groups, one per local rank, ';'-separated")
    shim.add_argument("--mpi", choices=sorted(RANK_VARIABLES), default=None)
    shim.add_argument("--split", action="store_true", help="split this node's cores among its local ranks")
    shim.add_argument("--core-list", default=None)
    shim.add_argument("--mode", choices=("python", "module", "program"), required=True)
    shim.add_argument("--threads", type=int, default=0)
    shim.add_argument("command", nargs=argparse.REMAINDER)
    opts = shim.parse_args(list(argv))
    opts.command = opts.command[1:] if opts.command[:1] == ["--"] else opts.command
    return opts


def rank_cores(opts: argparse.Namespace, environ: Mapping[str, str]) -> List[int]:
    """The cores this rank is pinned to; empty when the launch asked for no binding."""
    local_rank = int(environ.get("LOCAL_RANK", "0"))
    if opts.cores is not None:
        groups = [parse_core_list(group) for group in opts.cores.split(";")]
    elif opts.split or opts.core_list:
        allowed = usable_cores()
        cores = parse_core_list(opts.core_list) if opts.core_list else allowed
        outside = [core for core in cores if core not in allowed]
        if outside:
            raise LaunchError(f"--bind-core-list names core(s) {format_core_list(outside)} that this node does not let it use (allowed: {format_core_list(allowed)})")
        local_size = int(environ.get("LOCAL_WORLD_SIZE", "1"))
        groups = split_cores(cores, local_size, numa_nodes()) if opts.split else [cores] * local_size
    else:
        return []
    if local_rank >= len(groups):
        raise LaunchError(f"local rank {local_rank} has no core group ({len(groups)} planned)")
    return groups[local_rank]


def worker(argv: Sequence[str]) -> None:
    """Map the rank variables, pin this worker, set OMP_NUM_THREADS, then exec the script."""
    opts = _parse(argv)
    try:
        if opts.mpi:
            map_rank_variables(opts.mpi, os.environ)
        cores = rank_cores(opts, os.environ)
    except LaunchError as exc:
        sys.exit(f"{PROG}: error: {exc}")
    if cores:
        os.sched_setaffinity(0, cores)
        if opts.threads:
            os.environ["OMP_NUM_THREADS"] = str(len(cores))
        os.environ["ACCELPORT_BOUND_CORES"] = format_core_list(cores)
    command = opts.command
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
