"""The command line: a thin argparse layer that builds ``Settings`` and calls the engine.

Exit codes (also in the README):
  0    nothing left to do
  1    files would change (``--diff``/``--check``), or sites need manual attention, or ``check`` found sites
  2    bad usage or configuration, or a path that does not exist (the others are still processed)
  3    accelport itself failed (a bug: one line on stderr, ACCELPORT_TRACEBACK=1 shows the traceback)
  123  a file could not be processed (it is named; every other file was still processed)

The standard library's argparse, not typer or click: the pre-commit hook starts a process per commit,
and a CLI framework's import (typer 0.29 pulls in pydantic) cost more than the check of a trigger-free
file itself. Only the parser of the command being run is built.
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

from accelport import __version__
from accelport.codemod.frontends import colour
from accelport.codemod.frontends import config as config_mod
from accelport.codemod.files.discovery import compile_patterns, discover
from accelport.codemod.run.runner import Mode, Outcome, run
from accelport.codemod.settings import RUNTIME_MODULES, TARGETS, Settings
from accelport.rules import registry

EXIT_OK, EXIT_FOUND, EXIT_USAGE, EXIT_INTERNAL, EXIT_ERROR = 0, 1, 2, 3, 123

DESCRIPTION = "Port CUDA-only PyTorch code to accelerator-agnostic get_accelerator() calls, and keep it ported."

# name -> the line `accelport --help` lists it with, in the order listed.
COMMANDS: Dict[str, str] = {
    "rewrite": "Port CUDA-specific code in place, or print the diff.",
    "check": "Report CUDA-specific sites; exit 1 if there is any.",
    "launch": "Run a training script under torchrun, with CPU core binding.",
    "explain": "Say what accelport does with an API, a device string or a rule.",
    "info": "Which accelerator get_accelerator() picks here, and why.",
    "rules": "List every rule with its code and summary.",
}


def echo(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def _fail(message: str) -> NoReturn:
    echo(f"accelport: {message}", err=True)
    raise SystemExit(EXIT_USAGE)


def _painters(mode: str) -> tuple:
    """Painters for stdout and stderr (``codemod/frontends/colour.py``); a bad ``--color`` is a usage error."""
    if mode not in colour.MODES:
        _fail(f"--color must be one of {', '.join(colour.MODES)}, not {mode!r}")
    return colour.Painter(colour.enabled(mode, sys.stdout)), colour.Painter(colour.enabled(mode, sys.stderr))


def _split(values: Optional[List[str]]) -> List[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _settings(args: argparse.Namespace, paths: List[str]) -> tuple:
    """Settings from the command line over ``[tool.accelport]``; a bad value is a usage error."""
    try:
        table: Dict[str, Any] = config_mod.load(args.config) if args.config else config_mod.for_paths(paths)
    except config_mod.ConfigError as exc:
        _fail(str(exc))
    runtime = args.runtime or table.get("runtime", "accelport")
    if runtime not in RUNTIME_MODULES:
        _fail(f"--runtime must be one of {', '.join(RUNTIME_MODULES)}, not {runtime!r}")
    try:
        rules = registry.select(
            _split(args.select) or table.get("select", []), _split(args.ignore) or table.get("ignore", [])
        )
        per_file = tuple(
            (glob, registry.resolve(names)) for glob, names in sorted(table.get("per-file-ignores", {}).items())
        )
        patterns = (args.exclude or table.get("exclude", [])) + (args.extend_exclude or []) + table.get("extend-exclude", [])
        pattern = compile_patterns(patterns)
    except (registry.UnknownRule, ValueError) as exc:
        _fail(str(exc))
    force = table.get("force-exclude", False) if args.force_exclude is None else args.force_exclude
    target = args.target or table.get("target", "accelerator")
    if target not in TARGETS:
        _fail(f"--target must be one of {', '.join(TARGETS)}, not {target!r}")
    limits = {key.replace("-", "_"): table[key] for key in config_mod.LIMITS if key in table}
    settings = Settings(
        runtime=runtime, rules=rules, per_file_ignores=per_file, target=target, mappings=table.get("mappings", ()), **limits
    )
    return settings, pattern, force, table


def _jobs(jobs: Optional[int], table: Dict[str, Any]) -> int:
    """Worker processes asked for (the runner clamps them to the files and CPUs there are)."""
    if jobs is not None and jobs < 1:
        _fail(f"--jobs must be at least 1, not {jobs}")
    value = jobs if jobs is not None else table.get("jobs")
    return value or (os.cpu_count() or 1)


def _sources(paths: List[str], pattern, force: bool, root: Optional[Path] = None) -> tuple:
    """Files to read; exclude patterns are matched relative to ``root`` (the project root), else the cwd."""
    sources, missing = discover(paths, pattern, force, base=root or Path.cwd())
    return sources, [f"error: {path}: {reason}" for path, reason in missing]


# --- options shared by rewrite and check -----------------------------------------------------------


def add_color(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--color", default="auto", metavar="auto|always|never",
        help="Colour the output: auto (the default: on a terminal, unless NO_COLOR is set), always or never.",
    )  # fmt: skip


def add_selection(parser: argparse.ArgumentParser, what: str) -> None:
    """The paths and every option that decides which files and rules a run covers."""
    parser.add_argument("paths", nargs="*", metavar="PATH", help=f"Files and folders to {what}.")
    add = parser.add_argument
    add("--runtime", metavar="accelport|deepspeed", help="Import get_accelerator from accelport's runtime (default) or from DeepSpeed.")
    add("--target", metavar="accelerator|torch", help="Emit get_accelerator() calls (default) or PyTorch's own device API where it is exact.")
    add("--select", action="append", metavar="RULES", help="Only these rules (names or codes, comma-separated; ALL for every rule).")
    add("--ignore", action="append", metavar="RULES", help="Skip these rules (names or codes, comma-separated).")
    add("--exclude", action="append", metavar="REGEX", help="Skip paths matching this regex (replaces the configured excludes).")
    add("--extend-exclude", action="append", metavar="REGEX", help="Also skip paths matching this regex.")
    add("--force-exclude", action=argparse.BooleanOptionalAction, default=None, help="Apply the excludes to files named on the command line too, as pre-commit needs.")
    add("-j", "--jobs", type=int, metavar="N", help="Number of worker processes, at least 1 (default: one per core; never more than files or cores).")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--config", type=Path, metavar="FILE", help="Read [tool.accelport] from this pyproject.toml (default: the nearest one upward).")
    add("--no-cache", action="store_true", help="Neither read nor write the cache of per-file results.")
    add_color(parser)


# --- rewrite ---------------------------------------------------------------------------------------


def _rewrite_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--diff", action="store_true", help="Print a unified diff on stdout; write nothing.")
    parser.add_argument("--check", action="store_true", help="List the files that would change; write nothing.")
    add_selection(parser, "port")
    parser.add_argument("-q", "--quiet", action="store_true", help="Print only errors and findings.")
    add_run_options(parser)
    parser.add_argument(
        "--report", type=Path, metavar="FILE", dest="report_path",
        help="Write a porting report (per rule: ported, with a caveat, unported) to FILE.json or FILE.md.",
    )  # fmt: skip


def rewrite(args: argparse.Namespace) -> int:
    """Rewrite CUDA-specific code in the files and folders named (or show the diff), and list what needs
    a human."""
    from accelport.codemod.frontends import porting_report, report

    paths = args.paths
    out, err = _painters(args.color)
    dry = args.diff or args.check
    settings, pattern, force, table = _settings(args, paths)
    sources, missing = _sources(paths, pattern, force, table.get(config_mod.ROOT))
    if args.report_path is not None:  # codemod/frontends/porting_report.py
        settings = porting_report.collecting(settings, args.report_path, _fail)
    outcomes = run(sources, settings, Mode.DIFF if dry else Mode.WRITE, _jobs(args.jobs, table), cache=not args.no_cache)
    if args.report_path is not None:
        try:
            porting_report.write(args.report_path, outcomes, dry=dry)
        except OSError as exc:
            missing.append(f"error: --report {exc}")
    if args.diff:
        # Bytes as they are on disk (any encoding, BOM, CRLF), so that `git apply` reproduces the rewrite.
        sys.stdout.flush()
        sys.stdout.buffer.write(out.diff(b"".join(o.diff for o in outcomes)))
        sys.stdout.buffer.flush()
    elif args.check:
        for outcome in outcomes:
            if outcome.changed:
                sites = sum(outcome.counts.values())
                echo(f"would rewrite {outcome.display} ({sites} site{'s' if sites != 1 else ''})")
    lines = report.rewrite_summary(outcomes, "would be rewritten" if dry else "rewritten") + missing
    if args.quiet:
        lines = [line for line in lines if line.startswith("error:") or ": " in line and not line.startswith(" ")]
    for index, line in enumerate(lines):
        echo(err.heading(line) if index == 0 and not args.quiet else err.line(line), err=True)
    return _rewrite_exit(outcomes, missing, dry)


def _rewrite_exit(outcomes: List[Outcome], missing: List[str], dry: bool) -> int:
    if missing:  # a mistyped path is a usage error, as in ruff; the files that exist were still processed
        return EXIT_USAGE
    if any(o.error for o in outcomes):
        return EXIT_ERROR
    if dry and any(o.changed for o in outcomes):
        return EXIT_FOUND
    if any(o.findings for o in outcomes):
        return EXIT_FOUND
    return EXIT_OK


# --- launch, explain, info, rules ------------------------------------------------------------------


def launch(argv: Sequence[str]) -> int:
    """Run a training script under torchrun or MPI, on this node or a hostfile's, with CPU core binding; see --help."""
    import importlib.util

    # Its options parser is torchrun's: without torch, say which extra to install, not a traceback.
    if importlib.util.find_spec("torch") is None:
        _fail("`accelport launch` needs torch, which is not installed: pip install 'accelport[runtime]'")
    from accelport import launch as launch_mod  # needs torch: imported only when this command runs

    return launch_mod.main(list(argv))


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="An API, a device string or a rule name or code.")


