"""Run the transform over files: serially for one file, in a process pool otherwise. Never prints."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import fnmatch
import io
import os
import re
import threading
import tokenize
import warnings
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from accelport.codemod.engine import suppress
from accelport.codemod.files.cache import Cache, content_hash
from accelport.codemod.files.diff import lines, unified_diff
from accelport.codemod.files.discovery import Source
from accelport.codemod.run.progress import progress
from accelport.codemod.run.relocate import relocate
from accelport.codemod.results import Finding
from accelport.codemod.settings import Settings
from accelport.codemod.run import workers
from accelport.codemod.files.read import MAX_NESTING, SourceError, decode, long_line, read_bounded
from accelport.codemod.files.write import WriteError, digest, remove_stale, write_atomic
from accelport.rules.registry import may_match

# LibCST's parser and visitors recurse once per nesting level; deep (legal) expressions overflow the
# 8 MiB main-thread stack and kill the process. Each file is processed on a thread with this stack.
STACK_SIZE = 512 * 1024 * 1024
# CPython's tokenizer refuses more nested brackets than this; LibCST's native parser crashes on far more.
MAX_BRACKET_DEPTH = 200
REPORT_HINT = "a bug in accelport: please report it with the file"


class Mode(str, Enum):
    WRITE = "write"  # rewrite in place
    DIFF = "diff"  # print a diff, write nothing
    CHECK = "check"  # report every site, write nothing


@dataclass
class Outcome:
    """What one file produced; picklable, so workers can hand it to the parent."""

    display: str
    changed: bool = False
    written: bool = False
    diff: bytes = b""
    counts: Dict[str, int] = field(default_factory=dict)
    findings: List[Finding] = field(default_factory=list)
    fixes: List[Finding] = field(default_factory=list)
    error: Optional[str] = None
    unused_suppressions: List[Tuple[int, str]] = field(default_factory=list)
    # (size, mtime_ns taken before the read, sha256 of the bytes read): what the cache keys on.
    stamp: Optional[Tuple[int, int, str]] = None
    # A ``--diff`` outcome that is also exactly what ``check`` would find (one pass, fixes collected):
    # the run stores it for ``check`` too, so a check right after a diff comes from the cache.
    as_check: bool = False


_FINDING_TYPES = tuple((f.name, f.type) for f in dataclasses.fields(Finding))


def outcome_data(outcome: Outcome) -> dict:
    """``outcome`` as JSON data for the cache (codemod/files/cache.py)."""
    return {
        "changed": outcome.changed,
        "diff": outcome.diff.decode("latin-1"),
        "counts": outcome.counts,
        "findings": [dataclasses.astuple(f) for f in outcome.findings],
        "fixes": [dataclasses.astuple(f) for f in outcome.fixes],
        "unused": [list(u) for u in outcome.unused_suppressions],
    }


def _finding(row: object) -> Finding:
    if not isinstance(row, list) or len(row) != len(_FINDING_TYPES):
        raise TypeError("finding")
    for value, (name, kind) in zip(row, _FINDING_TYPES):
        ok = {"int": type(value) is int, "bool": type(value) is bool, "str": isinstance(value, str)}.get(
            str(kind), value is None or isinstance(value, str)
        )
        if not ok:
            raise TypeError(name)
    return Finding(*row)


def outcome_from_data(display: str, data: object) -> Optional[Outcome]:
    """The outcome ``outcome_data`` made, or None for anything of another shape (a damaged cache)."""
    try:
        _need(isinstance(data, dict))
        changed, diff, counts, unused = data["changed"], data["diff"], data["counts"], data["unused"]
        _need(type(changed) is bool and isinstance(diff, str) and isinstance(counts, dict) and isinstance(unused, list))
        _need(all(isinstance(k, str) and type(v) is int for k, v in counts.items()))
        _need(all(isinstance(u, list) and len(u) == 2 and type(u[0]) is int and isinstance(u[1], str) for u in unused))
        return Outcome(
            display, changed=changed, diff=diff.encode("latin-1"), counts=counts,
            findings=[_finding(row) for row in data["findings"]], fixes=[_finding(row) for row in data["fixes"]],
            unused_suppressions=[(u[0], u[1]) for u in unused],
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, UnicodeError):
        return None


def _need(condition: bool) -> None:
    if not condition:
        raise TypeError("cache entry of another shape")


def _inside(path: Path, root: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
        return True
    except ValueError:
        return False


def verify(old: str, new: str, allowed: Optional[List[Tuple[int, int]]] = None) -> Optional[str]:
    """Why ``new`` must not be written, or None: it has to parse, and (where ``allowed`` is known) no line
    outside the statements holding a rewritten site and the top-level imports may differ."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(new)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return f"internal error: the rewritten text does not parse ({exc}); file left unchanged ({REPORT_HINT})"
    if allowed is not None:
        line = _outside_change(old, new, allowed)
        if line is not None:
            return (
                f"LibCST cannot round-trip this file: line {line}, outside every rewritten statement, would "
                "change; file left unchanged (port it by hand)"
            )
    if old.count("\f") != new.count("\f"):
        return "LibCST cannot round-trip a form feed inside a rewritten statement; file left unchanged (port it by hand)"
    return None


