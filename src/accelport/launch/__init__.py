"""``accelport launch``: run a ported training script under torchrun or an MPI launcher, on one node or
many, with CPU core binding; the command lines of DeepSpeed's launcher work with ``deepspeed`` replaced
by ``accelport launch``.

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
  port), so two launches on one machine do not fight over port 29500;
* DeepSpeed's spellings (``--bind_cores_to_rank``, ``--num_accelerators``, ``--master_addr``, ...; the
  parser is in :mod:`accelport.launch.options`);
* ``--hostfile`` (``host slots=N``), ``--include`` / ``--exclude`` / ``--num-nodes``
  (:mod:`accelport.launch.hostfile`) and ``--launcher``: ``torchrun`` starts one launch per node through
  a remote shell (:mod:`accelport.launch.nodes`); ``mpich``, ``impi`` and ``openmpi`` start every rank
  with ``mpiexec`` / ``mpirun`` (:mod:`accelport.launch.mpi`); ``--dry-run`` prints the commands.

Binding works through a tiny worker shim (:mod:`accelport.launch.worker`): torchrun or MPI starts
``python -m accelport.launch --worker ...`` for every rank; the shim maps MPI's rank variables to
torch's, pins itself, sets ``OMP_NUM_THREADS`` (and ``ACCELPORT_BOUND_CORES``, its core list, for the
script's logs) and ``exec``s the real script (same pid, so the launcher monitors the script itself).
The affinity is set before the script starts, hence before torch creates its thread pools.

This package imports torch only inside :func:`prepare` / :func:`main`; the worker shim never imports it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from accelport.launch.cores import (
    format_core_list,
    nodes_spanned,
    numa_nodes,
    parse_core_list,
    split_cores,
    usable_cores,
)
from accelport.launch.errors import LaunchError
from accelport.launch.hostfile import LOCAL_NAMES, is_local, parse_hostfile, read_hostfile, select_hosts
from accelport.launch.mpi import MPI_LAUNCHERS, find_binary, mpi_command
from accelport.launch.nodes import NodeCommand, node_commands, run_nodes, split_argv
from accelport.launch.options import (
    PROG,
    RENDEZVOUS_DESTS,
    build_parser,
    parse_args,
    restore_rendezvous_defaults,
    script_mode,
    torchrun_command,
    torchrun_only_options,
)

__all__ = [
    "LaunchError", "build_parser", "format_core_list", "main", "nodes_spanned", "numa_nodes", "parse_core_list",
    "parse_hostfile", "plan", "prepare", "select_hosts", "split_cores", "usable_cores",
]

WORKER_FLAG = "--worker"  # the first argument that makes `python -m accelport.launch` the worker shim
WORKER_MODULE = "accelport.launch"
_RENDEZVOUS_DESTS = RENDEZVOUS_DESTS  # the name the tests and older callers use
DEFAULT_MASTER_PORT = 29500  # torchrun's and DeepSpeed's
# accelport's placement options: each node's own launch (torchrun over a remote shell) gets them
# decided per node, so the user's spelling of them is not passed on.
_PER_NODE_DESTS = frozenset({
    "hostfile", "include", "exclude", "num_nodes", "num_accelerators", "nproc_per_node", "nnodes", "node_rank",
    "master_addr", "master_port", "launcher", "launcher_args", "launcher_binary", "remote_shell", "dry_run",
    "standalone",
})


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


def plan(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a single-node torchrun launch (no hostfile, no MPI) into the namespace handed to
    ``torch.distributed.run.run``; no process is started.

    The namespace carries ``bind_groups`` (the cores of each local rank, or None) for inspection.
    """
    return _plan_torchrun(parse_args(build_parser(), argv))


def _plan_torchrun(args: argparse.Namespace) -> argparse.Namespace:
    from torch.distributed.run import determine_local_world_size

    rendezvous_given = restore_rendezvous_defaults(args)
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
            "--mode", script_mode(args),
            "--threads", "1" if args.bind_cores_to_rank else "0",
            "--",
            args.training_script,
            *args.training_script_args,
        ]
        args.training_script, args.training_script_args = WORKER_MODULE, shim
        args.module, args.no_python, args.run_path = True, False, False
    return args


# --- several nodes, MPI, dry runs -------------------------------------------------------------


@dataclass
class Job:
    """What ``accelport launch`` will run: ``kind`` is ``torchrun`` (in this process), ``nodes`` (one
    launch per node) or ``mpi`` (one MPI command); ``commands`` are the exact command lines."""

    kind: str
    commands: List[List[str]]
    torchrun_args: Optional[argparse.Namespace] = None
    nodes: List[NodeCommand] = field(default_factory=list)
    env: Dict[str, str] = field(default_factory=dict)
    print_only: bool = False  # --remote-shell none: the user starts every node
    dry_run: bool = False

    def lines(self) -> List[str]:
        """The commands as shell lines (variables this process sets for them first)."""
        prefix = " ".join(f"{name}={shlex.quote(value)}" for name, value in self.env.items())
        lines = [shlex.join(command) for command in self.commands]
        if self.kind == "nodes":
            lines = [f"# node {rank}: {node.host}\n{line}" for rank, (node, line) in enumerate(zip(self.nodes, lines))]
        return [f"{prefix} {line}" if prefix else line for line in lines]


