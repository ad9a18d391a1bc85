"""``transform_source``: text in, ``FileResult`` out. Pure, never raises, never imports the code it reads."""

from __future__ import annotations

import sys
from typing import AbstractSet, List, Optional, Sequence, Set, Tuple

import libcst as cst

from accelport.codemod.engine import accel_binding, caveats, extra_imports, imports, suppress, torch_target, tree_walk
from accelport.codemod.engine.context import FULL_WALK, Context, Site
from accelport.codemod.engine.names import build_scopes
from accelport.codemod.engine.sparse import Sparse, sparse
from accelport.codemod.engine.statements import Statements, layout as statements_layout, scope_skippable, statements
from accelport.codemod.results import ORDER, Finding, FileResult
from accelport.codemod.settings import Settings
from accelport.codemod.engine.rule_walk import RuleTransformer
from accelport.rules.base import Rule
from accelport.rules.registry import rules_for


# Parse only the statements a rule can touch (codemod/engine/sparse.py); the tests compare it with full parses.
SPARSE = True


def applicable(text: str, rules: Sequence[Rule]) -> List[Rule]:
    """Rules whose trigger substrings occur in ``text``: the rest cannot match, so nothing is parsed."""
    return [rule for rule in rules if any(trigger in text for trigger in rule.TRIGGERS)]


def _snippet(ctx: Context, node: cst.CSTNode) -> str:
    code = ctx.code(node).strip()
    return code.splitlines()[0][:200] if code else ""


def _finding(ctx: Context, path: str, site: Site, fixable: bool) -> Finding:
    where = ctx.range_of(site.node, site.top)
    fix = ctx.code(site.replacement) if site.replacement is not None else None
    snippet = _snippet(ctx, site.node)
    message = site.message if fix is None else f"`{_short(snippet)}` -> `{_short(fix)}`"
    return Finding(
        path, where.start.line, where.start.column + 1, site.rule, message, site.code, fixable, fix,
        snippet, where.end.line, where.end.column + 1,
    )  # fmt: skip


