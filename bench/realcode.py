"""Real-code evaluation: run ``accelport rewrite`` over folders of real public code and say what it did.

Usage (the corpus lives outside the repository; see docs/accuracy.md for the exact one)::

    python bench/realcode.py /work/scratch/realcode/timm /work/scratch/realcode/nanogpt ... \\
        [--runtime accelport|deepspeed] [--sample 60] [--seed 11] [--jobs 2] \\
        [--markdown out.md] [--json out.json] [--keep DIR] \\
        [--hand-port NAME=BEFORE_DIR:AFTER_DIR] [--rescore bench/realcode_judged.json]

For each project folder (its ``*.py`` files, skipping the folders discovery skips) the engine
(``transform_source``, what ``accelport rewrite`` runs per file) ports a copy of every file, and the
harness reports:

- files read / changed, files the tool refused (``error``), files whose port crashed the harness;
- sites rewritten per rule and findings per rule;
- outputs that do not parse (``ast.parse``) and files that are not idempotent (a second run changes
  the output again);
- ``get_accelerator().X`` names the output calls that the runtime interface lacks
  (``accelerator_runtime/abstract.py``, and DeepSpeed's abstract accelerator when installed), and
  attributes read off the result of a ported call (``get_accelerator().current_stream().cuda_stream``);
- shadowed imports: the rewrite added a ``get_accelerator`` import to a file that already bound
  that name some other way;
- CUDA-looking code lines (``CUDA_LINE`` on code, comments and docstrings removed) of the original,
  each classed as rewritten (inside a changed hunk), reported (a finding's lines cover it), or silent;
- a seeded random sample of rewritten sites and of silent CUDA-looking lines, each with path:line,
  the lines before and after, for hand review (docs/accuracy.md says how they were judged).

``--rescore JUDGED.json`` says what this run does at each site of an earlier hand-judged sample
(``bench/realcode_judged.json``: the baseline verdicts), so before and after compare on the same sites.

``--hand-port NAME=BEFORE:AFTER`` compares with a human port: every CUDA-looking code line of BEFORE
that the humans changed in AFTER is a human port site; the tool rewrote it, reported it, or was silent.

The harness never imports or runs the code it reads. Output: markdown on stdout (or ``--markdown``),
JSON with every detail with ``--json``.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import io
import json
import multiprocessing
import os
import random
import re
import shutil
import sys
import tempfile
import time
import tokenize
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

REPO = Path(__file__).resolve().parents[1]

# What a CUDA-specific code line looks like. Deliberately wide: the hand review says which are CUDA-only.
# The second half catches integer device ordinals (``model.to(local_rank)``, ``torch.device(rank)``,
# ``map_location=...rank``, ``device=0``): CUDA devices without the word.
CUDA_LINE = re.compile(
    r"torch\.cuda|\.cuda\(|['\"]cuda|(?i:nccl)|\.is_cuda\b|pin_memory"
    r"|\.(?:to|cuda)\(\s*(?:self\.|args\.)?(?:local_rank|rank|gpu_id|gpu|device_id|local_gpu)\s*[,)]"
    r"|torch\.device\(\s*(?:self\.|args\.)?(?:local_rank|rank|gpu_id|gpu|\d+)\s*\)"
    r"|map_location\s*=[^,)]*rank|\bdevice(?:_id)?\s*=\s*\d+\b"
)
# A call on the runtime, however the import was aliased (``get_accelerator``, ``_get_accelerator``...).
ACCEL_CALL = re.compile(r"(?<![\w.])(\w*get_accelerator\w*)\(\)\.(\w+)")
# An attribute read off what a runtime method returned: ``get_accelerator().current_stream().cuda_stream``.
CHAINED = re.compile(r"(?<![\w.])\w*get_accelerator\w*\(\)\.(\w+)\([^()]*\)\.(\w+)(?!\w)")
ACCEL_NAME = "get_accelerator"
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", "node_modules", "site-packages",
     "build", "dist", ".eggs", ".ipynb_checkpoints"}
)  # fmt: skip


# -- the runtime interface -----------------------------------------------------------------------


def _class_members(path: Path, class_name: str) -> Set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
                elif isinstance(item, ast.Assign):
                    names.update(t.id for t in item.targets if isinstance(t, ast.Name))
    return names


def interfaces() -> Dict[str, Set[str]]:
    """Method names of each runtime interface found: ``accelport`` always, ``deepspeed`` when installed.

    DeepSpeed's file is located without importing deepspeed (its import is slow and touches devices)."""
    found = {"accelport": _class_members(REPO / "accelerator_runtime" / "abstract.py", "Accelerator")}
    import importlib.util

    spec = importlib.util.find_spec("deepspeed")
    if spec is not None and spec.origin:
        ds = Path(spec.origin).parent / "accelerator" / "abstract_accelerator.py"
        if ds.is_file():
            found["deepspeed"] = _class_members(ds, "DeepSpeedAccelerator")
    return found


