"""The MPI launchers: which binary each one runs, and the exact command line it gets.

Every rank runs the worker shim (``python -u -m accelport.launch --worker --mpi STYLE ...``), which
turns the MPI rank variables into torch's (see :mod:`accelport.launch.worker`) and pins its cores. MPI
only starts the processes: torch still talks gloo (or NCCL, ...) over ``MASTER_ADDR:MASTER_PORT``.

* ``mpich`` and ``impi`` use Hydra's ``mpiexec``: ``-n TOTAL -ppn PER_NODE -hosts h1,h2`` and
  ``-genv NAME VALUE``. Hydra forwards the whole environment by default. Intel MPI would pin ranks
  itself; ``-genv I_MPI_PIN 0`` leaves the pinning to the shim.
* ``openmpi`` uses ``mpirun -np TOTAL --host h1:2,h2:2 --bind-to none`` (Open MPI binds to a core by
  default; the shim's binding must be the one that holds) and ``-x NAME=VALUE``. Open MPI forwards
  no environment to remote nodes by itself, so the variables a Python job depends on (see
  :data:`FORWARDED_PREFIXES`) are passed by name with ``-x NAME``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from accelport.launch.errors import LaunchError

# Variables forwarded to remote nodes (Open MPI's -x, the remote shell's command): the interpreter's
# search path, accelport's own switches, and the thread / collective-library tuning a CPU job uses.
FORWARDED_PREFIXES = ("PYTHONPATH", "ACCELPORT_", "OMP_", "KMP_", "CCL_", "I_MPI_", "FI_", "NCCL_", "UCX_", "TORCH_")


@dataclass(frozen=True)
class MpiLauncher:
    """One MPI launcher: the binaries tried in order, and what to install when none is found."""

    name: str
    style: str  # "hydra" or "openmpi": the command-line dialect and the rank variables
    binaries: Tuple[str, ...]
    install: str


# The suffixed names come first: on Debian/Ubuntu, plain mpiexec/mpirun is an alternatives link that
# may point at the other MPI, whose options differ.
MPI_LAUNCHERS: Dict[str, MpiLauncher] = {
    "mpich": MpiLauncher(
        "mpich", "hydra", ("mpiexec.mpich", "mpiexec.hydra", "mpiexec"),
        "install MPICH: apt-get install mpich (Debian/Ubuntu), dnf install mpich (Fedora/RHEL)",
    ),
    "impi": MpiLauncher(
        "impi", "hydra", ("mpiexec.hydra", "mpiexec"),
        "install Intel MPI (apt-get/dnf install intel-oneapi-mpi from Intel's oneAPI repository) and "
        "source its setvars.sh / vars.sh so that mpiexec.hydra is on PATH",
    ),
    "openmpi": MpiLauncher(
        "openmpi", "openmpi", ("mpirun.openmpi", "mpirun"),
        "install Open MPI: apt-get install openmpi-bin (Debian/Ubuntu), dnf install openmpi (Fedora/RHEL)",
    ),
}


def find_binary(launcher: MpiLauncher, given: Optional[str] = None) -> str:
    """The launcher's binary: ``given`` (``--launcher-binary``) or the first of its names on PATH."""
    for name in (given,) if given else launcher.binaries:
        path = shutil.which(name)
        if path:
            return path
    tried = given or ", ".join(launcher.binaries)
    raise LaunchError(f"--launcher {launcher.name} needs {tried} on PATH, and none was found: {launcher.install}")


def forwarded_names(environ: Mapping[str, str]) -> List[str]:
    """Names of the variables in ``environ`` that are forwarded to other nodes, sorted."""
    return sorted(name for name in environ if name.startswith(FORWARDED_PREFIXES))


def mpi_command(
    launcher: MpiLauncher, binary: str, hosts: Mapping[str, int], master_addr: str, master_port: int,
    worker: Sequence[str], launcher_args: Sequence[str] = (), environ: Mapping[str, str] = {},
) -> List[str]:
    """The full MPI command line: ``binary``, its placement options, ``launcher_args`` (the user's,
    verbatim), the exported variables, then ``worker`` (the shim and the script) for every rank."""
    total = sum(hosts.values())
    master = [("MASTER_ADDR", master_addr), ("MASTER_PORT", str(master_port))]
    if launcher.style == "hydra":
        counts = set(hosts.values())
        if len(counts) > 1:
            layout = ", ".join(f"{host}={count}" for host, count in hosts.items())
            raise LaunchError(
                f"--launcher {launcher.name} (Hydra -ppn) runs the same number of workers on every host, but the "
                f"hosts have {layout}: give --num-accelerators N, or use --launcher openmpi"
            )
        command = [binary, "-n", str(total), "-ppn", str(counts.pop()), "-hosts", ",".join(hosts), *launcher_args]
        exports = master + ([("I_MPI_PIN", "0")] if launcher.name == "impi" else [])
        for name, value in exports:
            command += ["-genv", name, value]
        return command + list(worker)
    command = [binary, "-np", str(total), "--host", ",".join(f"{host}:{count}" for host, count in hosts.items()),
               "--bind-to", "none", *launcher_args]
    for name, value in master:
        command += ["-x", f"{name}={value}"]
    for name in forwarded_names(environ):
        command += ["-x", name]
    return command + list(worker)
