"""torchrun across several nodes: one ``accelport launch`` per node, started by a remote shell.

Each node runs ``python -u -m accelport launch --nnodes N --node-rank i --master-addr A --master-port P
--nproc-per-node SLOTS <the user's other options> script args``: a single-node launch with torchrun's
static rendezvous, so each node splits its own cores (only the node knows its topology). A host that
names this machine is started directly; any other as ``<remote shell> HOST 'cd CWD && exec env
VARS... python ...'`` (``ssh`` by default: same interpreter path and working directory on every node,
as with DeepSpeed's pdsh launcher). ``--remote-shell none`` prints the commands for the user to run.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from accelport.launch.hostfile import is_local
from accelport.launch.mpi import forwarded_names


@dataclass(frozen=True)
class NodeCommand:
    """What runs for one node: ``argv`` (already wrapped in the remote shell for a remote host)."""

    host: str
    argv: List[str]
    local: bool


def split_argv(argv: Sequence[str], parser: argparse.ArgumentParser) -> Tuple[List[Tuple[str, List[str]]], List[str]]:
    """Cut ``accelport launch`` arguments into its options, as ``(dest, tokens)`` pairs in the user's
    order and spelling, and the script with its arguments (everything from the first non-option)."""
    actions = parser._option_string_actions
    options: List[Tuple[str, List[str]]] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            return options, list(argv[index + 1:])
        name = token.split("=", 1)[0] if token.startswith("--") else token[:2]
        action = actions.get(name) if token.startswith("-") else None
        if action is None:
            break
        takes_value = action.nargs != 0
        attached = "=" in token if token.startswith("--") else len(token) > 2
        width = 2 if takes_value and not attached else 1
        options.append((action.dest, list(argv[index:index + width])))
        index += width
    return options, list(argv[index:])


def node_commands(
    hosts: Mapping[str, int], master_addr: str, master_port: int, kept: Sequence[str], script: Sequence[str],
    remote_shell: Optional[Sequence[str]], cwd: str, environ: Mapping[str, str], python: str = sys.executable,
) -> List[NodeCommand]:
    """One command per host, in hostfile order (the order is the node rank)."""
    commands = []
    for rank, (host, nproc) in enumerate(hosts.items()):
        argv = [
            python, "-u", "-m", "accelport", "launch", "--nnodes", str(len(hosts)), "--node-rank", str(rank),
            "--master-addr", master_addr, "--master-port", str(master_port), "--nproc-per-node", str(nproc),
            *kept, *script,
        ]
        local = is_local(host)
        if not local and remote_shell is not None:
            argv = [*remote_shell, host, remote_line(cwd, argv, environ)]
        commands.append(NodeCommand(host, argv, local))
    return commands


def remote_line(cwd: str, argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """The shell line a remote node runs: same directory, the forwarded variables, then ``argv``."""
    exports = [f"{name}={shlex.quote(environ[name])}" for name in forwarded_names(environ)]
    prefix = "exec env " + " ".join(exports) + " " if exports else "exec "
    return f"cd {shlex.quote(cwd)} && {prefix}{shlex.join(argv)}"


def run_nodes(commands: Sequence[NodeCommand], poll_s: float = 0.2) -> int:
    """Start every node's command, wait for all; the first failure stops the others and is returned."""
    running: Dict[int, subprocess.Popen] = {i: subprocess.Popen(command.argv) for i, command in enumerate(commands)}
    code = 0
    try:
        while running:
            for i, process in list(running.items()):
                result = process.poll()
                if result is None:
                    continue
                del running[i]
                if result != 0 and not code:
                    code = result if result > 0 else 128 - result
                    print(f"accelport launch: node {commands[i].host} exited with {result}; stopping the others", file=sys.stderr)
                    for other in running.values():
                        other.send_signal(signal.SIGTERM)
            time.sleep(poll_s)
    except KeyboardInterrupt:
        for process in running.values():
            process.send_signal(signal.SIGINT)
        for process in running.values():
            process.wait()
        return 130
    return code