def explain(args: argparse.Namespace) -> int:
    """Say what accelport does with NAME, and why: an API (torch.cuda.synchronize), a device string
    (cuda:0) or a rule (current-device, AP103)."""
    from accelport.codemod.frontends import explain as explain_mod

    try:
        lines = explain_mod.explain(args.name)
    except explain_mod.UnknownName as exc:
        _fail(str(exc))
    for line in lines:
        echo(line)
    return EXIT_OK


def info(args: argparse.Namespace) -> int:
    """Which accelerator get_accelerator() picks here, why, and each candidate's status (needs torch)."""
    from accelport.accelerator_runtime import selection  # imports torch: only when this command runs

    text, ok = selection.describe_status()
    echo(text)
    return EXIT_OK if ok else EXIT_USAGE


def list_rules(args: argparse.Namespace) -> int:
    """List every rule: name, code, whether it fixes or only reports, on by default, summary."""
    out, _ = _painters(args.color)
    for rule in sorted(registry.ALL_RULES, key=lambda r: r.CODE):
        kind = "fix" if rule.FIXES else "report"
        default = "" if rule.DEFAULT else " (off by default)"
        echo(out.rule_row(f"{rule.CODE}  {rule.NAME:20s} {kind:6s} {rule.summary()}{default}"))
    return EXIT_OK


