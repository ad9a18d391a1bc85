"""The command line: a thin typer layer that builds ``Settings`` and calls the engine.

Exit codes (also in the README):
  0    nothing left to do
  1    files would change (``--diff``/``--check``), or sites need manual attention, or ``check`` found sites
  2    bad usage or configuration, or a path that does not exist (the others are still processed)
  3    accelport itself failed (a bug: one line on stderr, ACCELPORT_TRACEBACK=1 shows the traceback)
  123  a file could not be processed (it is named; every other file was still processed)
"""

from __future__ import annotations

import codecs
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional

import typer

from accelport import __version__
from accelport.codemod.frontends import colour
from accelport.codemod.frontends import config as config_mod
from accelport.codemod.frontends import porting_report, report
from accelport.codemod.files.discovery import compile_patterns, discover
from accelport.codemod.run.runner import Mode, Outcome, run
from accelport.codemod.settings import RUNTIME_MODULES, TARGETS, Settings
from accelport.rules import registry

EXIT_OK, EXIT_FOUND, EXIT_USAGE, EXIT_INTERNAL, EXIT_ERROR = 0, 1, 2, 3, 123

app = typer.Typer(
    add_completion=False,
    # Plain help, as ruff's: rich markup would swallow "[tool.accelport]" and tag every option
    # with its Python type ("<bool>", "<list[str]>").
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Port CUDA-only PyTorch code to accelerator-agnostic get_accelerator() calls, and keep it ported.",
)


def _painters(mode: str) -> tuple:
    """Painters for stdout and stderr (``codemod/frontends/colour.py``); a bad ``--color`` is a usage error."""
    if mode not in colour.MODES:
        _fail(f"--color must be one of {', '.join(colour.MODES)}, not {mode!r}")
    return colour.Painter(colour.enabled(mode, sys.stdout)), colour.Painter(colour.enabled(mode, sys.stderr))


