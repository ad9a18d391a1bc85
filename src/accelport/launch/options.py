"""The ``accelport launch`` command line: torchrun's own parser with accelport's options added (core
binding, hostfile, launchers, DeepSpeed's spellings), and what the launch needs to know about
torchrun's options (their defaults, which were given, the equivalent ``torchrun`` command)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Sequence

from accelport.launch.cores import core_list_arg
from accelport.launch.errors import LaunchError
from accelport.launch.mpi import MPI_LAUNCHERS

PROG = "accelport launch"
# torchrun options that choose a rendezvous: when any is given, accelport does not add --standalone.
RENDEZVOUS_DESTS = ("rdzv_backend", "rdzv_endpoint", "rdzv_id", "master_addr", "master_port", "node_rank")
LAUNCHERS = ("torchrun", *MPI_LAUNCHERS)
# torchrun options an MPI launch still honours; any other torchrun option given with --launcher mpich
# (impi, openmpi) would be ignored, so it is an error instead.
MPI_TORCHRUN_DESTS = frozenset({"nproc_per_node", "master_addr", "master_port", "module", "no_python", "run_path", "help"})


def build_parser() -> argparse.ArgumentParser:
    """torchrun's own parser, renamed, with accelport's options added."""
    from torch.distributed.run import get_args_parser

    parser = get_args_parser()
    parser.prog = PROG
    parser.allow_abbrev = False  # script options such as --b or --n must not be read as abbreviations of ours
    parser.description = (
        "Run a training script under torchrun (torch.distributed.run) or an MPI launcher, on this node or on a "
        "hostfile's nodes. All torchrun options work; --nproc-per-node defaults to the GPU count, or on CPU to the "
        "number of NUMA nodes. DeepSpeed's launcher spellings are accepted."
    )
    for action in parser._actions:
        if action.dest == "nproc_per_node":
            action.default = None
            action.help = "Workers per node (an int, or torchrun's auto/cpu/gpu/xpu). Default: the GPU count, on CPU the number of NUMA nodes (sockets)."
        elif action.dest in RENDEZVOUS_DESTS:
            action.default = argparse.SUPPRESS
    group = parser.add_argument_group("accelport core binding")
    group.add_argument(
        "--bind-cores-to-rank", "--bind_cores_to_rank", action="store_true",
        help="Split the cores evenly among the local ranks (CPU affinity) and set OMP_NUM_THREADS to each rank's share.",
    )
    group.add_argument(
        "--bind-core-list", "--bind_core_list", type=core_list_arg, default=None, metavar="LIST",
        help="Cores to use, e.g. 0-51,56-107 (default: every core this process may use).",
    )
    nodes = parser.add_argument_group("accelport nodes and launchers (DeepSpeed's spellings work too)")
    nodes.add_argument(
        "-H", "--hostfile", default=None, metavar="FILE",
        help="Hosts to run on, one 'HOST slots=N' a line (slots: workers on that host, e.g. its sockets).",
    )
    nodes.add_argument(
        "-i", "--include", default="", metavar="SPEC",
        help="Only these hosts/slots: HOST[:SLOT,SLOT][@HOST...], e.g. worker-1@worker-2:0,1.",
    )
    nodes.add_argument("-e", "--exclude", default="", metavar="SPEC", help="All hosts/slots but these (same syntax).")
    nodes.add_argument("--num-nodes", "--num_nodes", type=int, default=None, metavar="N", help="Use the first N hosts.")
    nodes.add_argument(
        "--num-accelerators", "--num_accelerators", "--num-gpus", "--num_gpus", type=int, default=None, metavar="N",
        help="Workers per node (= --nproc-per-node; with a hostfile, instead of each host's slots).",
    )
    nodes.add_argument(
        "--launcher", type=str.lower, choices=LAUNCHERS, default="torchrun",
        help="torchrun (default: one torchrun per node, remote ones through --remote-shell), mpich or impi "
        "(Hydra mpiexec), openmpi (mpirun).",
    )
    nodes.add_argument(
        "--launcher-args", "--launcher_args", default="", metavar="ARGS",
        help="Extra options for the MPI launcher, one quoted string, e.g. '--mca btl_tcp_if_include eth0'.",
    )
    nodes.add_argument(
        "--launcher-binary", default=None, metavar="PATH",
        help="The MPI launcher's binary (default: mpiexec.mpich/mpiexec.hydra/mpiexec for mpich, "
        "mpiexec.hydra/mpiexec for impi, mpirun.openmpi/mpirun for openmpi).",
    )
    nodes.add_argument(
        "--remote-shell", default="ssh", metavar="CMD",
        help="How --launcher torchrun starts a remote node: CMD HOST 'command' (default ssh); 'none' prints "
        "each node's command for you to run.",
    )
    nodes.add_argument(
        "--no-local-rank", "--no_local_rank", action="store_true",
        help="Accepted for DeepSpeed command lines: accelport never passes --local_rank (scripts read LOCAL_RANK).",
    )
    nodes.add_argument("--dry-run", "--dry_run", action="store_true", help="Print the exact command(s) and exit.")
    return parser


def restore_rendezvous_defaults(args: argparse.Namespace) -> bool:
    """Put back torchrun's defaults of the rendezvous options; True when the user gave any of them."""
    given = False
    from torch.distributed.run import get_args_parser

    defaults = get_args_parser().parse_args(["x"])
    for dest in RENDEZVOUS_DESTS:
        if hasattr(args, dest) or f"PET_{dest.upper()}" in os.environ:
            given = True
        else:
            setattr(args, dest, getattr(defaults, dest))
    return given