def _hosts(args: argparse.Namespace) -> Dict[str, int]:
    """``{host: workers}`` from the hostfile and the filters, or ``{"localhost": N}`` without one."""
    per_node = None
    if args.nproc_per_node is not None:
        if not str(args.nproc_per_node).isdigit():
            raise LaunchError(f"--nproc-per-node {args.nproc_per_node}: give a number of workers per node with --hostfile or an MPI launcher")
        per_node = int(args.nproc_per_node)
    if args.hostfile:
        return select_hosts(read_hostfile(args.hostfile), args.include, args.exclude, args.num_nodes, per_node)
    if args.num_nodes not in (None, 1):
        raise LaunchError(f"--num-nodes {args.num_nodes} needs a --hostfile that lists the nodes")
    cores = args.bind_core_list if args.bind_core_list is not None else usable_cores()
    count = per_node if per_node is not None else default_nproc(cores)
    return select_hosts({"localhost": count}, args.include, args.exclude)


def _shim(args: argparse.Namespace, mpi_style: str) -> List[str]:
    """The worker command every MPI rank runs: the shim, then the script."""
    shim = [sys.executable, "-u", "-m", WORKER_MODULE, WORKER_FLAG, "--mpi", mpi_style, "--mode", script_mode(args)]
    if args.bind_cores_to_rank:
        shim += ["--split", "--threads", "1"]
    if args.bind_core_list is not None:
        shim += ["--core-list", format_core_list(args.bind_core_list)]
    return shim + ["--", args.training_script, *args.training_script_args]


def prepare(argv: Sequence[str], environ: Optional[Dict[str, str]] = None, cwd: Optional[str] = None) -> Job:
    """Turn ``accelport launch`` arguments into the :class:`Job` to run; nothing is started."""
    environ = dict(os.environ if environ is None else environ)
    parser = build_parser()
    args = parse_args(parser, argv)
    several = args.hostfile or args.include or args.exclude or args.num_nodes is not None
    if args.launcher == "torchrun" and not several:
        return _torchrun_job(_plan_torchrun(args))
    if args.launcher_args and args.launcher == "torchrun":
        raise LaunchError("--launcher-args is for the MPI launchers (mpich, impi, openmpi)")
    if args.hostfile and (hasattr(args, "node_rank") or args.nnodes not in ("1", "1:1")):
        raise LaunchError("--nnodes and --node-rank come from the hostfile: drop them")
    hosts = _hosts(args)
    first = next(iter(hosts))
    master_addr = getattr(args, "master_addr", None)
    if not master_addr and first in LOCAL_NAMES and len(hosts) > 1:
        raise LaunchError(f"the first host is {first!r}, which the other hosts cannot reach as the master: give --master_addr")
    master_addr = master_addr or first
    master_port = getattr(args, "master_port", None) or DEFAULT_MASTER_PORT

    if args.launcher == "torchrun":
        if len(hosts) == 1 and is_local(first):
            args.nproc_per_node = str(hosts[first])
            return _torchrun_job(_plan_torchrun(args))
        options, script = split_argv(argv, parser)
        kept = [token for dest, tokens in options if dest not in _PER_NODE_DESTS for token in tokens]
        shell = None if args.remote_shell.strip().lower() == "none" else shlex.split(args.remote_shell)
        nodes = node_commands(hosts, master_addr, master_port, kept, script, shell, cwd or os.getcwd(), environ)
        if shell and not args.dry_run and any(not node.local for node in nodes) and not shutil.which(shell[0]):
            raise LaunchError(
                f"--remote-shell {args.remote_shell}: {shell[0]} is not on PATH; install it (ssh: apt-get install "
                "openssh-client), or give --remote-shell none to print each node's command"
            )
        return Job("nodes", [node.argv for node in nodes], nodes=nodes, print_only=shell is None, dry_run=args.dry_run)

    launcher = MPI_LAUNCHERS[args.launcher]
    ignored = torchrun_only_options(args)
    if ignored:
        raise LaunchError(f"{', '.join(ignored)}: torchrun option(s) that --launcher {args.launcher} does not use")
    try:
        binary = find_binary(launcher, args.launcher_binary)
    except LaunchError:
        if not args.dry_run:
            raise
        binary = args.launcher_binary or launcher.binaries[0]
    command = mpi_command(
        launcher, binary, hosts, master_addr, master_port, _shim(args, launcher.style),
        shlex.split(args.launcher_args), environ,
    )
    return Job("mpi", [command], dry_run=args.dry_run)


def _torchrun_job(args: argparse.Namespace) -> Job:
    env = {}
    if args.bind_cores_to_rank:
        # Every rank gets the same number of cores; set it here too so torchrun does not override it with 1.
        env["OMP_NUM_THREADS"] = str(len(args.bind_groups[0]))
    return Job("torchrun", [torchrun_command(args)], torchrun_args=args, env=env, dry_run=args.dry_run)


def _run_torchrun(args: argparse.Namespace, env: Dict[str, str]) -> int:
    os.environ.update(env)
    if args.bind_cores_to_rank:
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


def _run_command(command: List[str]) -> int:
    print(f"{PROG}: running {shlex.join(command)}", file=sys.stderr)
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.wait()  # the launcher got the same SIGINT from the terminal and stops its ranks
        return 130


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``accelport launch [options] script.py [args]``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        job = prepare(argv)
    except LaunchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if job.dry_run or job.print_only:
        if job.print_only and not job.dry_run:
            print(f"{PROG}: --remote-shell none: run each node's command on that node", file=sys.stderr)
        for line in job.lines():
            print(line)
        return 0
    if job.kind == "torchrun":
        return _run_torchrun(job.torchrun_args, job.env)
    if job.kind == "nodes":
        for node in job.nodes:
            print(f"{PROG}: node {node.host}: {shlex.join(node.argv)}", file=sys.stderr)
        return run_nodes(job.nodes)
    return _run_command(job.commands[0])
