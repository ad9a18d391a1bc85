"""Core lists, the node's topology (NUMA nodes or sockets from sysfs) and the even, NUMA-aware split
of a node's cores among its local ranks. Used by the launcher and by the worker shim on every node,
so nothing here imports torch."""

from __future__ import annotations

import argparse
import glob
import os
import re
from typing import Dict, Iterable, List, Optional, Sequence

from accelport.launch.errors import LaunchError

_SYS = "/sys/devices/system"


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


def core_list_arg(text: str) -> List[int]:
    """argparse type for a core list: a parsed, non-empty list or an argparse error."""
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
