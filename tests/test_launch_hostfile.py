"""``accelport launch --hostfile``: DeepSpeed's hostfile format, ``--include`` / ``--exclude``
(``host:slot,slot@host2``), ``--num-nodes`` and ``--num-accelerators``."""

from __future__ import annotations

import pytest

from accelport.launch.errors import LaunchError
from accelport.launch.hostfile import is_local, parse_hostfile, parse_node_specs, read_hostfile, select_hosts

POOL = {"worker-1": 2, "worker-2": 2, "worker-3": 4}


def test_hostfile_with_comments_blank_lines_and_trailing_comments():
    text = "# two dual-socket nodes\n\nworker-1 slots=2\n   \nworker-2  slots=4   # the big one\n\t# done\n"
    assert parse_hostfile(text) == {"worker-1": 2, "worker-2": 4}
    assert list(parse_hostfile("b slots=1\na slots=1\n")) == ["b", "a"]  # file order is node-rank order


@pytest.mark.parametrize(
    "text, message",
    [
        ("worker-1 slots=2\nworker-2\n", "hf:2: expected 'HOST slots=N', got 'worker-2'"),
        ("worker-1 slots=two\n", "hf:1: expected 'HOST slots=N'"),
        ("# header\nworker-1 slots=2 max_slots=4\n", "hf:2: expected"),
        ("worker-1 slots=0\n", "hf:1: worker-1 has slots=0"),
        ("worker-1 slots=2\n\nworker-1 slots=2\n", "hf:3: worker-1 is listed again (first on line 1)"),
        ("# nothing here\n\n", "hf: no host in it"),
    ],
)
def test_malformed_hostfile_names_the_line(text, message):
    with pytest.raises(LaunchError) as error:
        parse_hostfile(text, "hf")
    assert message in str(error.value)


def test_missing_hostfile_is_a_launch_error(tmp_path):
    with pytest.raises(LaunchError, match="cannot read --hostfile"):
        read_hostfile(str(tmp_path / "nope"))
    (tmp_path / "hf").write_text("node-a slots=3\n")
    assert read_hostfile(str(tmp_path / "hf")) == {"node-a": 3}


def test_node_specs():
    assert parse_node_specs("worker-1@worker-2:0,1", "--include") == {"worker-1": [], "worker-2": [0, 1]}
    assert parse_node_specs("worker-2:1@worker-2:0,1", "--include") == {"worker-2": [1, 0]}
    for bad in ("", "worker-1:", "worker-1:a", "@worker-1", "worker-1:0,,1"):
        with pytest.raises(LaunchError, match="expected HOST or HOST:SLOT"):
            parse_node_specs(bad, "--include")


def test_no_filter_keeps_every_host_and_slot():
    assert select_hosts(POOL) == POOL


def test_include_hosts_and_slots_keeps_hostfile_order():
    assert select_hosts(POOL, include="worker-3@worker-1") == {"worker-1": 2, "worker-3": 4}
    assert select_hosts(POOL, include="worker-1@worker-3:0,1") == {"worker-1": 2, "worker-3": 2}


def test_exclude_hosts_and_trailing_slots():
    assert select_hosts(POOL, exclude="worker-2") == {"worker-1": 2, "worker-3": 4}
    assert select_hosts(POOL, exclude="worker-3:3@worker-3:2") == {"worker-1": 2, "worker-2": 2, "worker-3": 2}


@pytest.mark.parametrize(
    "include, exclude, message",
    [
        ("worker-9", "", "--include: host 'worker-9' is not in the hostfile"),
        ("worker-1:5", "", "--include: worker-1 has no slot 5 (slots 0-1)"),
        ("", "worker-1@worker-2@worker-3", "leaves no host to run on"),
        ("worker-1", "worker-2", "cannot be used together"),
        # Picking slot 1 alone would run one worker on the node's first cores/device, not the second.
        ("worker-1:1", "", "leaves worker-1 with slot(s) 1"),
        ("", "worker-3:0", "leaves worker-3 with slot(s) 1,2,3"),
    ],
)
def test_filter_errors(include, exclude, message):
    with pytest.raises(LaunchError) as error:
        select_hosts(POOL, include=include, exclude=exclude)
    assert message in str(error.value)


def test_num_nodes_takes_the_first_hosts():
    assert select_hosts(POOL, num_nodes=2) == {"worker-1": 2, "worker-2": 2}
    with pytest.raises(LaunchError, match="only 3 host"):
        select_hosts(POOL, num_nodes=4)
    with pytest.raises(LaunchError, match="at least 1"):
        select_hosts(POOL, num_nodes=0)


def test_num_accelerators_sets_the_workers_of_every_host():
    assert select_hosts(POOL, num_nodes=2, per_node=1) == {"worker-1": 1, "worker-2": 1}
    assert select_hosts(POOL, per_node=3) == {"worker-1": 3, "worker-2": 3, "worker-3": 3}


def test_filters_and_counts_do_not_mix():
    with pytest.raises(LaunchError, match="drop --num-nodes"):
        select_hosts(POOL, include="worker-1", num_nodes=1)


def test_local_host_names():
    import socket

    assert is_local("localhost") and is_local("127.0.0.1") and is_local(socket.gethostname())
    assert not is_local("worker-1.example.invalid")