# --- parsing and dispatch --------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace], int]


def _handlers() -> Dict[str, Tuple[Callable[[argparse.ArgumentParser], None], Handler]]:
    """name -> (what adds its arguments, what runs it); ``launch`` parses its own (torchrun's)."""
    from accelport.codemod.frontends import check_cli

    return {
        "rewrite": (_rewrite_arguments, rewrite),
        "check": (check_cli.add_arguments, check_cli.check),
        "explain": (_explain_arguments, explain),
        "info": (lambda parser: None, info),
        "rules": (add_color, list_rules),
    }


def _doc(handler: Handler) -> str:
    return " ".join((handler.__doc__ or "").split())


def command_parser(name: str, prog: str) -> Tuple[argparse.ArgumentParser, Handler]:
    """The parser of one command (its ``--help`` is this parser's) and the function that runs it."""
    add_arguments, handler = _handlers()[name]
    parser = _new_parser(prog, _doc(handler))
    add_arguments(parser)
    return parser, handler


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _new_parser(prog: str, description: str) -> argparse.ArgumentParser:
    # Our own --help line: argparse's "show this help message and exit" is not a sentence.
    parser = argparse.ArgumentParser(
        prog=prog, description=description, allow_abbrev=False, formatter_class=_Formatter, add_help=False
    )
    parser.add_argument("-h", "--help", action="help", help="Show this message and exit.")
    return parser


