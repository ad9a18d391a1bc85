"""``accelport check``: report every CUDA-specific site, write nothing (the pre-commit hook)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from accelport.codemod.frontends import baseline as baseline_mod
from accelport.codemod.frontends import config as config_mod
from accelport.codemod.frontends import report
from accelport.codemod.frontends.cli import (
    CONFIG, EXCLUDE, EXIT_ERROR, EXIT_FOUND, EXIT_OK, EXIT_USAGE, EXTEND_EXCLUDE, FORCE_EXCLUDE, IGNORE, JOBS,
    NO_CACHE, PATHS, RUNTIME, SELECT, TARGET, COLOR, _jobs, _painters, _settings, _sources, app,
)  # fmt: skip
from accelport.codemod.results import ORDER
from accelport.codemod.run.runner import Mode, run
from accelport.rules import registry


class Format(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


@app.command(short_help="Report CUDA-specific sites; exit 1 if there is any.")
def check(
    paths: Optional[List[str]] = PATHS,
    output_format: Format = typer.Option(Format.text, "--output-format", help="Print findings as text, json, github (workflow annotations) or sarif (2.1.0)."),
    statistics: bool = typer.Option(False, "--statistics", help="Print counts per rule instead of each site."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", metavar="FILE", help="Only findings not recorded in this file fail."),
    update_baseline: bool = typer.Option(False, "--update-baseline", help="Record today's findings in --baseline and pass."),
    report_unused: bool = typer.Option(False, "--report-unused-suppressions", help="Also report suppression comments that silence nothing."),
    runtime: Optional[str] = RUNTIME,
    target: Optional[str] = TARGET,
    select: Optional[List[str]] = SELECT,
    ignore: Optional[List[str]] = IGNORE,
    exclude: Optional[List[str]] = EXCLUDE,
    extend_exclude: Optional[List[str]] = EXTEND_EXCLUDE,
    force_exclude: Optional[bool] = FORCE_EXCLUDE,
    jobs: Optional[int] = JOBS,
    config: Optional[Path] = CONFIG,
    no_cache: bool = NO_CACHE,
    color: str = COLOR,
) -> None:
    """Report every CUDA-specific site in the files and folders named (fixable ones marked [*]); exit 1 if
    there is any."""
    paths = paths or []
    out, err = _painters(color)
    if update_baseline and baseline is None:
        typer.echo("accelport: --update-baseline needs --baseline FILE", err=True)
        raise typer.Exit(EXIT_USAGE)
    settings, pattern, force, table = _settings(paths, select, ignore, runtime, exclude, extend_exclude, force_exclude, config, target)
    sources, missing = _sources(paths, pattern, force, table.get(config_mod.ROOT))
    outcomes = run(sources, settings, Mode.CHECK, _jobs(jobs, table), cache=not no_cache)
    sites = report.all_sites(outcomes)
    if report_unused:
        sites = sorted(sites + _unused(outcomes, settings.rules or registry.DEFAULT_NAMES), key=ORDER)
    if baseline is not None:
        try:
            if update_baseline:
                recorded = baseline_mod.update(
                    baseline, sites, [o.display for o in outcomes if o.error is None], table.get(config_mod.ROOT)
                )
                typer.echo(f"baseline {baseline}: {recorded} finding{'s' if recorded != 1 else ''} recorded", err=True)
                sites = []
            else:
                sites = baseline_mod.new_findings(sites, baseline_mod.load(baseline), baseline)
        except (baseline_mod.BaselineError, OSError) as exc:
            typer.echo(f"accelport: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE)
    _emit(sites, output_format, statistics, out, err)
    for line in report.errors(outcomes) + missing:
        typer.echo(err.line(line), err=True, color=err.on)
    if missing:
        raise typer.Exit(EXIT_USAGE)
    if any(o.error for o in outcomes):
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_FOUND if sites else EXIT_OK)


def _unused(outcomes, active) -> list:
    """Markers that silence nothing. A marker naming a known rule that is not running (``--select``,
    ``--ignore``) is not reported: it may well be needed when that rule runs."""
    from accelport.codemod.results import Finding

    known = set(registry.NAMES)
    return [
        Finding(
            o.display, line, 1, "unused-suppression", f"suppression of {rule!r} silences nothing", "AP000",
            snippet=f"ignore[{rule}]",
        )  # fmt: skip
        for o in outcomes
        for line, rule in o.unused_suppressions
        if rule == "*" or rule in active or rule not in known
    ]


def _emit(sites, output_format: Format, statistics: bool, out, err) -> None:
    if statistics:
        lines = report.statistics(sites)
        if sites:
            fixable = sum(1 for s in sites if s.fixable)
            lines.append(f"{len(sites):6d}  total ({fixable} fixable with `accelport rewrite`)")
        for line in lines:
            sys.stdout.write(out.statistic(line) + "\n")
        return
    if output_format is Format.json:
        sys.stdout.write(report.as_json(sites))
    elif output_format is Format.github:
        sys.stdout.write(report.as_github(sites))
    elif output_format is Format.sarif:
        sys.stdout.write(report.as_sarif(sites, registry.ALL_RULES))
    else:
        text = report.as_text(sites)
        sys.stdout.write("".join(out.line(line) + "\n" for line in text.splitlines()) if out.on else text)
        if sites:
            fixable = sum(1 for s in sites if s.fixable)
            summary = f"{len(sites)} CUDA-specific site{'s' if len(sites) != 1 else ''} ({fixable} fixable with `accelport rewrite`)"
            typer.echo(err.heading(summary), err=True, color=err.on)
