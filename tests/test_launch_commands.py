"""The exact command lines ``accelport launch`` builds for 2 nodes x 2 slots under every launcher,
DeepSpeed's spellings, ``--dry-run``, the errors for a missing launcher binary, and the worker shim's
mapping of MPI rank variables. Nothing here starts a distributed job."""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys

import pytest

from accelport import launch
from accelport.launch import worker as shim
from accelport.launch.mpi import MPI_LAUNCHERS, find_binary

PY = sys.executable
SHIM = [PY, "-u", "-m", "accelport.launch", "--worker"]
ENV = {"PYTHONPATH": "/opt/my lib", "OMP_SCHEDULE": "static", "HOME": "/root", "SECRET_TOKEN": "x"}


@pytest.fixture
def two_nodes(tmp_path, monkeypatch):
    """A hostfile of two dual-socket nodes; MPI binaries resolve to their first name."""
    monkeypatch.setattr(launch, "find_binary", lambda launcher, given=None: given or launcher.binaries[0])
    monkeypatch.setattr(launch, "usable_cores", lambda: [0, 1, 2, 3])
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("# two dual-socket nodes\nworker-1 slots=2\nworker-2 slots=2\n")
    return str(hostfile)


def _commands(argv):
    return launch.prepare(argv, environ=ENV, cwd="/work/job").commands


def test_mpich_command(two_nodes):
    assert _commands(["--hostfile", two_nodes, "--launcher", "mpich", "--bind-cores-to-rank", "train.py", "--lr", "0.1"]) == [[
        "mpiexec.mpich", "-n", "4", "-ppn", "2", "-hosts", "worker-1,worker-2",
        "-genv", "MASTER_ADDR", "worker-1", "-genv", "MASTER_PORT", "29500",
        *SHIM, "--mpi", "hydra", "--mode", "python", "--split", "--threads", "1", "--", "train.py", "--lr", "0.1",
    ]]


def test_impi_command_turns_off_intel_pinning(two_nodes):
    assert _commands(["-H", two_nodes, "--launcher", "IMPI", "--master_addr", "10.0.0.1", "--master_port", "29600",
                      "--bind_cores_to_rank", "--bind_core_list", "0-51,56-107", "train.py"]) == [[
        "mpiexec.hydra", "-n", "4", "-ppn", "2", "-hosts", "worker-1,worker-2",
        "-genv", "MASTER_ADDR", "10.0.0.1", "-genv", "MASTER_PORT", "29600", "-genv", "I_MPI_PIN", "0",
        *SHIM, "--mpi", "hydra", "--mode", "python", "--split", "--threads", "1", "--core-list", "0-51,56-107",
        "--", "train.py",
    ]]


def test_openmpi_command_forwards_the_python_environment(two_nodes):
    assert _commands(["--hostfile", two_nodes, "--launcher", "openmpi", "--launcher_args", "--mca btl_tcp_if_include eth0",
                      "-m", "pkg.train"]) == [[
        "mpirun.openmpi", "-np", "4", "--host", "worker-1:2,worker-2:2", "--bind-to", "none",
        "--mca", "btl_tcp_if_include", "eth0",
        "-x", "MASTER_ADDR=worker-1", "-x", "MASTER_PORT=29500", "-x", "OMP_SCHEDULE", "-x", "PYTHONPATH",
        *SHIM, "--mpi", "openmpi", "--mode", "module", "--", "pkg.train",
    ]]


def test_torchrun_command_per_node_through_ssh(two_nodes):
    commands = _commands(["--hostfile", two_nodes, "--max-restarts", "1", "--bind_cores_to_rank", "train.py", "--lr", "0.1"])
    for rank, host in enumerate(("worker-1", "worker-2")):
        node = [PY, "-u", "-m", "accelport", "launch", "--nnodes", "2", "--node-rank", str(rank),
                "--master-addr", "worker-1", "--master-port", "29500", "--nproc-per-node", "2",
                "--max-restarts", "1", "--bind_cores_to_rank", "train.py", "--lr", "0.1"]
        # Same directory, the forwarded variables (not HOME or SECRET_TOKEN), quoted for the remote shell.
        line = "cd /work/job && exec env OMP_SCHEDULE=static PYTHONPATH='/opt/my lib' " + shlex.join(node)
        assert commands[rank] == ["ssh", host, line]