def _short(code: str, limit: int = 80) -> str:
    flat = " ".join(code.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def transform_source(text: str, path: str, settings: Settings, want_fixes: bool = False) -> FileResult:
    """Port ``text``. ``want_fixes`` also returns every rewritten site as a fixable finding (``check``)."""
    result = FileResult(path=path, old_text=text, new_text=text)
    rules = applicable(text, rules_for(settings))
    if not rules:
        # Nothing can match, so every marker in the file is stale (``--report-unused-suppressions``).
        markers = suppress.parse(text)
        result.unused_suppressions = markers.unused() if markers else []
        return result
    layout = statements_layout(text)
    if SPARSE and layout is not None:
        reduced = sparse(layout, layout.without(trigger for rule in rules for trigger in rule.TRIGGERS))
        if reduced is not None:
            done = _try_sparse(reduced, layout, text, path, settings, rules, want_fixes)
            if done is not None:
                return done
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        result.error = f"cannot parse: {exc.message} (line {exc.raw_line}, column {exc.raw_column + 1})"
        return result
    except RecursionError:
        result.error = "cannot parse: expression nested too deeply"
        return result
    except Exception as exc:  # noqa: BLE001 - the contract is: never raise, name the reason
        result.error = f"cannot parse: {type(exc).__name__}: {exc}"
        return result
    try:
        return _transform_module(module, text, path, settings, rules, want_fixes, result, layout)  # type: ignore[return-value]
    except RecursionError:
        result.error = "expression nested too deeply to transform"
    except Exception as exc:  # noqa: BLE001
        result.error = f"internal error: {type(exc).__name__}: {exc}"
    result.new_text = text
    result.findings = []
    result.fixes = []
    result.counts = {}
    return result


def _try_sparse(
    reduced: Sparse,
    layout: Statements,
    text: str,
    path: str,
    settings: Settings,
    rules: Sequence[Rule],
    want_fixes: bool,
) -> Optional[FileResult]:
    """The result from parsing only what the rules can touch; None where the full parse must decide
    (anything LibCST refuses or that fails is then reported from the file's own text)."""
    try:
        module = cst.parse_module(reduced.text)
        result = FileResult(path=path, old_text=text, new_text=text)
        return _transform_module(module, text, path, settings, rules, want_fixes, result, layout, reduced.marker)
    except Exception:  # noqa: BLE001 - the full parse reports it, at the file's own positions
        return None


def _allowed_lines(module: cst.Module, stmts, tops: Set[int]) -> List[Tuple[int, int]]:
    """Lines of the statements that hold a rewritten site, and of the top-level imports (with comments)."""
    allowed = []
    for index, stmt in enumerate(module.body):
        if index in tops or imports.is_import_line(stmt):
            start, end = stmts.ranges[index]
            allowed.append((start - len(getattr(stmt, "leading_lines", ())), end))
    return allowed


def _context(
    module: cst.Module, markers, stmts, skip: AbstractSet[int], rules: Sequence[Rule], accel_name: str
) -> Context:
    body = module.body
    scope_skip = {id(body[i]) for i in skip if stmts is not None and scope_skippable(stmts, i)}
    ctx = Context(module, build_scopes(module, scope_skip), markers)
    ctx.accel_name = accel_name
    ctx.skip = {id(body[i]) for i in skip}
    ctx.statements = stmts
    for rule in rules:
        prepare = getattr(rule, "prepare", None)
        if prepare is not None:
            prepare(ctx)
    return ctx


def _walk(module: cst.Module, ctx: Context, rules: Sequence[Rule]) -> Tuple[cst.Module, RuleTransformer]:
    """The rule walk, then each rule's ``finish`` (which may ask for a walk of every statement: FULL_WALK),
    then each rule's ``review``."""
    transformer = RuleTransformer(ctx, rules)
    new_module = tree_walk.transform(module, transformer)
    for rule in rules:
        finish = getattr(rule, "finish", None)
        if finish is not None:
            finish(ctx)
    # After every finish: a rule that reports what the others left (cuda-leftover) sees all they said.
    for rule in rules:
        review = getattr(rule, "review", None)
        if review is not None:
            review(ctx)
    return new_module, transformer  # type: ignore[return-value]


def _refuse(ctx: Context, why: str, import_line: str) -> None:
    """Every fix becomes a finding that carries it: the file must not get ``import_line`` (``why``)."""
    for site in ctx.fixes:
        fix = _short(ctx.code(site.replacement)) if site.replacement is not None else ""
        message = (
            f"not rewritten: {why}; a top-level `{import_line}` would make it need that runtime there. "
            f"Port by hand, importing under the same guard or inside the function: `{fix}`"
        )
        ctx.findings.append(Site(site.rule, site.code, site.node, message, top=site.top))
    ctx.fixes = []


def _transform_module(
    module: cst.Module,
    text: str,
    path: str,
    settings: Settings,
    rules: Sequence[Rule],
    want_fixes: bool,
    result: FileResult,
    layout: Optional[Statements] = None,
    marker: Optional[str] = None,
) -> Optional[FileResult]:
    """``result`` filled in (``layout``: the text's statements, where already worked out). With
    ``marker`` (``module`` is a sparse parse, see codemod/engine/sparse.py): None where that parse cannot give
    the answer, and the caller parses the whole file."""
    markers = suppress.parse(text)
    stmts = statements(text, module, layout)
    if marker is not None and stmts is None:
        return None
    skip: AbstractSet[int] = frozenset()
    if stmts is not None:
        skip = stmts.without(trigger for rule in rules for trigger in rule.TRIGGERS)
    binding = accel_binding.plan(text, settings.runtime)
    ctx = _context(module, markers, stmts, skip, rules, binding.name)
    new_module, transformer = _walk(module, ctx, rules)
    if ctx.notes.get(FULL_WALK):
        if marker is not None:
            return None
        ctx = _context(module, markers, None, set(), rules, binding.name)
        new_module, transformer = _walk(module, ctx, rules)
    first_fixed_top = transformer.first_fixed_top
    caveats.report(ctx, settings.runtime)
    if ctx.fixes and settings.target == "torch":
        new_module, first_fixed_top = torch_target.port(new_module, ctx, first_fixed_top)
        if marker is not None and len(new_module.body) != len(module.body):
            return None  # the import clean-up would then read names in the stubs: parse them all
    if ctx.fixes and binding.import_needed and torch_target.built_handles(ctx.fixes, binding.name):
        why = accel_binding.guard(text, settings.runtime_module)
        if why is not None:
            _refuse(ctx, why, binding.import_line(settings.runtime_module))
            new_module = module
    if ctx.fixes:
        new_module = imports.finalize(module, new_module, settings.runtime_module, first_fixed_top, stmts, binding)
        with_extra = extra_imports.add(new_module, ctx, first_fixed_top)
        if with_extra is not new_module and marker is not None:
            return None  # as for --target torch: the import clean-up must see every statement
        new_module = with_extra
    if stmts is not None:
        result.allowed_lines = _allowed_lines(module, stmts, {site.top for site in ctx.fixes})
    rendered = stmts.render(module, new_module) if stmts is not None else None
    if marker is not None and (rendered is None or marker in rendered):
        return None
    result.new_text = new_module.code if rendered is None else rendered
    for site in ctx.fixes:
        result.counts[site.rule] = result.counts.get(site.rule, 0) + 1
    ctx.want_positions(ctx.findings)
    if want_fixes:
        ctx.want_positions(ctx.fixes)
    result.findings = sorted((_finding(ctx, path, site, False) for site in ctx.findings), key=ORDER)
    if want_fixes:
        result.fixes = sorted((_finding(ctx, path, site, True) for site in ctx.fixes), key=ORDER)
    result.unused_suppressions = markers.unused() if markers else []
    return result


# Deeply nested expressions are legal Python; give LibCST's recursive walk room for them.
if sys.getrecursionlimit() < 10_000:
    sys.setrecursionlimit(10_000)
