"""``accelport check``: report every CUDA-specific site, write nothing (the pre-commit hook)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelport.codemod.frontends import baseline as baseline_mod
from accelport.codemod.frontends import config as config_mod
from accelport.codemod.frontends import report
from accelport.codemod.frontends.cli import (
    EXIT_ERROR, EXIT_FOUND, EXIT_OK, EXIT_USAGE, _jobs, _painters, _settings, _sources, add_run_options, add_selection,
    echo,
)  # fmt: skip
from accelport.codemod.results import ORDER
from accelport.codemod.run.runner import Mode, run
from accelport.rules import registry

FORMATS = ("text", "json", "github", "sarif")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--output-format", choices=FORMATS, default="text", metavar="|".join(FORMATS), help="Print findings as text (the default), json, github (workflow annotations) or sarif (2.1.0).")
    add("--statistics", action="store_true", help="Print counts per rule instead of each site.")
    add("--baseline", type=Path, metavar="FILE", help="Only findings not recorded in this file fail.")
    add("--update-baseline", action="store_true", help="Record today's findings in --baseline and pass.")
    add("--report-unused-suppressions", action="store_true", dest="report_unused", help="Also report suppression comments that silence nothing.")
    add_selection(parser, "check")
    add_run_options(parser)


def check(args: argparse.Namespace) -> int:
    """Report every CUDA-specific site in the files and folders named (fixable ones marked [*]); exit 1 if
    there is any."""
    paths = args.paths
    out, err = _painters(args.color)
    baseline = args.baseline
    if args.update_baseline and baseline is None:
        echo("accelport: --update-baseline needs --baseline FILE", err=True)
        return EXIT_USAGE
    settings, pattern, force, table = _settings(args, paths)
    sources, missing = _sources(paths, pattern, force, table.get(config_mod.ROOT))
    outcomes = run(sources, settings, Mode.CHECK, _jobs(args.jobs, table), cache=not args.no_cache)
    sites = report.all_sites(outcomes)
    if args.report_unused:
        sites = sorted(sites + _unused(outcomes, settings.rules or registry.DEFAULT_NAMES), key=ORDER)
    if baseline is not None:
        try:
            if args.update_baseline:
                recorded = baseline_mod.update(
                    baseline, sites, [o.display for o in outcomes if o.error is None], table.get(config_mod.ROOT)
                )
                echo(f"baseline {baseline}: {recorded} finding{'s' if recorded != 1 else ''} recorded", err=True)
                sites = []
            else:
                sites = baseline_mod.new_findings(sites, baseline_mod.load(baseline), baseline)
        except (baseline_mod.BaselineError, OSError) as exc:
            echo(f"accelport: {exc}", err=True)
            return EXIT_USAGE
    _emit(sites, args.output_format, args.statistics, out, err)
    for line in report.errors(outcomes) + missing:
        echo(err.line(line), err=True)
    if missing:
        return EXIT_USAGE
    if any(o.error for o in outcomes):
        return EXIT_ERROR
    return EXIT_FOUND if sites else EXIT_OK


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


def _emit(sites, output_format: str, statistics: bool, out, err) -> None:
    if statistics:
        lines = report.statistics(sites)
        if sites:
            fixable = sum(1 for s in sites if s.fixable)
            lines.append(f"{len(sites):6d}  total ({fixable} fixable with `accelport rewrite`)")
        for line in lines:
            sys.stdout.write(out.statistic(line) + "\n")
        return
    if output_format == "json":
        sys.stdout.write(report.as_json(sites))
    elif output_format == "github":
        sys.stdout.write(report.as_github(sites))
    elif output_format == "sarif":
        sys.stdout.write(report.as_sarif(sites, registry.ALL_RULES))
    else:
        text = report.as_text(sites)
        sys.stdout.write("".join(out.line(line) + "\n" for line in text.splitlines()) if out.on else text)
        if sites:
            fixable = sum(1 for s in sites if s.fixable)
            summary = f"{len(sites)} CUDA-specific site{'s' if len(sites) != 1 else ''} ({fixable} fixable with `accelport rewrite`)"
            echo(err.heading(summary), err=True)