def test_torchrun_remote_shell_and_local_host(tmp_path, two_nodes):
    hostfile = tmp_path / "mixed"
    hostfile.write_text("localhost slots=1\nworker-2 slots=3\n")
    job = launch.prepare(["--hostfile", str(hostfile), "--remote-shell", "ssh -p 2222", "--master_addr", "10.0.0.5", "t.py"],
                         environ={}, cwd="/w")
    assert [node.local for node in job.nodes] == [True, False]
    assert job.commands[0][:12] == [PY, "-u", "-m", "accelport", "launch", "--nnodes", "2", "--node-rank", "0",
                                    "--master-addr", "10.0.0.5", "--master-port"]
    assert job.commands[1][:3] == ["ssh", "-p", "2222"] and job.commands[1][3] == "worker-2"
    assert "--nproc-per-node 3 t.py" in job.commands[1][4]


def test_local_master_with_other_hosts_is_an_error(tmp_path, two_nodes):
    hostfile = tmp_path / "mixed"
    hostfile.write_text("localhost slots=1\nworker-2 slots=1\n")
    with pytest.raises(launch.LaunchError, match="'localhost', which the other hosts cannot reach as the master"):
        launch.prepare(["--hostfile", str(hostfile), "--launcher", "mpich", "t.py"], environ={})


def test_options_are_cut_from_the_script_in_every_spelling():
    from accelport.launch.nodes import split_argv

    options, script = split_argv(
        ["--hostfile=hf", "-H", "hf", "-r3", "--bind_cores_to_rank", "-m", "--", "pkg.train", "--lr", "1"], launch.build_parser()
    )
    assert options == [("hostfile", ["--hostfile=hf"]), ("hostfile", ["-H", "hf"]), ("redirects", ["-r3"]),
                       ("bind_cores_to_rank", ["--bind_cores_to_rank"]), ("module", ["-m"])]
    assert script == ["pkg.train", "--lr", "1"]
    assert split_argv(["--launcher", "mpich", "t.py", "--launcher", "x"], launch.build_parser())[1] == ["t.py", "--launcher", "x"]


def test_hostfile_with_one_local_host_is_a_plain_local_launch(tmp_path, monkeypatch):
    monkeypatch.setattr(launch, "accelerator_devices", lambda: 0)
    monkeypatch.setattr(launch, "usable_cores", lambda: [0, 1])
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("localhost slots=2\n")
    job = launch.prepare(["--hostfile", str(hostfile), "--bind_cores_to_rank", "t.py"], environ={})
    assert job.kind == "torchrun"
    assert job.torchrun_args.nproc_per_node == "2" and job.torchrun_args.standalone is True
    assert job.torchrun_args.bind_groups == [[0], [1]]


def test_num_nodes_and_num_accelerators(two_nodes):
    [command] = _commands(["--hostfile", two_nodes, "--num_nodes", "1", "--num_accelerators", "1", "--launcher", "mpich", "t.py"])
    assert command[:7] == ["mpiexec.mpich", "-n", "1", "-ppn", "1", "-hosts", "worker-1"]


def test_include_exclude_reach_the_command(two_nodes):
    [command] = _commands(["--hostfile", two_nodes, "--include", "worker-2:0", "--launcher", "openmpi", "t.py"])
    assert command[:4] == ["mpirun.openmpi", "-np", "1", "--host"] and command[4] == "worker-2:1"
    [command] = _commands(["--hostfile", two_nodes, "--exclude", "worker-1@worker-2:1", "--launcher", "mpich", "t.py"])
    assert command[:7] == ["mpiexec.mpich", "-n", "1", "-ppn", "1", "-hosts", "worker-2"]


