"""``accelport rewrite --report FILE``: how much of a code base was ported, and what is left, per rule.

Three kinds of site, counted per rule:

- **ported**: a rewrite (every rewritten site, including the ones with a caveat);
- **ported with a caveat**: a rewrite at a site that also carries a finding (``current-device``
  ported as an index where the value may be wanted as a device: the finding says what to check);
  the finding is the caveat, so it is not also counted as unported;
- **unported**: a finding that no rewrite covers: a person has to port it.

``percent_ported`` is ported / (ported + unported), 100 when there is nothing to port. Unported
sites are grouped by API (the backticked name ``unported-cuda-api`` messages start with, else the
rule name), each with where it is and what to do. With ``--diff`` or ``--check`` the report says
what would be done; line numbers are always those of the files as they were read.

The format follows the file name: ``.json`` (``SCHEMA_VERSION``) or ``.md``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from accelport.codemod.results import Finding

SCHEMA_VERSION = 1
FORMATS = {".json": "json", ".md": "markdown", ".markdown": "markdown"}
_API = re.compile(r"`([^`]+)`:\s*(.*)", re.S)


class ReportError(ValueError):
    pass


def format_for(path: Path) -> str:
    """``json`` or ``markdown`` from the suffix; anything else is a usage error."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ReportError(f"--report must end in .json or .md, not {path.name!r}") from None


def _start(f: Finding) -> Tuple[int, int]:
    return (f.line, f.col)


def _end(f: Finding) -> Tuple[int, int]:
    return (f.end_line, f.end_col) if f.end_line else (f.line, f.col)


def _overlaps(fix: Finding, finding: Finding) -> bool:
    return fix.path == finding.path and _start(fix) <= _end(finding) and _start(finding) <= _end(fix)


def _percent(ported: int, unported: int) -> float:
    return 100.0 if ported + unported == 0 else round(100.0 * ported / (ported + unported), 1)


def api_of(finding: Finding) -> Tuple[str, str]:
    """(API, what to do) of an unported finding: the backticked name the message starts with, or the rule."""
    match = _API.match(finding.message)
    if finding.rule == "unported-cuda-api" and match:
        return match.group(1), match.group(2)
    return finding.rule, finding.message


def _site(f: Finding) -> Dict[str, Any]:
    return {"path": f.path, "line": f.line, "column": f.col, "message": f.message}


