"""``accelport launch`` with real launchers: the ported ``examples/train_cuda.py`` on a hostfile of
``localhost slots=2`` under MPICH's ``mpiexec``, Intel-MPI-style Hydra and Open MPI's ``mpirun`` (two
ranks, gloo, each rank pinned to its own core, loss going down), and torchrun on two "nodes" of which
one is reached through a remote shell.

The MPI binaries come from the distribution (``.ci/run`` installs ``mpich`` and ``openmpi-bin``); the
suffixed names are used because plain ``mpiexec``/``mpirun`` is an alternatives link to one of them.
Intel MPI is not packaged by Debian: the ``impi`` launcher's command line (Hydra's, plus
``-genv I_MPI_PIN 0``) runs on MPICH's Hydra unless an Intel ``mpiexec.hydra`` is set up (I_MPI_ROOT).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 150

# Runs in every rank: records what the rank sees before the script starts, then runs the ported
# example. os._exit after the script: torch 2.13's gloo can abort during interpreter finalization
# ("terminate called without an active exception", see tests/test_e2e.py); that is not under test.
PROBE = """\
import gc, os, runpy, sys
out, script = sys.argv[1], sys.argv[2]
names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "OMP_NUM_THREADS")
with open(os.path.join(out, "rank" + os.environ["RANK"]), "w") as handle:
    handle.write(" ".join(os.environ.get(name, "-") for name in names))
    handle.write(" cores=" + ",".join(map(str, sorted(os.sched_getaffinity(0)))))
sys.argv = [script, *sys.argv[3:]]
runpy.run_path(script, run_name="__main__")
gc.collect()
sys.stdout.flush()
os._exit(0)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ)
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS"):
        env.pop(name, None)
    # Open MPI refuses to start as root without these (CI runs as root); they change nothing else.
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


@pytest.fixture(scope="module")
def ported(tmp_path_factory) -> Path:
    """``examples/train_cuda.py`` after the real ``accelport rewrite``."""
    folder = tmp_path_factory.mktemp("ported")
    shutil.copy(REPO / "examples" / "train_cuda.py", folder / "train_cuda.py")
    result = subprocess.run([sys.executable, "-m", "accelport", "rewrite", "--no-cache", str(folder)],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 1 and "1 file rewritten" in result.stderr, result.stderr  # 1: one site reported
    return folder / "train_cuda.py"


def _cores() -> list:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two usable cores to pin two ranks apart")
    return cores[:2]


def _launch(tmp_path: Path, ported: Path, *options: str) -> subprocess.CompletedProcess:
    (tmp_path / "probe.py").write_text(PROBE)
    (tmp_path / "hostfile").write_text("# this machine, one worker per core\nlocalhost slots=2\n")
    command = [
        sys.executable, "-m", "accelport", "launch", "--hostfile", "hostfile", "--master_port", str(_free_port()),
        *options, "probe.py", str(tmp_path), str(ported), "--epochs", "2", "--checkpoint", str(tmp_path / "ckpt.pt"),
    ]
    return subprocess.run(command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)


def _check_two_pinned_ranks(tmp_path: Path, result: subprocess.CompletedProcess, cores: list) -> None:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    # --bind_core_list lists the cores reversed: rank 0 on the second core proves the shim pinned it,
    # not the MPI launcher (which would start with the first).
    expected = {0: f"0 2 0 2 localhost 1 cores={cores[1]}", 1: f"1 2 1 2 localhost 1 cores={cores[0]}"}
    assert {rank: (tmp_path / f"rank{rank}").read_text() for rank in (0, 1)} == expected
    losses = [float(value) for value in re.findall(r"^epoch \d+ loss ([0-9.]+)", result.stdout, re.M)]
    assert len(losses) == 2 and losses[1] < losses[0], result.stdout


def _mpi(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (apt-get install {package})")
    return path


@pytest.mark.parametrize(
    "launcher, binary, package",
    [("mpich", "mpiexec.mpich", "mpich"), ("openmpi", "mpirun.openmpi", "openmpi-bin")],
)
def test_ported_example_under_mpi(tmp_path, ported, launcher, binary, package):
    cores = _cores()
    path = _mpi(binary, package)
    result = _launch(tmp_path, ported, "--launcher", launcher, "--launcher-binary", path,
                     "--bind_cores_to_rank", "--bind_core_list", f"{cores[1]},{cores[0]}")
    _check_two_pinned_ranks(tmp_path, result, cores)
    assert f"running {path} " in result.stderr


def test_ported_example_under_impi_style_hydra(tmp_path, ported):
    """Intel MPI's Hydra when it is set up, else MPICH's Hydra with the same command line."""
    cores = _cores()
    intel = os.environ.get("I_MPI_ROOT") and shutil.which("mpiexec.hydra")
    path = intel or _mpi("mpiexec.mpich", "mpich")
    result = _launch(tmp_path, ported, "--launcher", "impi", "--launcher-binary", path,
                     "--bind_cores_to_rank", "--bind_core_list", f"{cores[1]},{cores[0]}")
    _check_two_pinned_ranks(tmp_path, result, cores)
    assert "-genv I_MPI_PIN 0" in result.stderr


FAKE_SSH = """\
#!/bin/sh
# Stands in for ssh: "fake-ssh HOST COMMAND" runs COMMAND here, as a remote login shell would.
echo "fake-ssh $1" >&2
exec sh -c "$2"
"""

ALLREDUCE = """\
import os, sys
import torch
import torch.distributed as dist
dist.init_process_group("gloo")
value = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(value)
with open(os.path.join(sys.argv[1], "rank" + os.environ["RANK"]), "w") as out:
    out.write(f"{dist.get_world_size()} {os.environ['GROUP_RANK']} {value.item():.0f} {os.environ.get('ACCELPORT_CHECK', '-')}")
dist.destroy_process_group()
"""


def test_torchrun_two_nodes_one_through_the_remote_shell(tmp_path):
    """Node 0 is this machine (started directly), node 1 is reached through the remote shell; the two
    torchruns form one job, and node 1 sees the forwarded ACCELPORT_ variable."""
    (tmp_path / "child.py").write_text(ALLREDUCE)
    shell = tmp_path / "fake-ssh"
    shell.write_text(FAKE_SSH)
    shell.chmod(0o755)
    (tmp_path / "hostfile").write_text("localhost slots=1\nnode-b.invalid slots=1\n")
    env = {**_env(), "ACCELPORT_CHECK": "forwarded"}
    result = subprocess.run(
        [sys.executable, "-m", "accelport", "launch", "--hostfile", "hostfile", "--remote-shell", str(shell),
         "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "child.py", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "fake-ssh node-b.invalid" in result.stderr
    # World of 2, one rank per node; the all-reduce summed 1 + 2.
    assert {(tmp_path / f"rank{rank}").read_text() for rank in (0, 1)} == {"2 0 3 forwarded", "2 1 3 forwarded"}