def test_mpi_without_hostfile_runs_on_this_machine(monkeypatch, two_nodes):
    [command] = _commands(["--launcher", "mpich", "--num_accelerators", "2", "t.py"])
    assert command[:9] == ["mpiexec.mpich", "-n", "2", "-ppn", "2", "-hosts", "localhost", "-genv", "MASTER_ADDR"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--launcher", "mpich", "--max-restarts", "2", "t.py"], "--max-restarts: torchrun option(s) that --launcher mpich does not use"),
        (["--launcher", "openmpi", "--node-rank", "1", "t.py"], "--node-rank"),
        (["--nnodes", "2", "t.py"], "--nnodes and --node-rank come from the hostfile"),
        (["--num_accelerators", "2", "--nproc-per-node", "3", "t.py"], "disagree"),
        (["--num_nodes", "2", "--launcher", "mpich", "t.py"], "needs a --hostfile"),
        (["--launcher-args=-v", "t.py"], "--launcher-args is for the MPI launchers"),
    ],
)
def test_usage_errors(two_nodes, argv, message):
    if argv[:2] == ["--nnodes", "2"] or argv[:1] == ["--launcher-args=-v"]:
        argv = ["--hostfile", two_nodes, *argv]
    with pytest.raises(launch.LaunchError) as error:
        launch.prepare(argv, environ={})
    assert message in str(error.value)


def test_hydra_needs_the_same_slots_everywhere(tmp_path, two_nodes):
    hostfile = tmp_path / "uneven"
    hostfile.write_text("a slots=2\nb slots=4\n")
    with pytest.raises(launch.LaunchError, match="a=2, b=4: give --num-accelerators N, or use --launcher openmpi"):
        launch.prepare(["--hostfile", str(hostfile), "--launcher", "mpich", "t.py"], environ={})
    [command] = launch.prepare(["--hostfile", str(hostfile), "--launcher", "openmpi", "t.py"], environ={}).commands
    assert command[:5] == ["mpirun.openmpi", "-np", "6", "--host", "a:2,b:4"]


@pytest.mark.parametrize("name, package", [("mpich", "apt-get install mpich"), ("impi", "intel-oneapi-mpi"), ("openmpi", "apt-get install openmpi-bin")])
def test_missing_launcher_binary_names_the_package(monkeypatch, name, package):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(launch.LaunchError) as error:
        find_binary(MPI_LAUNCHERS[name])
    assert f"--launcher {name} needs {MPI_LAUNCHERS[name].binaries[0]}" in str(error.value)
    assert package in str(error.value)


def test_missing_remote_shell_is_an_error(two_nodes):
    with pytest.raises(launch.LaunchError, match="no-such-shell is not on PATH"):
        launch.prepare(["--hostfile", two_nodes, "--remote-shell", "no-such-shell", "t.py"], environ={})


def test_deepspeed_spellings_parse(monkeypatch):
    monkeypatch.setattr(launch, "accelerator_devices", lambda: 0)
    monkeypatch.setattr(launch, "usable_cores", lambda: [0, 1, 2, 3])
    monkeypatch.setattr(launch, "numa_nodes", lambda: {})
    args = launch.plan(["--num_accelerators", "2", "--bind_cores_to_rank", "--bind_core_list", "2-3",
                        "--master_addr", "127.0.0.1", "--master_port", "29555", "--no_local_rank", "t.py"])
    assert args.nproc_per_node == "2" and args.bind_groups == [[2], [3]]
    assert (args.master_addr, args.master_port, args.standalone) == ("127.0.0.1", 29555, False)


# --- the command line: --dry-run, --remote-shell none, the missing binary ----------------------