def build(outcomes: Sequence[Any], dry: bool = False) -> Dict[str, Any]:
    """The report as plain data (what ``--report x.json`` writes). ``outcomes`` need their ``fixes``
    (``Settings.collect_sites``); a file whose outcome has counts but no fixes is counted from counts."""
    from accelport.rules.registry import BY_NAME

    rows: Dict[str, Dict[str, int]] = defaultdict(lambda: {"ported": 0, "ported_with_caveat": 0, "unported": 0})
    caveats: List[Dict[str, Any]] = []
    unported: Dict[str, Dict[str, Any]] = {}
    for outcome in outcomes:
        if outcome.error is not None:
            continue
        fixes = sorted(outcome.fixes)
        if fixes:
            for fix in fixes:
                rows[fix.rule]["ported"] += 1
        else:
            for rule, count in outcome.counts.items():
                rows[rule]["ported"] += count
        for finding in sorted(outcome.findings):
            covering = next((fix for fix in fixes if _overlaps(fix, finding)), None)
            if covering is not None:
                rows[covering.rule]["ported_with_caveat"] += 1
                caveats.append({**_site(finding), "rule": covering.rule, "rewrite": covering.message, "caveat": finding.message})
                continue
            rows[finding.rule]["unported"] += 1
            api, advice = api_of(finding)
            group = unported.setdefault(api, {"api": api, "rule": finding.rule, "advice": advice, "sites": []})
            group["sites"].append(_site(finding))
    # Several findings at one rewrite count once as a ported-with-caveat site.
    for row in rows.values():
        row["ported_with_caveat"] = min(row["ported_with_caveat"], row["ported"])
    rules = []
    for rule in sorted(rows, key=lambda name: (getattr(BY_NAME.get(name), "CODE", "AP999"), name)):
        row = rows[rule]
        code = getattr(BY_NAME.get(rule), "CODE", "")
        rules.append({"rule": rule, "code": code, **row, "percent_ported": _percent(row["ported"], row["unported"])})
    ported = sum(r["ported"] for r in rules)
    left = sum(r["unported"] for r in rules)
    groups = sorted(unported.values(), key=lambda g: (-len(g["sites"]), g["api"]))
    for group in groups:
        group["count"] = len(group["sites"])
    return {
        "version": SCHEMA_VERSION,
        "dry_run": dry,
        "files": {
            "read": len(outcomes),
            "changed": sum(1 for o in outcomes if o.changed),
            "errors": [{"path": o.display, "error": o.error} for o in outcomes if o.error is not None],
        },
        "totals": {
            "ported": ported,
            "ported_with_caveat": sum(r["ported_with_caveat"] for r in rules),
            "unported": left,
            "percent_ported": _percent(ported, left),
        },
        "rules": rules,
        "caveats": caveats,
        "unported": groups,
    }


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(data: Dict[str, Any]) -> str:
    totals, files = data["totals"], data["files"]
    verb = "would be rewritten" if data["dry_run"] else "rewritten"
    out = [
        "# accelport porting report",
        "",
        f"{files['read']} file{'s' if files['read'] != 1 else ''} read, {files['changed']} {verb}, "
        f"{len(files['errors'])} could not be processed.",
        "",
        f"**{totals['percent_ported']:g}% ported**: {totals['ported']} of {totals['ported'] + totals['unported']} "
        f"sites ({totals['ported_with_caveat']} with a caveat); {totals['unported']} left for a person.",
        "",
        "| Rule | Code | Ported | With a caveat | Unported | Ported % |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in data["rules"]:
        out.append(
            f"| {_cell(row['rule'])} | {row['code']} | {row['ported']} | {row['ported_with_caveat']} | "
            f"{row['unported']} | {row['percent_ported']:g} |"
        )
    out.append(
        f"| **total** | | {totals['ported']} | {totals['ported_with_caveat']} | {totals['unported']} | "
        f"{totals['percent_ported']:g} |"
    )
    if data["caveats"]:
        out += ["", "## Ported with a caveat", ""]
        for c in data["caveats"]:
            out.append(f"- `{c['path']}:{c['line']}:{c['column']}` ({c['rule']}): {c['rewrite']}. Caveat: {c['caveat']}")
    if data["unported"]:
        out += ["", "## Unported sites, by API", ""]
        for group in data["unported"]:
            sites = group["count"]
            out += [f"### `{group['api']}` ({sites} site{'s' if sites != 1 else ''}, {group['rule']})", ""]
            if group["api"] != group["rule"]:
                out += [f"What to do: {group['advice']}", ""]
            for site in group["sites"]:
                where = f"`{site['path']}:{site['line']}:{site['column']}`"
                out.append(f"- {where}" if group["api"] != group["rule"] else f"- {where}: {site['message']}")
            out.append("")
    if files["errors"]:
        out += ["", "## Files that could not be processed", ""]
        out += [f"- `{e['path']}`: {e['error']}" for e in files["errors"]]
    return "\n".join(out).rstrip("\n") + "\n"


def render(data: Dict[str, Any], fmt: str) -> str:
    return json.dumps(data, indent=2) + "\n" if fmt == "json" else to_markdown(data)


def write(path: Path, outcomes: Sequence[Any], dry: bool, fmt: Optional[str] = None) -> Dict[str, Any]:
    """Build the report and write it to ``path`` in the format its suffix names; returns the data."""
    from accelport.codemod.files.write import write_file

    data = build(outcomes, dry)
    write_file(path, render(data, fmt or format_for(path)).encode("utf-8"), inside=Path.cwd())
    return data


def collecting(settings: Any, path: Path, fail: Any) -> Any:
    """``settings`` that return every rewritten site; ``fail(message)`` (the CLI's usage error) on a bad path."""
    import dataclasses

    from accelport.codemod.files.write import writable_destination

    try:
        format_for(path)
    except ReportError as exc:
        fail(str(exc))
    problem = writable_destination(path)  # before any work: a bad --report must not cost a run
    if problem is not None:
        fail(f"--report {problem}")
    return dataclasses.replace(settings, collect_sites=True)
