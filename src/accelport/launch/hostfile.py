"""Which hosts a job runs on, and how many workers each gets.

The hostfile has DeepSpeed's (and MPI's) format, one host a line::

    # two dual-socket CPU nodes: one worker per socket
    worker-1 slots=2
    worker-2 slots=2   # a trailing comment is fine

Blank lines and ``#`` comments are skipped; anything else that is not ``HOST slots=N`` (N >= 1) is an
error naming the file and line, as is a host listed twice or a file with no host.

``--include`` / ``--exclude`` take DeepSpeed's syntax, ``NODE_SPEC[@NODE_SPEC...]`` with
``NODE_SPEC = HOST[:SLOT[,SLOT...]]``: ``worker-1@worker-2:0,1`` keeps every slot of worker-1 and
slots 0 and 1 of worker-2; ``--exclude worker-2:1`` drops slot 1 of worker-2, ``--exclude worker-2``
the whole host. The hostfile's order is kept: it decides the node ranks and the default master.

accelport counts slots; it does not place workers on a particular slot (the local ranks of a node
take the node's cores, or devices, in order). A selection that leaves a host with slots other than
``0..k-1`` would not mean what it says, so it is refused with a hint instead of being run differently.
"""

from __future__ import annotations

import re
import socket
from typing import Dict, List, Optional

from accelport.launch.errors import LaunchError

_LINE = re.compile(r"(\S+)\s+slots\s*=\s*(\d+)")
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def parse_hostfile(text: str, name: str = "hostfile") -> Dict[str, int]:
    """``HOST slots=N`` lines -> ``{host: slots}`` in file order; errors name ``name:line``."""
    hosts: Dict[str, int] = {}
    first_line: Dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if not match:
            raise LaunchError(f"{name}:{number}: expected 'HOST slots=N', got {raw.strip()!r}")
        host, slots = match.group(1), int(match.group(2))
        if slots < 1:
            raise LaunchError(f"{name}:{number}: {host} has slots={slots}; a host needs at least one slot")
        if host in hosts:
            raise LaunchError(f"{name}:{number}: {host} is listed again (first on line {first_line[host]})")
        hosts[host], first_line[host] = slots, number
    if not hosts:
        raise LaunchError(f"{name}: no host in it (expected lines like 'worker-1 slots=2')")
    return hosts


def read_hostfile(path: str) -> Dict[str, int]:
    """Read and parse a hostfile; a missing or unreadable file is a :class:`LaunchError`."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise LaunchError(f"cannot read --hostfile {path}: {exc.strerror or exc}") from exc
    return parse_hostfile(text, path)


def parse_node_specs(text: str, option: str) -> Dict[str, List[int]]:
    """``"w1@w2:0,2"`` -> ``{"w1": [], "w2": [0, 2]}`` (an empty list means every slot of the host)."""
    specs: Dict[str, List[int]] = {}
    for spec in text.split("@"):
        host, _, slots = spec.partition(":")
        if not host or (":" in spec and not re.fullmatch(r"\d+(,\d+)*", slots)):
            raise LaunchError(f"{option} {text!r}: expected HOST or HOST:SLOT,SLOT joined by '@' (e.g. worker-1@worker-2:0,1)")
        chosen = specs.setdefault(host, [])
        if slots:
            chosen.extend(int(slot) for slot in slots.split(",") if int(slot) not in chosen)
    return specs


def select_hosts(
    pool: Dict[str, int], include: str = "", exclude: str = "", num_nodes: Optional[int] = None,
    per_node: Optional[int] = None,
) -> Dict[str, int]:
    """Apply ``--include`` / ``--exclude`` (DeepSpeed's syntax), then ``--num-nodes`` (the first N hosts),
    then ``per_node`` (``--num-accelerators``: workers on every host). Returns ``{host: workers}``."""
    if include and exclude:
        raise LaunchError("--include and --exclude cannot be used together")
    if (include or exclude) and (num_nodes is not None or per_node is not None):
        raise LaunchError("--include/--exclude choose hosts and slots themselves: drop --num-nodes / --num-accelerators")
    slots = {host: list(range(count)) for host, count in pool.items()}
    option = "--include" if include else "--exclude"
    specs = parse_node_specs(include or exclude, option) if (include or exclude) else {}
    for host, chosen in specs.items():
        if host not in slots:
            raise LaunchError(f"{option}: host {host!r} is not in the hostfile (hosts: {', '.join(pool)})")
        missing = [slot for slot in chosen if slot not in slots[host]]
        if missing:
            raise LaunchError(f"{option}: {host} has no slot {missing[0]} (slots 0-{pool[host] - 1})")
    if include:
        slots = {host: sorted(specs[host]) or slots[host] for host in slots if host in specs}
    elif exclude:
        # A host named without slots goes entirely; one named with slots loses just those.
        slots = {
            host: [] if host in specs and not specs[host] else [slot for slot in kept if slot not in specs.get(host, [])]
            for host, kept in slots.items()
        }
    selected = {host: kept for host, kept in slots.items() if kept}
    if not selected:
        raise LaunchError(f"{option} {include or exclude!r} leaves no host to run on")
    for host, kept in selected.items():
        if kept != list(range(len(kept))):
            raise LaunchError(
                f"{option} leaves {host} with slot(s) {','.join(map(str, kept))}: accelport launch counts slots and "
                f"gives local ranks the node's cores or devices in order, so only slots 0..k-1 can be chosen; "
                f"use --bind-core-list (CPU) or CUDA_VISIBLE_DEVICES (GPU) to choose which ones"
            )
    if num_nodes is not None:
        if num_nodes < 1:
            raise LaunchError("--num-nodes must be at least 1")
        if num_nodes > len(selected):
            raise LaunchError(f"--num-nodes {num_nodes}: the hostfile has only {len(selected)} host(s)")
        selected = dict(list(selected.items())[:num_nodes])
    if per_node is not None:
        if per_node < 1:
            raise LaunchError("--num-accelerators must be at least 1")
        return {host: per_node for host in selected}
    return {host: len(kept) for host, kept in selected.items()}


def is_local(host: str) -> bool:
    """Whether ``host`` names this machine (then it is started directly, without a remote shell)."""
    if host in LOCAL_NAMES:
        return True
    name = socket.gethostname()
    return host in (name, name.split(".")[0])