def test_dry_run_prints_the_commands_and_starts_nothing(tmp_path):
    """Through the real console entry point: exit 0, one line per command on stdout."""
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("worker-1 slots=2\nworker-2 slots=2\n")
    result = subprocess.run(
        [PY, "-m", "accelport", "launch", "--hostfile", str(hostfile), "--launcher", "openmpi", "--launcher-binary",
         "my-mpirun", "--dry-run", str(tmp_path / "never_run.py")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("my-mpirun -np 4 --host worker-1:2,worker-2:2 --bind-to none ")
    assert result.stdout.count("\n") == 1 and not (tmp_path / "never_run.py").exists()


def test_dry_run_of_nodes_and_of_one_node(tmp_path, capsys):
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("worker-1 slots=2\nworker-2 slots=2\n")
    assert launch.main(["--hostfile", str(hostfile), "--dry_run", "--remote-shell", "none", "t.py"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# node 0: worker-1" and lines[2] == "# node 1: worker-2" and "--node-rank 1" in lines[3]
    assert launch.main(["--nproc-per-node", "1", "--dry-run", "t.py", "--lr", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(shlex.join([PY, "-m", "torch.distributed.run"])) and out.endswith(" t.py --lr 1\n")
    assert launch.main(["--nproc-per-node", "2", "--bind-cores-to-rank", "--bind-core-list", "0", "--dry-run", "t.py"]) == 2
    assert "at least one core per local rank" in capsys.readouterr().err


def test_missing_mpi_binary_is_exit_2_naming_the_package(capsys):
    assert launch.main(["--launcher", "openmpi", "--launcher-binary", "no-such-mpirun", "--num_accelerators", "1", "t.py"]) == 2
    err = capsys.readouterr().err
    assert "--launcher openmpi needs no-such-mpirun on PATH" in err and "openmpi-bin" in err


def test_remote_shell_none_prints_each_node(tmp_path, capsys):
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("worker-1 slots=1\nworker-2 slots=1\n")
    assert launch.main(["--hostfile", str(hostfile), "--remote-shell", "none", "t.py"]) == 0
    captured = capsys.readouterr()
    assert "run each node's command on that node" in captured.err
    assert captured.out.count("-m accelport launch --nnodes 2") == 2


# --- the worker shim: MPI's rank variables become torch's -------------------------------------


@pytest.mark.parametrize(
    "style, given",
    [
        ("hydra", {"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2"}),
        ("openmpi", {"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4",
                     "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "PMI_RANK": "0"}),
    ],
)
def test_rank_variables_are_mapped(style, given):
    environ = {**given, "MASTER_ADDR": "worker-1", "MASTER_PORT": "29500"}
    shim.map_rank_variables(style, environ)
    assert [environ[name] for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")] == ["3", "4", "1", "2"]


def test_missing_rank_or_master_variables_are_errors():
    with pytest.raises(launch.LaunchError, match="RANK: none of PMI_RANK, PMIX_RANK is set"):
        shim.map_rank_variables("hydra", {"MASTER_ADDR": "a", "MASTER_PORT": "1"})
    full = {"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "1", "OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "1"}
    with pytest.raises(launch.LaunchError, match="MASTER_ADDR is not set"):
        shim.map_rank_variables("openmpi", dict(full))


def test_shim_splits_this_nodes_cores_among_its_ranks(monkeypatch):
    monkeypatch.setattr(shim, "usable_cores", lambda: list(range(8)))
    monkeypatch.setattr(shim, "numa_nodes", lambda: {core: core // 4 for core in range(8)})
    opts = argparse.Namespace(cores=None, split=True, core_list=None)
    env = {"LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    assert shim.rank_cores(opts, env) == [4, 5, 6, 7]  # one NUMA node each
    opts.core_list = "3,2"
    assert shim.rank_cores(opts, env) == [2]
    opts.split = False
    assert shim.rank_cores(opts, env) == [3, 2]  # a core list alone confines every rank to all of it
    opts.core_list = "6-9"
    with pytest.raises(launch.LaunchError, match="8-9 that this node does not let it use"):
        shim.rank_cores(opts, env)
    assert shim.rank_cores(argparse.Namespace(cores=None, split=False, core_list=None), env) == []


def test_first_failing_node_stops_the_others():
    """A node that fails leaves the others waiting in the rendezvous: they are stopped and its code returned."""
    import time

    from accelport.launch.nodes import NodeCommand, run_nodes

    started = time.monotonic()
    code = run_nodes([NodeCommand("a", ["sleep", "60"], True), NodeCommand("b", ["sh", "-c", "exit 3"], True)], poll_s=0.05)
    assert code == 3 and time.monotonic() - started < 30
    assert run_nodes([NodeCommand("a", ["true"], True), NodeCommand("b", ["true"], True)], poll_s=0.05) == 0
