"""``accelport launch``: core lists, NUMA-aware splitting, torchrun argument pass-through, and a real
two-rank launch whose workers report the affinity they were given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accelport import launch

# --- core lists ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, cores",
    [
        ("0", [0]),
        ("0-3", [0, 1, 2, 3]),
        ("0-2,8,10-11", [0, 1, 2, 8, 10, 11]),
        (" 4-5 , 0-1 ", [4, 5, 0, 1]),  # order kept: the user's order is the split order
        ("0-2,1-3", [0, 1, 2, 3]),  # duplicates dropped
    ],
)
def test_parse_core_list(text, cores):
    assert launch.parse_core_list(text) == cores


@pytest.mark.parametrize("text", ["", "a", "0-", "3-1", "0,,1", "-1"])
def test_parse_core_list_rejects(text):
    with pytest.raises(ValueError):
        launch.parse_core_list(text)


@pytest.mark.parametrize("cores, text", [([0, 1, 2, 5], "0-2,5"), ([7], "7"), ([3, 2], "3,2"), ([], "")])
def test_format_core_list(cores, text):
    assert launch.format_core_list(cores) == text
    if cores:
        assert launch.parse_core_list(text) == cores


# --- splitting -------------------------------------------------------------------------------

TWO_SOCKETS = {**{c: 0 for c in range(0, 4)}, **{c: 1 for c in range(4, 8)}}


def test_split_even_single_node():
    assert launch.split_cores([0, 1], 2) == [[0], [1]]
    assert launch.split_cores(list(range(8)), 4) == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_split_leftover_cores_unused_and_shares_equal():
    groups = launch.split_cores(list(range(7)), 2)
    assert groups == [[0, 1, 2], [3, 4, 5]]


def test_split_keeps_each_rank_inside_a_numa_node():
    # Cores listed interleaved across sockets: a naive chunking would straddle nodes.
    cores = [0, 4, 1, 5, 2, 6, 3, 7]
    assert launch.split_cores(cores, 2, TWO_SOCKETS) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert launch.split_cores(cores, 4, TWO_SOCKETS) == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_split_unbalanced_nodes_give_equal_shares():
    # Node 0 contributes 3 cores, node 1 only one: one rank per node, each with the smaller share.
    assert launch.split_cores([0, 1, 2, 4], 2, TWO_SOCKETS) == [[0], [4]]


def test_split_ranks_not_multiple_of_nodes_fall_back_to_chunks():
    assert launch.split_cores(list(range(8)), 3, TWO_SOCKETS) == [[0, 1], [2, 3], [4, 5]]


def test_split_needs_a_core_per_rank():
    with pytest.raises(launch.LaunchError, match="at least one core per local rank"):
        launch.split_cores([0], 2)


# --- topology from sysfs ---------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_numa_nodes_from_sysfs(tmp_path):
    _write(tmp_path / "node" / "node0" / "cpulist", "0-1,4\n")
    _write(tmp_path / "node" / "node1" / "cpulist", "2-3\n")
    _write(tmp_path / "node" / "node2" / "cpulist", "\n")  # memory-only node
    assert launch.numa_nodes(str(tmp_path)) == {0: 0, 1: 0, 4: 0, 2: 1, 3: 1}
    assert launch.nodes_spanned([0, 1, 2], launch.numa_nodes(str(tmp_path))) == 2
    assert launch.nodes_spanned([0, 1], launch.numa_nodes(str(tmp_path))) == 1


def test_sockets_when_no_numa_nodes(tmp_path):
    for cpu, package in [(0, 0), (1, 0), (2, 1), (3, 1)]:
        _write(tmp_path / "cpu" / f"cpu{cpu}" / "topology" / "physical_package_id", f"{package}\n")
    assert launch.nodes_spanned([0, 1, 2, 3], launch.numa_nodes(str(tmp_path))) == 2


def test_no_topology_counts_as_one_node(tmp_path):
    assert launch.numa_nodes(str(tmp_path)) == {}
    assert launch.nodes_spanned([0, 1, 2], {}) == 1


# --- planning: what goes to torchrun ---------------------------------------------------------


@pytest.fixture
def cpu_box(monkeypatch):
    """A CPU-only node with 8 usable cores on two NUMA nodes."""
    monkeypatch.setattr(launch, "accelerator_devices", lambda: 0)
    monkeypatch.setattr(launch, "usable_cores", lambda: list(range(8)))
    monkeypatch.setattr(launch, "numa_nodes", lambda: dict(TWO_SOCKETS))
    for dest in launch._RENDEZVOUS_DESTS:
        monkeypatch.delenv(f"PET_{dest.upper()}", raising=False)


def test_default_nproc_on_cpu_is_numa_nodes(cpu_box):
    args = launch.plan(["train.py", "--epochs", "2"])
    assert args.nproc_per_node == "2"
    assert args.training_script == "train.py"
    assert args.training_script_args == ["--epochs", "2"]
    assert args.bind_groups is None


def test_default_nproc_follows_the_core_list(cpu_box):
    assert launch.plan(["--bind-core-list", "4-7", "train.py"]).nproc_per_node == "1"


def test_default_nproc_on_gpus_is_device_count(cpu_box, monkeypatch):
    monkeypatch.setattr(launch, "accelerator_devices", lambda: 4)
    assert launch.plan(["train.py"]).nproc_per_node == "4"


def test_explicit_nproc_wins(cpu_box):
    assert launch.plan(["--nproc_per_node", "3", "train.py"]).nproc_per_node == "3"


def test_single_node_uses_standalone_rendezvous(cpu_box):
    args = launch.plan(["train.py"])
    assert args.standalone is True
    from torch.distributed.run import get_args_parser

    defaults = get_args_parser().parse_args(["x"])
    for dest in launch._RENDEZVOUS_DESTS:  # torchrun's defaults are restored for the fields it reads
        assert getattr(args, dest) == getattr(defaults, dest)


def test_multi_node_arguments_pass_through(cpu_box):
    args = launch.plan(
        ["--nnodes", "2", "--node-rank", "1", "--master-addr", "10.0.0.1", "--master-port", "1234",
         "--nproc-per-node", "2", "train.py", "--lr", "0.1"]
    )
    assert (args.nnodes, args.node_rank, args.master_addr, args.master_port) == ("2", 1, "10.0.0.1", 1234)
    assert args.standalone is False
    args = launch.plan(["--nnodes", "1:4", "--rdzv-backend", "c10d", "--rdzv-endpoint", "host:29400", "--rdzv-id", "job7", "train.py"])
    assert (args.nnodes, args.rdzv_backend, args.rdzv_endpoint, args.rdzv_id) == ("1:4", "c10d", "host:29400", "job7")
    assert args.standalone is False


def test_explicit_master_port_on_one_node_is_kept(cpu_box):
    args = launch.plan(["--master-port", "29611", "train.py"])
    assert args.standalone is False and args.master_port == 29611


def test_script_options_that_look_like_ours_stay_with_the_script(cpu_box):
    args = launch.plan(["--nproc-per-node", "1", "train.py", "--n", "3", "--nnodes", "9", "--bind-cores-to-rank"])
    assert args.training_script_args == ["--n", "3", "--nnodes", "9", "--bind-cores-to-rank"]
    assert args.nnodes in ("1", "1:1") and args.bind_groups is None


def test_binding_plan_wraps_the_script(cpu_box):
    args = launch.plan(["--nproc-per-node", "4", "--bind-cores-to-rank", "train.py", "--epochs", "1"])
    assert args.bind_groups == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert args.module is True and args.no_python is False
    assert args.training_script == "accelport.launch"
    assert args.training_script_args == [
        "--worker", "--cores", "0-1;2-3;4-5;6-7", "--mode", "python", "--threads", "1", "--", "train.py", "--epochs", "1",
    ]


def test_binding_keeps_module_mode(cpu_box):
    args = launch.plan(["--nproc-per-node", "2", "--bind-cores-to-rank", "-m", "pkg.train"])
    assert args.training_script_args[args.training_script_args.index("--mode") + 1] == "module"


def test_core_list_alone_restricts_every_rank(cpu_box):
    args = launch.plan(["--nproc-per-node", "2", "--bind-core-list", "1,3", "train.py"])
    assert args.bind_groups == [[1, 3], [1, 3]]
    assert args.training_script_args[args.training_script_args.index("--threads") + 1] == "0"


def test_core_list_outside_affinity_is_an_error(cpu_box):
    with pytest.raises(launch.LaunchError, match="may not use"):
        launch.plan(["--bind-core-list", "6-9", "train.py"])


def test_too_many_ranks_for_the_cores_is_an_error(cpu_box):
    with pytest.raises(launch.LaunchError, match="at least one core per local rank"):
        launch.plan(["--nproc-per-node", "3", "--bind-core-list", "0-1", "--bind-cores-to-rank", "train.py"])


# --- the command line, for real --------------------------------------------------------------

CHILD = """\
import os, sys
rank = os.environ["LOCAL_RANK"]
with open(os.path.join(sys.argv[1], "rank" + rank), "w") as out:
    out.write(",".join(map(str, sorted(os.sched_getaffinity(0)))) + " " + os.environ.get("OMP_NUM_THREADS", "-") + " " + " ".join(sys.argv[2:]))