def keep_bytes(old: str, new: str) -> str:
    """``new`` with the bytes LibCST's round trip loses put back where the line is otherwise unchanged:
    a form feed at the start of a line, and a final lone ``\\r``."""
    if old.endswith("\r") and not new.endswith(("\r", "\n")):
        new += "\r"
    if "\f" not in old or old.count("\f") == new.count("\f"):
        return new
    old_lines, new_lines = lines(old), lines(new)
    matcher = difflib.SequenceMatcher(
        None, [line.replace("\f", "") for line in old_lines], [line.replace("\f", "") for line in new_lines], autojunk=False
    )
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            new_lines[j1:j2] = old_lines[i1:i2]
    return "".join(new_lines)


_ADDED_IMPORT = re.compile(
    r"(from (accelport\.accelerator_runtime|deepspeed\.accelerator) import get_accelerator( as \w+)?|import torch)\s*$"
)


def _outside_change(old: str, new: str, allowed: List[Tuple[int, int]]) -> Optional[int]:
    """The first old line (1-based) changed outside ``allowed``, else None."""
    old_lines, new_lines = lines(old), lines(new)
    ok = set()
    for start, end in allowed:
        ok.update(range(start, end + 1))
    inside = lambda first, last: all(line in ok for line in range(first, last + 1))  # noqa: E731
    near = lambda at: at in ok or at + 1 in ok  # noqa: E731
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag == "insert":
            # Lines added between statements: the imports the rewrite needs, or next to an allowed statement.
            if not near(i1) and not all(_ADDED_IMPORT.match(line) for line in new_lines[j1:j2]):
                return i1 + 1
        elif not inside(i1 + 1, i2):
            return i1 + 1
    return None


def for_file(settings: Settings, path: Path) -> Settings:
    """``settings`` less the rules ``per-file-ignores`` turns off for ``path`` (globs as ``config.anchor``
    makes them: absolute, or a bare file-name glob)."""
    if not settings.per_file_ignores:
        return settings
    names = {path.as_posix(), Path(os.path.realpath(path)).as_posix()}
    ignored = set()
    for glob, rules in settings.per_file_ignores:
        if any(fnmatch.fnmatchcase(name if "/" in glob else name.rpartition("/")[2], glob) for name in names):
            ignored.update(rules)
    if not ignored:
        return settings
    from accelport.rules.registry import DEFAULT_NAMES

    chosen = DEFAULT_NAMES if settings.rules is None else settings.rules
    return dataclasses.replace(settings, rules=frozenset(chosen - ignored))