# -- per-file analysis ---------------------------------------------------------------------------


def prose_lines(text: str) -> Set[int]:
    """1-based lines that are docstrings or other bare string statements (prose, not code)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    lines: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def code_only(text: str) -> List[str]:
    """The lines of ``text`` with comments cut off and prose strings (ones holding whitespace: messages,
    help texts) blanked to ``""``, by tokens. Strings without whitespace stay: ``"cuda:0"``, ``"nccl"``,
    ``"torch.cuda.HalfTensor"`` are code."""
    lines = text.splitlines()
    edits: Dict[int, List[Tuple[int, int, str]]] = defaultdict(list)  # line -> [(start, end, replacement)]
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                edits[tok.start[0]].append((tok.start[1], len(lines[tok.start[0] - 1]), ""))
            elif tok.type == tokenize.STRING and re.search(r"\s", _string_body(tok.string)):
                for number in range(tok.start[0], tok.end[0] + 1):
                    start = tok.start[1] if number == tok.start[0] else 0
                    end = tok.end[1] if number == tok.end[0] else len(lines[number - 1])
                    edits[number].append((start, end, '""' if number == tok.start[0] else ""))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    out = []
    for number, line in enumerate(lines, 1):
        for start, end, replacement in sorted(edits.get(number, ()), reverse=True):
            line = line[:start] + replacement + line[end:]
        out.append(line)
    return out


def _string_body(literal: str) -> str:
    """A string literal without its prefix and quotes."""
    body = literal.lstrip("rRbBuUfF")
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    return body[len(quote) : len(body) - len(quote)]


def cuda_lines(text: str) -> List[int]:
    """1-based lines of ``text`` whose code (not comments, not docstrings) looks CUDA-specific."""
    prose = prose_lines(text)
    return [i + 1 for i, line in enumerate(code_only(text)) if i + 1 not in prose and CUDA_LINE.search(line)]


def hunks(old: str, new: str) -> List[Tuple[int, int, int, int]]:
    """Changed regions as (old_start, old_end, new_start, new_end), 0-based half-open line ranges."""
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    return [(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def _bindings(tree: ast.AST, name: str) -> List[Tuple[int, str]]:
    """Where ``name`` is bound, and how (an import's module, ``def``, ``class``, ``=``)."""
    found: List[Tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if bound == name:
                    module = node.module if isinstance(node, ast.ImportFrom) else alias.name
                    found.append((node.lineno, f"import from {'.' * getattr(node, 'level', 0)}{module}"))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            found.append((node.lineno, "def"))
        elif isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            found.append((node.lineno, "assignment"))
    return sorted(found)


@dataclass
class FileReport:
    path: str
    changed: bool = False
    error: Optional[str] = None  # the tool refused the file (its own message)
    crash: Optional[str] = None  # the engine raised: a bug
    counts: Dict[str, int] = field(default_factory=dict)
    findings: List[dict] = field(default_factory=list)
    fixes: List[dict] = field(default_factory=list)
    unparsable: Optional[str] = None
    non_idempotent: bool = False
    accel_names: List[Tuple[int, str]] = field(default_factory=list)
    chained: List[Tuple[int, str, str]] = field(default_factory=list)
    shadowed: List[str] = field(default_factory=list)
    # CUDA-looking lines of the original: (line, class) with class rewritten / reported / both / silent.
    cuda: List[Tuple[int, str]] = field(default_factory=list)
    ignored_lines: int = 0
    seconds: float = 0.0


def _covered(findings: Iterable[dict]) -> Set[int]:
    lines: Set[int] = set()
    for f in findings:
        lines.update(range(f["line"], max(f["line"], f.get("end_line") or f["line"]) + 1))
    return lines


def analyse(path: Path, display: str, runtime: str, out_path: Optional[Path]) -> FileReport:
    """Port one file with the engine and check the output. Never raises: a crash is recorded."""
    from accelport.codemod.settings import Settings
    from accelport.codemod.engine.pipeline import transform_source

    report = FileReport(display)
    start = time.perf_counter()
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        report.error = f"unreadable: {exc}"
        return report
    settings = Settings(runtime=runtime, collect_sites=True)
    try:
        result = transform_source(text, display, settings, want_fixes=True)
    except Exception as exc:  # noqa: BLE001 - a crash is a finding of the evaluation, not its end
        report.crash = f"{type(exc).__name__}: {exc}"
        return report
    report.error = result.error
    report.counts = dict(result.counts)
    report.findings = [_finding_dict(f) for f in result.findings]
    report.fixes = [_finding_dict(f) for f in result.fixes]
    new = result.new_text if result.error is None else text
    report.changed = new != text
    if out_path is not None and report.changed:
        out_path.write_text(new, encoding="utf-8")
    if report.changed:
        _check_output(report, text, new, display, settings)
    if result.error is None:  # a refused file is named as a whole; its lines are not classed
        _classify_cuda_lines(report, text, new)
    report.seconds = time.perf_counter() - start
    return report


def _finding_dict(f) -> dict:
    return {
        "line": f.line, "col": f.col, "end_line": f.end_line or f.line, "rule": f.rule, "message": f.message,
        "snippet": f.snippet, "fix": f.fix,
    }  # fmt: skip


def _check_output(report: FileReport, text: str, new: str, display: str, settings) -> None:
    from accelport.codemod.engine.pipeline import transform_source

    try:
        new_tree = ast.parse(new)
    except SyntaxError as exc:
        report.unparsable = f"line {exc.lineno}: {exc.msg}"
        new_tree = None
    try:
        again = transform_source(new, display, settings)
        report.non_idempotent = again.error is None and again.new_text != new
    except Exception as exc:  # noqa: BLE001
        report.crash = f"second run: {type(exc).__name__}: {exc}"
    changed_new: Set[int] = set()
    for _i1, _i2, j1, j2 in hunks(text, new):
        changed_new.update(range(j1 + 1, j2 + 1))
    for number, line in enumerate(code_only(new), 1):
        if number not in changed_new:
            continue
        report.accel_names.extend((number, m.group(2)) for m in ACCEL_CALL.finditer(line))
        report.chained.extend((number, m.group(1), m.group(2)) for m in CHAINED.finditer(line))
    if new_tree is not None:
        try:
            before = _bindings(ast.parse(text), ACCEL_NAME)
        except SyntaxError:
            before = []
        after = _bindings(new_tree, ACCEL_NAME)
        added = [b for b in after if b[1].startswith("import") and b[1] not in {how for _, how in before}]
        if before and added:
            report.shadowed = [f"line {n}: {how}" for n, how in before] + [f"added: {how}" for _, how in added]


def _classify_cuda_lines(report: FileReport, text: str, new: str) -> None:
    changed_old: Set[int] = set()
    for i1, i2, _j1, _j2 in hunks(text, new):
        changed_old.update(range(i1 + 1, i2 + 1))
    reported = _covered(report.findings)
    lines = text.splitlines()
    for number in cuda_lines(text):
        if "accelport: ignore" in lines[number - 1] or "#ignore-cuda" in lines[number - 1]:
            report.ignored_lines += 1
            continue
        rewritten, said = number in changed_old, number in reported
        kind = "both" if rewritten and said else "rewritten" if rewritten else "reported" if said else "silent"
        report.cuda.append((number, kind))


def _analyse_star(args) -> FileReport:
    return analyse(*args)


# -- projects ------------------------------------------------------------------------------------


def python_files(root: Path) -> List[Path]:
    found: List[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        found.extend(Path(dirpath) / name for name in sorted(filenames) if name.endswith(".py"))
    return found


@dataclass
class Project:
    name: str
    root: str
    files: List[FileReport]
    seconds: float

    def summary(self) -> Dict[str, object]:
        kinds = Counter(kind for f in self.files for _, kind in f.cuda)
        cuda_total = sum(kinds.values())
        covered = cuda_total - kinds["silent"]
        return {
            "project": self.name,
            "files": len(self.files),
            "changed": sum(f.changed for f in self.files),
            "sites": sum(sum(f.counts.values()) for f in self.files),
            "findings": sum(len(f.findings) for f in self.files),
            "cuda_lines": cuda_total,
            "rewritten": kinds["rewritten"] + kinds["both"],
            "reported_only": kinds["reported"],
            "silent": kinds["silent"],
            "covered_pct": round(100.0 * covered / cuda_total, 1) if cuda_total else 100.0,
            "ignored": sum(f.ignored_lines for f in self.files),
            "refused": sum(1 for f in self.files if f.error),
            "crashes": sum(1 for f in self.files if f.crash),
            "unparsable": sum(1 for f in self.files if f.unparsable),
            "non_idempotent": sum(f.non_idempotent for f in self.files),
            "shadowed": sum(1 for f in self.files if f.shadowed),
            "seconds": round(self.seconds, 1),
        }


def run_project(root: Path, name: str, runtime: str, jobs: int, keep: Optional[Path]) -> Project:
    """Copy ``root``'s Python files to a temporary folder (or ``keep``/name) and port them there."""
    start = time.perf_counter()
    files = python_files(root)
    tmp = Path(tempfile.mkdtemp(prefix=f"realcode-{name}-")) if keep is None else keep / name
    work = []
    for path in files:
        rel = path.relative_to(root)
        dest = tmp / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        work.append((dest, rel.as_posix(), runtime, dest))
    if jobs > 1 and len(work) > 1:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            reports = pool.map(_analyse_star, work, chunksize=8)
    else:
        reports = [_analyse_star(w) for w in work]
    if keep is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return Project(name, str(root), reports, time.perf_counter() - start)


# -- hand-port comparison ------------------------------------------------------------------------


def hand_port(name: str, before: Path, after: Path, project: Project) -> Dict[str, object]:
    """Human port sites of ``before`` -> ``after`` and what the tool did at each."""
    by_path = {f.path: f for f in project.files}
    sites = []
    for path in python_files(before):
        rel = path.relative_to(before).as_posix()
        other = after / rel
        if not other.is_file() or rel not in by_path:
            continue
        old, new = path.read_text(encoding="utf-8"), other.read_text(encoding="utf-8")
        changed = set()
        for i1, i2, _j1, _j2 in hunks(old, new):
            changed.update(range(i1 + 1, i2 + 1))
        tool = dict(by_path[rel].cuda)
        old_lines = old.splitlines()
        for number in cuda_lines(old):
            if number in changed:
                sites.append({"path": rel, "line": number, "code": old_lines[number - 1].strip(),
                              "tool": tool.get(number, "ignored")})  # fmt: skip
    kinds = Counter(site["tool"] for site in sites)
    return {"name": name, "human_sites": len(sites), "tool": dict(kinds), "sites": sites}


# -- samples and output --------------------------------------------------------------------------


def _context(lines: Sequence[str], first: int, last: int, around: int) -> List[str]:
    lo, hi = max(1, first - around), min(len(lines), last + around)
    return [f"{n:5d}{'>' if first <= n <= last else ' '} {lines[n - 1]}" for n in range(lo, hi + 1)]


def samples(projects: Sequence[Project], size: int, seed: int, around: int, keep_roots: Dict[str, Path]) -> Dict[str, list]:
    """Seeded uniform samples of rewritten sites and of silent CUDA-looking lines, with context."""
    rng = random.Random(seed)
    fixes = [(p, f, fix) for p in projects for f in p.files for fix in f.fixes]
    silent = [(p, f, line) for p in projects for f in p.files for line, kind in f.cuda if kind == "silent"]
    picked_fixes = sorted(rng.sample(fixes, min(size, len(fixes))), key=lambda t: (t[0].name, t[1].path, t[2]["line"]))
    picked_silent = sorted(rng.sample(silent, min(size, len(silent))), key=lambda t: (t[0].name, t[1].path, t[2]))
    out: Dict[str, list] = {"rewrites": [], "silent": []}
    for project, report, fix in picked_fixes:
        old = (Path(project.root) / report.path).read_text(encoding="utf-8")
        ported = keep_roots.get(project.name)
        new = (ported / report.path).read_text(encoding="utf-8") if ported else None
        entry = {"where": f"{project.name}/{report.path}:{fix['line']}", "rule": fix["rule"],
                 "before": _context(old.splitlines(), fix["line"], fix["end_line"], around),
                 "fix": fix["fix"]}  # fmt: skip
        if new is not None:
            for i1, i2, j1, j2 in hunks(old, new):
                if i1 < fix["end_line"] and fix["line"] <= max(i2, i1 + 1):
                    entry["after"] = new.splitlines()[j1:j2]
                    break
        out["rewrites"].append(entry)
    for project, report, line in picked_silent:
        old = (Path(project.root) / report.path).read_text(encoding="utf-8")
        out["silent"].append({"where": f"{project.name}/{report.path}:{line}", "before": _context(old.splitlines(), line, line, around)})
    return out


def rescore(projects: Sequence[Project], judged_path: Path) -> Dict[str, object]:
    """What this run does at every site of an earlier hand-judged sample (``bench/realcode_judged.json``).

    A rewrite keeps its verdict only where this run emits the same replacement text; a rewrite that is
    now left and reported is no longer harmful; any other change needs judging again. A judged silent
    line is now rewritten, reported, or still silent."""
    import hashlib

    judged = json.loads(judged_path.read_text(encoding="utf-8"))
    files = {f"{p.name}/{f.path}": f for p in projects for f in p.files}
    rows: List[Dict[str, str]] = []
    for item in judged["items"]:
        path, _, line_text = item["where"].rpartition(":")
        line = int(line_text)
        report = files.get(path)
        if report is None:
            status = "not in this run"
        elif report.error or report.crash:
            status = f"file refused: {report.error or report.crash}"
        elif item["kind"] == "rewrite":
            at = [fx for fx in report.fixes if fx["line"] <= line <= fx["end_line"]]
            same = [fx for fx in at if fx["rule"] == item["rule"]
                    and hashlib.sha1((fx["fix"] or "").encode()).hexdigest()[:12] == item["fix_sha1"]]  # fmt: skip
            if same:
                status = "same rewrite"
            elif at:
                status = "rewritten differently (judge again): " + "; ".join(f"`{fx['fix']}`" for fx in at)
            elif line in _covered(report.findings):
                status = "left and reported"
            else:
                status = "left silently"
        else:
            status = dict(report.cuda).get(line, "not a CUDA-looking line")
            status = {"both": "rewritten and reported"}.get(status, status)
        rows.append({**item, "status": status})
    counts = Counter((row["kind"], row["verdict"], row["status"]) for row in rows)
    return {"seed": judged.get("seed"), "rows": rows,
            "counts": [{"kind": k, "verdict": v, "now": s, "count": n} for (k, v, s), n in sorted(counts.items())]}  # fmt: skip


def _table(rows: Sequence[Dict[str, object]], keys: Sequence[str]) -> List[str]:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in rows]
    return lines


def markdown(data: Dict[str, object]) -> str:
    out = [f"# accelport real-code evaluation ({data['runtime']} runtime, seed {data['seed']})", ""]
    summaries = data["projects"]
    keys = ["project", "files", "changed", "sites", "findings", "cuda_lines", "rewritten", "reported_only", "silent",
            "covered_pct", "ignored", "refused", "crashes", "unparsable", "non_idempotent", "shadowed", "seconds"]  # fmt: skip
    total = {k: sum(s[k] for s in summaries) for k in keys[1:] if k not in ("covered_pct",)}  # type: ignore[misc]
    total["project"] = "**total**"
    total["covered_pct"] = round(100.0 * (total["cuda_lines"] - total["silent"]) / total["cuda_lines"], 1) if total["cuda_lines"] else 100.0
    total["seconds"] = round(total["seconds"], 1)
    out += _table([*summaries, total], keys)
    ports = data.get("hand_ports", [])
    human = sum(hp["human_sites"] for hp in ports)
    kinds = Counter()
    for hp in ports:
        kinds.update(hp["tool"])
    headline = (f"**Headline**: {total['sites']} sites rewritten, {total['findings']} findings; {total['cuda_lines']} CUDA-looking "
                f"code lines, {total['cuda_lines'] - total['silent']} rewritten or reported ({total['covered_pct']}%), "
                f"{total['silent']} silent")  # fmt: skip
    if human:
        headline += "; hand ports: " + ", ".join(
            f"{kind} {kinds[kind]}/{human} ({100.0 * kinds[kind] / human:.1f}%)" for kind in ("rewritten", "reported", "both", "silent") if kinds[kind]
        )
    out += ["", headline + "."]
    out += ["", "`cuda_lines`: code lines matching `" + CUDA_LINE.pattern + "` (comments and docstrings removed); "
            "`rewritten`/`reported_only`/`silent`: what the tool did on them; `covered_pct`: not silent.", ""]  # fmt: skip
    out += ["## Sites rewritten and findings, per rule", ""]
    names = [p["project"] for p in summaries]
    rows = []
    for rule in sorted(data["per_rule"]):
        per = data["per_rule"][rule]
        rows.append({"rule": rule, **{n: f"{per.get(n, [0, 0])[0]} / {per.get(n, [0, 0])[1]}" for n in names}})
    out += _table(rows, ["rule", *names])
    out += ["", "(cells: sites rewritten / findings)", ""]
    for title, key in (("Interface names the output calls that the runtime lacks", "missing"),
                       ("Attributes read off a ported call's result", "chained"),
                       ("Shadowed `get_accelerator` imports", "shadowed"),
                       ("Outputs that do not parse", "unparsable"), ("Non-idempotent files", "non_idempotent"),
                       ("Files refused or crashing", "problems")):  # fmt: skip
        items = data[key]
        out += [f"## {title}: {len(items)}", ""]
        out += [f"- {item}" for item in items[:60]]
        if len(items) > 60:
            out.append(f"- ... and {len(items) - 60} more (see --json)")
        out.append("")
    for hp in data.get("hand_ports", []):
        out += [f"## Hand port {hp['name']}: {hp['human_sites']} human port sites (CUDA-looking lines the humans changed)", ""]
        out += [f"- tool {kind}: {count} ({100.0 * count / max(1, hp['human_sites']):.1f}%)" for kind, count in sorted(hp["tool"].items())]
        silent = [s for s in hp["sites"] if s["tool"] == "silent"]
        out += ["", "Silent human port sites:", ""] + [f"- `{s['path']}:{s['line']}` `{s['code'][:120]}`" for s in silent[:80]]
        out.append("")
    if data.get("rescore"):
        rs = data["rescore"]
        out += [f"## The hand-judged baseline sample, rescored (seed {rs['seed']})", ""]
        out += _table(rs["counts"], ["kind", "verdict", "now", "count"])
        rewrites = [row for row in rs["rows"] if row["kind"] == "rewrite"]
        silent = [row for row in rs["rows"] if row["kind"] == "silent"]
        kept = {v: sum(1 for row in rewrites if row["verdict"] == v and row["status"] == "same rewrite") for v in ("H-cuda", "H-else")}
        recheck = sum(1 for row in rewrites if row["status"].startswith("rewritten differently"))
        misses = sum(1 for row in silent if row["verdict"] == "miss")
        still = sum(1 for row in silent if row["verdict"] == "miss" and row["status"] == "silent")
        out += ["", f"**Rescored**: of {len(rewrites)} judged rewrites, {kept['H-cuda']} H-cuda and {kept['H-else']} H-else "
                    f"are still made the same way, {recheck} are rewritten differently (judge again); of {misses} judged "
                    f"misses, {still} are still silent."]  # fmt: skip
        out += ["", "Judged sites whose outcome changed:", ""]
        out += [f"- {row['id']} `{row['where']}` ({row['verdict']}): {row['status']}" for row in rs["rows"]
                if row["status"] not in ("same rewrite", "silent")]  # fmt: skip
        out.append("")
    sample = data.get("sample")
    if sample:
        out += [f"## Sample of rewritten sites ({len(sample['rewrites'])})", ""]
        for n, entry in enumerate(sample["rewrites"], 1):
            out += [f"### R{n} {entry['where']} ({entry['rule']})", "", "```", *entry["before"], "```",
                    "after:" if "after" in entry else f"fix: `{entry['fix']}`"]  # fmt: skip
            if "after" in entry:
                out += ["```", *entry["after"], "```"]
            out.append("")
        out += [f"## Sample of silent CUDA-looking lines ({len(sample['silent'])})", ""]
        for n, entry in enumerate(sample["silent"], 1):
            out += [f"### S{n} {entry['where']}", "", "```", *entry["before"], "```", ""]
    return "\n".join(out) + "\n"


def collect(projects: Sequence[Project], runtime: str) -> Dict[str, object]:
    known = interfaces()
    per_rule: Dict[str, Dict[str, List[int]]] = defaultdict(dict)
    missing, shadowed, unparsable, idem, problems = [], [], [], [], []
    chained_at: Dict[str, List[str]] = defaultdict(list)
    for p in projects:
        for f in p.files:
            where = f"{p.name}/{f.path}"
            for rule, count in f.counts.items():
                per_rule[rule].setdefault(p.name, [0, 0])[0] += count
            for finding in f.findings:
                per_rule[finding["rule"]].setdefault(p.name, [0, 0])[1] += 1
            for line, name in f.accel_names:
                lacking = [iface for iface, names in known.items() if name not in names]
                if lacking:
                    missing.append(f"`{name}` ({', '.join(lacking)}) at {where}:{line}")
            for line, method, attr in f.chained:
                chained_at[f"`get_accelerator().{method}(...).{attr}`"].append(f"{where}:{line}")
            if f.shadowed:
                shadowed.append(f"{where}: " + "; ".join(f.shadowed))
            if f.unparsable:
                unparsable.append(f"{where}: {f.unparsable}")
            if f.non_idempotent:
                idem.append(where)
            if f.crash or f.error:
                problems.append(f"{where}: {'CRASH ' + f.crash if f.crash else f.error}")
    return {
        "runtime": runtime,
        "interfaces": sorted(known),
        "projects": [p.summary() for p in projects],
        "per_rule": per_rule,
        "missing": missing,
        "chained": [f"{use} x{len(at)}: {', '.join(sorted(set(at))[:5])}" for use, at in sorted(chained_at.items())],
        "shadowed": shadowed,
        "unparsable": unparsable,
        "non_idempotent": idem,
        "problems": problems,
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("projects", nargs="*", type=Path, help="project folders (the folder name names the project)")
    parser.add_argument("--runtime", default="accelport", choices=["accelport", "deepspeed"])
    parser.add_argument("--sample", type=int, default=60, help="sampled rewrites and silent lines (each)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--context", type=int, default=2, help="lines of context around a sampled line")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--markdown", type=Path, help="write the markdown report here instead of stdout")
    parser.add_argument("--json", type=Path, help="also write every detail as JSON")
    parser.add_argument("--keep", type=Path, help="keep the ported copies under this folder (one per project)")
    parser.add_argument("--rescore", type=Path, metavar="JUDGED.json",
                        help="say what this run does at each site of a hand-judged sample (bench/realcode_judged.json)")  # fmt: skip
    parser.add_argument("--hand-port", action="append", default=[], metavar="NAME=BEFORE:AFTER",
                        help="compare with a human port; BEFORE is also evaluated as project NAME")  # fmt: skip
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))  # run from a checkout without installing: the engine is imported in workers too
    keep = args.keep
    if keep is None and args.sample:
        keep = Path(tempfile.mkdtemp(prefix="realcode-keep-"))
    jobs: List[Tuple[str, Path]] = [(p.resolve().name, p.resolve()) for p in args.projects]
    ports: List[Tuple[str, Path, Path]] = []
    for spec in args.hand_port:
        name, _, dirs = spec.partition("=")
        before, _, after = dirs.partition(":")
        ports.append((name, Path(before).resolve(), Path(after).resolve()))
        jobs.append((name, Path(before).resolve()))
    projects = []
    for name, root in jobs:
        print(f"{name}: {root}", file=sys.stderr, flush=True)
        projects.append(run_project(root, name, args.runtime, args.jobs, keep))
    data = collect(projects, args.runtime)
    data["seed"] = args.seed
    data["hand_ports"] = [hand_port(n, b, a, next(p for p in projects if p.name == n)) for n, b, a in ports]
    if args.rescore:
        data["rescore"] = rescore(projects, args.rescore)
    if args.sample:
        data["sample"] = samples(projects, args.sample, args.seed, args.context, {p.name: keep / p.name for p in projects})
    text = markdown(data)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    if args.json:
        data["files"] = {p.name: [asdict(f) for f in p.files if f.changed or f.findings or f.cuda or f.error or f.crash] for p in projects}
        args.json.write_text(json.dumps(data, indent=1, default=list), encoding="utf-8")
    if args.keep is None and keep is not None:
        shutil.rmtree(keep, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