def _split(values: Optional[List[str]]) -> List[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _fail(message: str) -> None:
    typer.echo(f"accelport: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"accelport {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Port CUDA-only PyTorch code to accelerator-agnostic get_accelerator() calls, and keep it ported."""


def _settings(
    paths: List[str],
    select: Optional[List[str]],
    ignore: Optional[List[str]],
    runtime: Optional[str],
    exclude: Optional[List[str]],
    extend_exclude: Optional[List[str]],
    force_exclude: Optional[bool],
    config_path: Optional[Path],
    target: Optional[str] = None,
) -> tuple:
    try:
        table: Dict[str, Any] = config_mod.load(config_path) if config_path else config_mod.for_paths(paths)
    except config_mod.ConfigError as exc:
        _fail(str(exc))
    runtime = runtime or table.get("runtime", "accelport")
    if runtime not in RUNTIME_MODULES:
        _fail(f"--runtime must be one of {', '.join(RUNTIME_MODULES)}, not {runtime!r}")
    try:
        rules = registry.select(_split(select) or table.get("select", []), _split(ignore) or table.get("ignore", []))
        per_file = tuple(
            (glob, registry.resolve(names)) for glob, names in sorted(table.get("per-file-ignores", {}).items())
        )
        patterns = (exclude if exclude else table.get("exclude", [])) + (extend_exclude or []) + table.get("extend-exclude", [])
        pattern = compile_patterns(patterns)
    except (registry.UnknownRule, ValueError) as exc:
        _fail(str(exc))
    force = table.get("force-exclude", False) if force_exclude is None else force_exclude
    target = target or table.get("target", "accelerator")
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


# Arguments are described in each command's docstring: typer would print them with a type tag.
PATHS = typer.Argument(None, metavar="PATH", hidden=True)
SELECT = typer.Option(None, "--select", metavar="RULES", help="Only these rules (names or codes, comma-separated; ALL for every rule).")
IGNORE = typer.Option(None, "--ignore", metavar="RULES", help="Skip these rules (names or codes, comma-separated).")
EXCLUDE = typer.Option(None, "--exclude", metavar="REGEX", help="Skip paths matching this regex (replaces the configured excludes).")
EXTEND_EXCLUDE = typer.Option(None, "--extend-exclude", metavar="REGEX", help="Also skip paths matching this regex.")
FORCE_EXCLUDE = typer.Option(None, "--force-exclude/--no-force-exclude", help="Apply the excludes to files named on the command line too, as pre-commit needs.")
JOBS = typer.Option(None, "--jobs", "-j", metavar="N", help="Number of worker processes, at least 1 (default: one per core; never more than files or cores).")
CONFIG = typer.Option(None, "--config", metavar="FILE", help="Read [tool.accelport] from this pyproject.toml (default: the nearest one upward).")
NO_CACHE = typer.Option(False, "--no-cache", help="Neither read nor write the cache of per-file results.")
RUNTIME = typer.Option(None, "--runtime", metavar="accelport|deepspeed", help="Import get_accelerator from accelport's runtime (default) or from DeepSpeed.")
COLOR = typer.Option(
    "auto", "--color", metavar="auto|always|never",
    help="Colour the output: auto (on a terminal, unless NO_COLOR is set), always or never.",
)  # fmt: skip
TARGET = typer.Option(None, "--target", metavar="accelerator|torch", help="Emit get_accelerator() calls (default) or PyTorch's own device API where it is exact.")


@app.command(short_help="Port CUDA-specific code in place, or print the diff.")
def rewrite(
    paths: Optional[List[str]] = PATHS,
    diff: bool = typer.Option(False, "--diff", help="Print a unified diff on stdout; write nothing."),
    check: bool = typer.Option(False, "--check", help="List the files that would change; write nothing."),
    runtime: Optional[str] = RUNTIME,
    target: Optional[str] = TARGET,
    select: Optional[List[str]] = SELECT,
    ignore: Optional[List[str]] = IGNORE,
    exclude: Optional[List[str]] = EXCLUDE,
    extend_exclude: Optional[List[str]] = EXTEND_EXCLUDE,
    force_exclude: Optional[bool] = FORCE_EXCLUDE,
    jobs: Optional[int] = JOBS,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and findings."),
    config: Optional[Path] = CONFIG,
    no_cache: bool = NO_CACHE,
    color: str = COLOR,
    report_path: Optional[Path] = typer.Option(None, "--report", metavar="FILE", help="Write a porting report (per rule: ported, with a caveat, unported) to FILE.json or FILE.md."),
) -> None:
    """Rewrite CUDA-specific code in the files and folders named (or show the diff), and list what needs
    a human."""
    paths = paths or []
    out, err = _painters(color)
    settings, pattern, force, table = _settings(paths, select, ignore, runtime, exclude, extend_exclude, force_exclude, config, target)
    sources, missing = _sources(paths, pattern, force, table.get(config_mod.ROOT))
    mode = Mode.DIFF if diff or check else Mode.WRITE
    if report_path is not None:  # codemod/frontends/porting_report.py
        settings = porting_report.collecting(settings, report_path, _fail)
    outcomes = run(sources, settings, mode, _jobs(jobs, table), cache=not no_cache)
    if report_path is not None:
        try:
            porting_report.write(report_path, outcomes, dry=diff or check)
        except OSError as exc:
            missing.append(f"error: --report {exc}")
    if diff:
        # Bytes as they are on disk (any encoding, BOM, CRLF), so that `git apply` reproduces the rewrite.
        sys.stdout.flush()
        sys.stdout.buffer.write(out.diff(b"".join(o.diff for o in outcomes)))
        sys.stdout.buffer.flush()
    elif check:
        for outcome in outcomes:
            if outcome.changed:
                sites = sum(outcome.counts.values())
                typer.echo(f"would rewrite {outcome.display} ({sites} site{'s' if sites != 1 else ''})")
    verb = "would be rewritten" if (diff or check) else "rewritten"
    lines = report.rewrite_summary(outcomes, verb) + missing
    if quiet:
        lines = [line for line in lines if line.startswith("error:") or ": " in line and not line.startswith(" ")]
    for index, line in enumerate(lines):
        typer.echo(err.heading(line) if index == 0 and not quiet else err.line(line), err=True, color=err.on)
    raise typer.Exit(_rewrite_exit(outcomes, missing, diff or check))


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


@app.command(
    "launch",
    short_help="Run a training script under torchrun, with CPU core binding.",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def launch(ctx: typer.Context) -> None:
    """Run a training script under torchrun or MPI, on this node or a hostfile's, with CPU core binding; see --help."""
    import importlib.util

    # Its options parser is torchrun's: without torch, say which extra to install, not a traceback.
    if importlib.util.find_spec("torch") is None:
        _fail("`accelport launch` needs torch, which is not installed: pip install 'accelport[runtime]'")
    from accelport import launch as launch_mod  # needs torch: imported only when this command runs

    raise typer.Exit(launch_mod.main(ctx.args))


@app.command("explain", short_help="Say what accelport does with an API, a device string or a rule.")
def explain_command(name: str = typer.Argument(..., metavar="NAME", hidden=True)) -> None:
    """Say what accelport does with NAME, and why: an API (torch.cuda.synchronize), a device string
    (cuda:0) or a rule (current-device, AP103)."""
    from accelport.codemod.frontends import explain as explain_mod

    try:
        lines = explain_mod.explain(name)
    except explain_mod.UnknownName as exc:
        _fail(str(exc))
    for line in lines:
        typer.echo(line)


@app.command("info", short_help="Which accelerator get_accelerator() picks here, and why.")
def info() -> None:
    """Which accelerator get_accelerator() picks here, why, and each candidate's status (needs torch)."""
    from accelport.accelerator_runtime import selection  # imports torch: only when this command runs

    text, ok = selection.describe_status()
    typer.echo(text)
    raise typer.Exit(EXIT_OK if ok else EXIT_USAGE)


@app.command("rules", short_help="List every rule with its code and summary.")
def list_rules(color: str = COLOR) -> None:
    """List every rule: name, code, whether it fixes or only reports, on by default, summary."""
    out, _ = _painters(color)
    for rule in sorted(registry.ALL_RULES, key=lambda r: r.CODE):
        kind = "fix" if rule.FIXES else "report"
        default = "" if rule.DEFAULT else " (off by default)"
        typer.echo(out.rule_row(f"{rule.CODE}  {rule.NAME:20s} {kind:6s} {rule.summary()}{default}"), color=out.on)


def _safe_streams() -> None:
    """Never die on an encoding: names that stdout/stderr cannot encode are escaped, undecodable file
    names (surrogate escapes) are written back as their own bytes on a UTF-8 stream."""
    for stream in (sys.stdout, sys.stderr):
        try:
            utf8 = codecs.lookup(stream.encoding or "ascii").name == "utf-8"
            stream.reconfigure(errors="surrogateescape" if utf8 else "backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, LookupError, ValueError, OSError):
            pass


def _guarded(call) -> None:
    """Run the CLI; a crash is one line, a hint to report it, and its own exit code (never 1: CI would
    read a crash as findings)."""
    _safe_streams()
    try:
        call()
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


def main() -> None:
    from accelport.codemod.frontends import check_cli  # registers `check`

    del check_cli
    _guarded(lambda: app(prog_name="accelport"))


def check_main() -> None:
    """The ``check-torchcuda`` console script: ``accelport check`` under the hook's name."""
    from accelport.codemod.frontends import check_cli

    del check_cli
    _guarded(lambda: app(args=["check", *sys.argv[1:]], prog_name="check-torchcuda"))