def _tree_depth(tree: ast.AST, limit: int) -> bool:
    """Whether the syntax tree is deeper than ``limit``. Iterative (a deep tree must not blow this
    stack), and without ``ast.iter_child_nodes`` or the ``ctx`` leaves: it runs on every parsed file."""
    stack = [(tree, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > limit:
            return True
        depth += 1
        for name in node._fields:
            if name == "ctx":
                continue
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        push((item, depth))
            elif isinstance(value, ast.AST):
                push((value, depth))
    return False


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.OP:
            if token.string in "([{":
                depth += 1
                deepest = max(deepest, depth)
            elif token.string in ")]}":
                depth -= 1
    return deepest


def too_deep(text: str, max_nesting: int = MAX_NESTING) -> Optional[str]:
    """Why LibCST must not be given ``text`` (nesting that would crash its native parser), or None.

    CPython's parser guards its own stack, so it is asked first; only nesting errors are final here
    (other syntax errors are LibCST's to report, and newer syntax may still parse there).
    """
    from accelport.codemod.engine.statements import parse_ast

    try:
        tree = parse_ast(text)
        # Every level of nesting takes at least a character: a shorter file cannot be too deep.
        if len(text) > max_nesting and _tree_depth(tree, max_nesting):
            return f"nested deeper than the limit ({max_nesting} syntax-tree levels: max-nesting); left unchanged"
    except SyntaxError as exc:
        if "nested" in str(exc.msg):
            return f"cannot parse: {exc.msg} (line {exc.lineno})"
        try:
            if _bracket_depth(text) > MAX_BRACKET_DEPTH:
                return "cannot parse: too many nested parentheses"
        except (SyntaxError, tokenize.TokenError, RecursionError, MemoryError):
            pass
    except (RecursionError, MemoryError):
        return "cannot parse: expression nested too deeply"
    except ValueError:
        pass
    return None


def process(source: Source, settings: Settings, mode: Mode) -> Outcome:
    """Read, transform and (in WRITE mode) write one file. Never raises, never kills the process.

    The work runs on a thread with a large stack: LibCST recurses once per nesting level, and a
    deep (legal) expression would overflow the main thread's stack and crash the interpreter.
    """
    box: List[Outcome] = []

    def target() -> None:
        try:
            box.append(_process(source, settings, mode))
        except MemoryError:
            box.append(Outcome(source.display, error="out of memory while processing; left unchanged"))
        except BaseException as exc:  # noqa: BLE001 - the contract: one outcome per file, never raise
            box.append(Outcome(source.display, error=f"internal error: {type(exc).__name__}: {exc} ({REPORT_HINT})"))

    previous = threading.stack_size()
    try:
        threading.stack_size(STACK_SIZE)
        worker = threading.Thread(target=target, name="accelport-file")
        worker.start()
    except (ValueError, RuntimeError, MemoryError):
        target()  # no big stack to be had: the nesting guard still keeps LibCST from the worst inputs
    else:
        worker.join()
    finally:
        threading.stack_size(previous)
    return box[0]


def _process(source: Source, settings: Settings, mode: Mode) -> Outcome:
    settings = for_file(settings, source.path)
    outcome = Outcome(source.display, as_check=mode is Mode.DIFF and settings.collect_sites)
    try:
        st, data = read_bounded(source.path, settings.max_file_size)
    except OSError as exc:
        outcome.error = f"cannot read: {exc.strerror or exc}"
        return outcome
    except SourceError as exc:
        outcome.error = str(exc)
        return outcome
    outcome.stamp = (st.st_size, st.st_mtime_ns, content_hash(data))
    try:
        decoded = decode(data)
    except SourceError as exc:
        outcome.error = str(exc)
        return outcome
    notebook = source.path.suffix == ".ipynb"  # ported cell by cell: codemod/run/notebook.py
    if not notebook and not may_match(decoded.text, settings):
        # No rule can match: answered without importing the rules or LibCST (most files a hook sees).
        markers = suppress.parse(decoded.text)
        outcome.unused_suppressions = markers.unused() if markers else []
        return outcome
    # Here, not at the top: a run whose every file is cached or trigger-free never imports LibCST.
    from accelport.codemod.run.notebook import transform_notebook
    from accelport.codemod.engine.pipeline import applicable, transform_source
    from accelport.rules.registry import rules_for

    triggered = notebook or bool(applicable(decoded.text, rules_for(settings)))
    # A notebook's outputs (an embedded image is one long line) are never parsed: its cells are checked.
    line = long_line(decoded.text, settings.max_line_length) if triggered and not notebook else None
    if line is not None:
        outcome.error = f"line {line} is longer than the limit ({settings.max_line_length} characters: max-line-length); left unchanged"
        return outcome
    if triggered and not notebook:
        outcome.error = too_deep(decoded.text, settings.max_nesting)
        if outcome.error is not None:
            return outcome
    transform = transform_notebook if notebook else transform_source
    want_fixes = mode is Mode.CHECK or settings.collect_sites
    first = result = transform(decoded.text, source.display, settings, want_fixes=want_fixes)
    if not notebook and mode is not Mode.CHECK:
        result = _fixed_point(result, source.display, settings, rules_for(settings))
    # With the rewritten sites collected (run() asks for them when it caches a --diff), a one-pass
    # outcome is exactly what `check` would find.
    outcome.as_check = mode is Mode.DIFF and want_fixes and result is first
    outcome.error = result.error
    outcome.counts = result.counts
    outcome.findings = result.findings
    outcome.fixes = result.fixes
    outcome.unused_suppressions = result.unused_suppressions
    if result.error is not None or not result.changed:
        return outcome
    new_text = result.new_text if notebook else keep_bytes(result.old_text, result.new_text)
    problem = None if notebook else verify(result.old_text, new_text, result.allowed_lines)
    if problem is not None:
        outcome.error = problem
        return outcome
    try:
        new_data = decoded.encode(new_text)
    except UnicodeEncodeError as exc:
        outcome.error = f"the rewrite cannot be encoded as {decoded.encoding} ({exc.reason}); file left unchanged"
        return outcome
    outcome.changed = True
    if mode is Mode.DIFF:
        outcome.diff = unified_diff(data, new_data, source.display)
    elif mode is Mode.WRITE:
        if source.path.is_symlink() and not _inside(source.path, source.root):
            outcome.error = "symlink points outside the tree given; not written through"
            return outcome
        try:
            write_atomic(source.path, new_data, digest(data))
        except WriteError as exc:
            outcome.error = str(exc)
            return outcome
        outcome.written = True
        if not notebook:  # what needs a human is found where it now is on disk
            outcome.findings = relocate(result.findings, result.old_text, result.new_text)
            outcome.fixes = relocate(result.fixes, result.old_text, result.new_text)
    return outcome


# What a produced line must still hold for another pass to be worth it: CUDA code the first pass left
# inside a rewritten expression. Not every rule's triggers: ported code itself spells ".to(",
# "device=", "current_device" and `== "cuda"`, and testing for those sent nearly every rewritten file
# through a second full transform (measured: twice the rewrite time on the benchmark corpus).
SECOND_PASS_TRIGGERS = (".cuda(", "torch.cuda", "cuda.", "is_cuda", ".pin_memory(", "nccl")
_ACCEL_CALL = re.compile(r"\w*get_accelerator\(\)\.")


def _fixed_point(first, display: str, settings: Settings, rules, passes: int = 2):
    """``first`` carried on until a pass changes nothing, so that a second ``rewrite`` never does.

    A rewrite can leave a site for the next pass (``(empty_cache.cuda())()``: the inner name is
    ported, the outer ``.cuda()`` then is not). Another pass is made only when a line the rewrite
    produced still holds a rule's trigger, which is rare. Sites a later pass finds again are not
    reported twice, nor the current-device notes on the index form the first pass wrote (the first
    pass reported each in its CUDA spelling); the lines it may touch are those of the first pass
    (``verify`` checks them).
    """
    from accelport.codemod.engine.pipeline import transform_source
    from accelport.rules.registry import is_restated

    result = first
    for _ in range(passes):
        if result.error is not None or not result.changed:
            return result
        before = set(lines(result.old_text))
        produced = "".join(line for line in lines(result.new_text) if line not in before)
        produced = _ACCEL_CALL.sub("", produced)  # get_accelerator().pin_memory(x) is ported code
        if not any(trigger in produced for trigger in SECOND_PASS_TRIGGERS):
            return result
        again = transform_source(result.new_text, display, settings, want_fixes=settings.collect_sites)
        if again.error is not None or not again.changed:
            return result
        seen = {(f.rule, f.snippet, f.message) for f in result.findings}
        seen.update((f.rule, f.snippet, f.message) for f in again.findings if is_restated(f))
        counts = dict(result.counts)
        for rule, count in again.counts.items():
            counts[rule] = counts.get(rule, 0) + count
        result = dataclasses.replace(
            result, new_text=again.new_text, counts=counts,
            findings=result.findings + [f for f in again.findings if (f.rule, f.snippet, f.message) not in seen],
            fixes=result.fixes + again.fixes,
        )  # fmt: skip
    return result


def _process_star(args: Tuple[Source, Settings, Mode]) -> Outcome:
    return process(*args)


def run(
    sources: Sequence[Source],
    settings: Settings,
    mode: Mode,
    jobs: int = 1,
    on_done: Optional[Callable[[Outcome], None]] = None,
    cache: bool = False,
) -> List[Outcome]:
    """Outcomes in the order of ``sources`` (sorted by discovery), whatever order workers finish in.

    With ``cache``, files whose outcome is cached (see ``codemod/files/cache.py``) are not processed; the
    parent alone reads and writes the cache. A progress bar is drawn on a terminal for long runs.
    """
    if mode is Mode.WRITE:
        # Temporary files of earlier runs that were killed before their rename (codemod/files/write.py).
        remove_stale({Path(os.path.realpath(s.path)).parent for s in sources})
    store = Cache(settings, mode.value) if cache else None
    check_store = Cache(settings, Mode.CHECK.value) if cache and mode is Mode.DIFF else None
    # A cached --diff collects the rewritten sites too (they cost a little), so that its outcomes also
    # serve a later `check`; the cache keys stay those of the settings given.
    work_settings = dataclasses.replace(settings, collect_sites=True) if check_store is not None else settings
    found: Dict[int, Outcome] = {}
    todo: List[Source] = []
    for index, source in enumerate(sources):
        hit = outcome_from_data(source.display, store.lookup(source.display, source.path)[0]) if store is not None else None
        if hit is not None and (mode is not Mode.WRITE or (not hit.changed and hit.error is None)):
            found[index] = hit
        else:
            todo.append(source)
    fresh = iterate(todo, work_settings, mode, jobs)
    outcomes: List[Outcome] = []
    with progress(len(sources)) as advance:
        for index in range(len(sources)):
            outcome = found.get(index)
            if outcome is None:
                outcome = next(fresh)
                if store is not None and outcome.error is None and outcome.stamp is not None and not outcome.written:
                    store.store(outcome.display, outcome.stamp, outcome_data(outcome))
                    if check_store is not None and outcome.as_check:
                        check_store.store(outcome.display, outcome.stamp, outcome_data(dataclasses.replace(outcome, diff=b"")))
            outcomes.append(outcome)
            advance()
            if on_done is not None:
                on_done(outcome)
    for used in (store, check_store):
        if used is not None:
            used.save()
    return outcomes


def iterate(sources: Sequence[Source], settings: Settings, mode: Mode, jobs: int) -> Iterator[Outcome]:
    work = [(source, settings, mode) for source in sources]
    if jobs <= 1 or len(work) <= 1:
        yield from map(_process_star, work)
        return
    jobs = min(jobs, len(work), workers.cpus())
    if jobs <= 1:
        yield from map(_process_star, work)
        return
    from concurrent.futures import ProcessPoolExecutor  # multiprocessing: only when a pool is used

    workers.preload(sources, settings)
    chunk = workers.chunk_size(len(work), jobs)
    with ProcessPoolExecutor(max_workers=jobs, initializer=workers.die_with, initargs=(os.getpid(),)) as pool:
        yield from pool.map(_process_star, work, chunksize=chunk)