def top_parser(prog: str = "accelport") -> argparse.ArgumentParser:
    """``accelport --help``, ``--version``, and the error for a command that does not exist."""
    parser = _new_parser(prog, DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"accelport {__version__}", help="Print the version and exit.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for name, text in COMMANDS.items():
        commands.add_parser(name, help=text, add_help=False)
    return parser


def dispatch(argv: Sequence[str], prog: str = "accelport", command: Optional[str] = None) -> int:
    """Run the command ``argv`` names (or ``command`` with ``argv`` as its arguments, under the program
    name ``prog``) and return its exit code: 2 for bad usage, as argparse exits."""
    try:
        if command is None:
            if not argv:
                sys.stderr.write(top_parser(prog).format_help())
                return EXIT_USAGE
            if argv[0] == "launch":  # every argument, --help included, is the launcher's
                return launch(argv[1:])
            if argv[0] not in COMMANDS:
                top_parser(prog).parse_args(argv)  # --help, --version, or the error naming the commands
                return EXIT_USAGE
            command, argv, prog = argv[0], argv[1:], f"{prog} {argv[0]}"
        parser, handler = command_parser(command, prog)
        # Intermixed: options may follow the paths, as in ruff (`accelport check src --statistics`).
        return handler(parser.parse_intermixed_args(list(argv)))
    except SystemExit as exc:
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1


def _safe_streams() -> None:
    """Never die on an encoding: names that stdout/stderr cannot encode are escaped, undecodable file
    names (surrogate escapes) are written back as their own bytes on a UTF-8 stream."""
    for stream in (sys.stdout, sys.stderr):
        try:
            utf8 = codecs.lookup(stream.encoding or "ascii").name == "utf-8"
            stream.reconfigure(errors="surrogateescape" if utf8 else "backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, LookupError, ValueError, OSError):
            pass


def _guarded(call: Callable[[], int]) -> NoReturn:
    """Run the CLI; a crash is one line, a hint to report it, and its own exit code (never 1: CI would
    read a crash as findings)."""
    _safe_streams()
    try:
        code = call()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if os.environ.get("ACCELPORT_TRACEBACK"):
            traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(
            f"accelport: internal error: {message}\n"
            "accelport: this is a bug in accelport; please report it with the command line "
            "(ACCELPORT_TRACEBACK=1 prints the traceback)\n"
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(code)


def main() -> NoReturn:
    _guarded(lambda: dispatch(sys.argv[1:]))


def check_main() -> NoReturn:
    """The ``check-torchcuda`` console script: ``accelport check`` under the hook's name."""
    _guarded(lambda: dispatch(sys.argv[1:], prog="check-torchcuda", command="check"))