def script_mode(args: argparse.Namespace) -> str:
    if getattr(args, "run_path", False) or not (args.module or args.no_python):
        return "python"
    return "module" if args.module else "program"


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    args = parser.parse_args(list(argv))
    if args.num_accelerators is not None:
        if args.nproc_per_node is not None and args.nproc_per_node != str(args.num_accelerators):
            raise LaunchError(f"--num-accelerators {args.num_accelerators} and --nproc-per-node {args.nproc_per_node} disagree")
        args.nproc_per_node = str(args.num_accelerators)
    return args


def torchrun_defaults() -> argparse.Namespace:
    from torch.distributed.run import get_args_parser

    return get_args_parser().parse_args(["x"])


def torchrun_command(args: argparse.Namespace) -> List[str]:
    """``python -m torch.distributed.run`` with the options that differ from torchrun's defaults:
    the command the in-process launch is equivalent to (what --dry-run prints)."""
    from torch.distributed.run import get_args_parser

    defaults = torchrun_defaults()
    command = [sys.executable, "-m", "torch.distributed.run"]
    for action in get_args_parser()._actions:
        if not action.option_strings or action.dest == "help":
            continue
        value = getattr(args, action.dest)
        if value == getattr(defaults, action.dest) or (args.standalone and action.dest in RENDEZVOUS_DESTS):
            continue
        option = next(name for name in action.option_strings if name.startswith("--"))
        command += [option] if action.nargs == 0 else [option, str(value)]
    return command + [args.training_script, *args.training_script_args]


def torchrun_only_options(args: argparse.Namespace) -> List[str]:
    """torchrun options given on the command line that an MPI launch would not use."""
    from torch.distributed.run import get_args_parser

    defaults = torchrun_defaults()
    given = []
    for action in get_args_parser()._actions:
        if not action.option_strings or action.dest in MPI_TORCHRUN_DESTS:
            continue
        if action.dest in RENDEZVOUS_DESTS:
            if hasattr(args, action.dest):
                given.append(action.option_strings[0])
        elif getattr(args, action.dest) != getattr(defaults, action.dest):
            given.append(action.option_strings[0])
    return given
