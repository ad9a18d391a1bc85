"""Everything the user reads: summaries on stderr, findings in text, JSON, GitHub and SARIF forms."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import PurePath
from urllib.parse import quote
from typing import Dict, Iterable, List, Sequence

from accelport import __version__
from accelport.codemod.results import ORDER, Finding
from accelport.codemod.run.runner import Outcome

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def errors(outcomes: Sequence[Outcome]) -> List[str]:
    return [f"error: {o.display}: {o.error}" for o in outcomes if o.error is not None]


def site_counts(outcomes: Sequence[Outcome]) -> Dict[str, int]:
    total: Counter = Counter()
    for outcome in outcomes:
        total.update(outcome.counts)
    return dict(sorted(total.items()))


def rewrite_summary(outcomes: Sequence[Outcome], verb: str) -> List[str]:
    """Lines for stderr after ``rewrite``: files, sites per rule, findings needing a human, errors.

    Only files written (or, dry, that would be) count as rewritten: a file whose write failed is named
    among the errors and counted unchanged, as it is."""
    changed = [o for o in outcomes if o.changed and o.error is None]
    findings = sorted((f for o in outcomes for f in o.findings), key=ORDER)
    lines = [f"{len(changed)} file{'s' if len(changed) != 1 else ''} {verb}, {len(outcomes) - len(changed)} unchanged"]
    counts = site_counts(changed)
    for rule, count in counts.items():
        lines.append(f"  {rule}: {count} site{'s' if count != 1 else ''}")
    if findings:
        lines.append(f"{len(findings)} site{'s need' if len(findings) != 1 else ' needs'} manual attention:")
        lines.extend(f.format() for f in findings)
    lines.extend(errors(outcomes))
    return lines


def all_sites(outcomes: Sequence[Outcome]) -> List[Finding]:
    return sorted((f for o in outcomes for f in (*o.fixes, *o.findings)), key=ORDER)


def statistics(findings: Iterable[Finding]) -> List[str]:
    counts = Counter((f.rule, f.code, f.fixable) for f in findings)
    return [
        f"{count:6d}  {code:6s} {rule}{' [*]' if fixable else ''}"
        for (rule, code, fixable), count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


def as_text(findings: Sequence[Finding]) -> str:
    return "".join(f.format() + "\n" for f in findings)


def as_json(findings: Sequence[Finding]) -> str:
    """A JSON array, one object per site, sorted (the keys are documented in docs/checking.md)."""
    rows = [
        {
            "path": f.path, "line": f.line, "column": f.col,
            "end_line": f.end_line or f.line, "end_column": f.end_col or f.col,
            "rule": f.rule, "code": f.code, "message": f.message, "fixable": f.fixable, "fix": f.fix,
        }
        for f in findings
    ]  # fmt: skip
    return json.dumps(rows, indent=2) + "\n"


def _escape_github(text: str, property_: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def as_github(findings: Sequence[Finding]) -> str:
    out = []
    for f in findings:
        level = "warning" if f.fixable else "error"
        end = f",endLine={f.end_line},endColumn={f.end_col}" if f.end_line else ""
        props = f"file={_escape_github(f.path, True)},line={f.line},col={f.col}{end},title={_escape_github(f.rule, True)}"
        fixed = " (fixable: accelport rewrite)" if f.fixable else ""
        out.append(f"::{level} {props}::{_escape_github(f.code + ' ' + f.message + fixed)}\n")
    return "".join(out)


def _uri(path: str) -> str:
    """A relative path as a URI reference (percent-encoded, ``/`` separators); absolute ones as file URIs.

    Encoded from the name's bytes as the file system has them (``os.fsencode``): a name that is not
    UTF-8 becomes percent-escapes, never an unencodable string."""
    posix = PurePath(path).as_posix()
    encoded = quote(os.fsencode(posix))
    return "file://" + encoded if PurePath(path).is_absolute() else encoded


def _region(f: Finding) -> dict:
    region = {"startLine": f.line, "startColumn": f.col}
    if f.end_line:
        region.update(endLine=f.end_line, endColumn=f.end_col)
    return region


def as_sarif(findings: Sequence[Finding], rules: Sequence[type]) -> str:
    """SARIF 2.1.0: one run, the rule catalogue as the driver's rules, fixes for fixable sites."""
    index = {rule.NAME: i for i, rule in enumerate(rules)}
    results = []
    for f in findings:
        location = {
            "physicalLocation": {
                "artifactLocation": {"uri": _uri(f.path)},
                "region": _region(f),
            }
        }
        result = {
            "ruleId": f.code,
            "level": "warning" if f.fixable else "error",
            "message": {"text": f"{f.rule}: {f.message}"},
            "locations": [location],
            "partialFingerprints": {"accelportSnippet/v1": f.snippet},
        }
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        if f.fixable and f.fix is not None:
            result["fixes"] = [
                {
                    "description": {"text": f"replace with {f.fix}"},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": _uri(f.path)},
                            "replacements": [
                                {
                                    "deletedRegion": _region(f),
                                    "insertedContent": {"text": f.fix},
                                }
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    driver = {
        "name": "accelport",
        "version": __version__,
        "informationUri": "https://pypi.org/project/accelport/",
        "rules": [
            {
                "id": rule.CODE,
                "name": rule.NAME,
                "shortDescription": {"text": rule.summary()},
                "fullDescription": {"text": rule.doc()},
                "defaultConfiguration": {"level": "warning" if rule.FIXES else "error"},
            }
            for rule in rules
        ],
    }
    run = {"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}
    document = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"