sys.exit(int(os.environ.get("CHILD_EXIT", "0")))
"""


def _accelport(*args: str, cwd: Path, env_extra=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    env.pop("OMP_NUM_THREADS", None)
    return subprocess.run(
        [sys.executable, "-m", "accelport", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_does_not_import_torch():
    code = "import sys, accelport.codemod.frontends.cli, accelport.codemod.frontends.check_cli; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.skipif(len(launch.usable_cores()) < 2, reason="needs two usable cores to pin two ranks apart")
def test_two_ranks_each_pinned_to_its_own_core(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    first, second = launch.usable_cores()[:2]
    result = _accelport(
        "launch", "--nproc-per-node", "2", "--bind-cores-to-rank", "--bind-core-list", f"{first},{second}",
        str(script), str(tmp_path), "--n", "1", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    seen = {rank: (tmp_path / f"rank{rank}").read_text() for rank in (0, 1)}
    assert seen == {0: f"{first} 1 --n 1", 1: f"{second} 1 --n 1"}
    assert f"cores {first} | {second}, OMP_NUM_THREADS=1" in result.stderr


def test_failing_worker_exit_code_comes_back(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    result = _accelport("launch", "--nproc-per-node", "1", str(script), str(tmp_path), cwd=tmp_path, env_extra={"CHILD_EXIT": "3"})
    assert result.returncode == 3, result.stderr
    assert (tmp_path / "rank0").exists()


def test_launch_usage_errors_exit_2(tmp_path):
    assert _accelport("launch", cwd=tmp_path).returncode == 2  # no script
    result = _accelport("launch", "--bind-core-list", "x-y", "train.py", cwd=tmp_path)
    assert result.returncode == 2 and "bad core list" in result.stderr


def test_launch_help_lists_torchrun_and_binding_options(tmp_path):
    result = _accelport("launch", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--nnodes", "--rdzv-endpoint", "--bind-cores-to-rank", "--bind-core-list", "--hostfile", "--launcher",
                   "--num_accelerators", "--dry-run"):
        assert option in result.stdout
