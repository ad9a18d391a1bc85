"""After the rules ran: add the ``get_accelerator`` import once (under the name codemod/engine/accel_binding.py
chose), drop ``torch.cuda`` imports made unused."""

from __future__ import annotations

from typing import List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from accelport.codemod.engine import tree_walk
from accelport.codemod.engine.accel_binding import PLAIN, Binding
from accelport.codemod.engine.names import dotted
from accelport.codemod.engine.statements import Statements

ImportStmt = Union[cst.Import, cst.ImportFrom]


class _Uses(tree_walk.Visitor):
    """Names read anywhere outside import statements, and whether ``torch.cuda`` is still spelled."""

    def __init__(self) -> None:
        self.names: Set[str] = set()
        self.torch_cuda = False
        # Inside a def or class an import binds a local name, which the rest of the module cannot see.
        self.depth = 0
        # The names a def, class or parameter binds: not reads (``ast``, which reads the statements no
        # rule changed, has no ``Name`` for them either, so both walks agree).
        self.bound: Set[int] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1
        self.bound.add(id(node.name))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.depth -= 1

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.depth += 1
        self.bound.add(id(node.name))

    def visit_Param(self, node: cst.Param) -> None:
        self.bound.add(id(node.name))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.depth -= 1

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if node.attr.value == "cuda" and isinstance(node.value, cst.Name) and node.value.value == "torch":
            self.torch_cuda = True
        tree_walk.visit(node.value, self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        tree_walk.visit(node.value, self)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self.bound:
            self.names.add(node.value)


def uses(module: cst.Module) -> _Uses:
    found = _Uses()
    tree_walk.visit(module, found)
    return found


def is_import_line(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in stmt.body
    )


def _is_docstring_or_future(stmt: cst.CSTNode, index: int) -> bool:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    if index == 0 and isinstance(small, cst.Expr) and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString)):
        return True
    return isinstance(small, cst.ImportFrom) and small.module is not None and dotted(small.module) == "__future__"


def _insert_at(body: Sequence[cst.CSTNode], limit: int) -> int:
    """Index after the last top-level import above ``limit``, else after docstring and ``__future__``."""
    last_import: Optional[int] = None
    for index, stmt in enumerate(body[:limit]):
        if is_import_line(stmt):
            last_import = index
    if last_import is not None:
        return last_import + 1
    position = 0
    while position < len(body) and _is_docstring_or_future(body[position], position):
        position += 1
    return position


def _accel_import(line: str) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(body=[cst.parse_statement(line).body[0]])


def _comments(node: cst.CSTNode) -> List[cst.EmptyLine]:
    """Every comment inside ``node``, each as a line of its own."""
    found: List[cst.EmptyLine] = []

    class _Collect(tree_walk.Visitor):
        WALKS_LAYOUT = True

        def visit_Comment(self, comment: cst.Comment) -> None:
            found.append(cst.EmptyLine(comment=comment))

    tree_walk.visit(node, _Collect())
    return found


def _prune_alias(
    small: ImportStmt, keep: List[cst.ImportAlias], orphaned: List[cst.EmptyLine]
) -> Optional[ImportStmt]:
    """``small`` with only ``keep``; comments of the dropped names are added to ``orphaned``."""
    names = list(small.names)  # type: ignore[arg-type]
    if len(keep) == len(names):
        return small
    if not keep:
        orphaned.extend(_comments(small))
        return None
    for alias in names:
        if alias not in keep:
            orphaned.extend(_comments(alias))
    keep = list(keep)
    if keep[-1] is not names[-1]:
        # The new last name ends the list as the old last name did; its own line comment stays.
        own, last = keep[-1].comma, names[-1].comma
        parenthesized = isinstance(small, cst.ImportFrom) and small.lpar is not None
        comma: "cst.Comma | cst.MaybeSentinel" = last if parenthesized else cst.MaybeSentinel.DEFAULT
        if (
            isinstance(comma, cst.Comma)
            and isinstance(own, cst.Comma)
            and isinstance(own.whitespace_after, cst.ParenthesizedWhitespace)
            and isinstance(comma.whitespace_after, cst.ParenthesizedWhitespace)
        ):
            orphaned.extend(_comments(cst.ParenthesizedWhitespace(empty_lines=own.whitespace_after.empty_lines)))
            comma = comma.with_changes(
                whitespace_after=comma.whitespace_after.with_changes(
                    first_line=own.whitespace_after.first_line, empty_lines=[]
                )
            )
        elif isinstance(own, cst.Comma):
            orphaned.extend(_comments(own))
        keep[-1] = keep[-1].with_changes(comma=comma)
    return small.with_changes(names=keep)


def _local_and_qualified(small: ImportStmt, alias: cst.ImportAlias) -> "tuple[str, str]":
    name = dotted(alias.name) or ""
    if isinstance(small, cst.ImportFrom):
        base = dotted(small.module) if small.module is not None else ""
        return alias.evaluated_alias or alias.evaluated_name, f"{base}.{name}"
    if alias.asname is not None:
        return alias.evaluated_alias or name, name
    return name.split(".")[0], name


def _prune_cuda_imports(
    module: cst.Module, before: _Uses, after: _Uses, inserted: Optional[cst.SimpleStatementLine] = None
) -> cst.Module:
    """Remove top-level aliases of ``torch.cuda`` names that the rewrite left unused."""
    made_unused = before.names - after.names
    other_torch = any(
        isinstance(small, cst.Import)
        and any(dotted(a.name) == "torch" and a.asname is None for a in small.names)
        for stmt in module.body
        if is_import_line(stmt)
        for small in stmt.body
    )
    new_body: List[cst.CSTNode] = []
    # Comments above or beside a removed import move onto the next statement: none is lost.
    orphaned: List[cst.EmptyLine] = []
    # The import line removed just before the current statement, if any.
    removed: Optional[cst.SimpleStatementLine] = None
    for stmt in module.body:
        if removed is not None:
            if stmt is inserted:
                # The get_accelerator import takes the place of the import it replaces: same leading
                # lines, same trailing comment, so the diff is one line.
                new_body.append(
                    stmt.with_changes(leading_lines=orphaned, trailing_whitespace=removed.trailing_whitespace)
                )
                orphaned, removed = [], None
                continue
            if removed.trailing_whitespace.comment is not None:
                orphaned.append(cst.EmptyLine(comment=removed.trailing_whitespace.comment))
            removed = None
        if not is_import_line(stmt):
            new_body.append(_adopt(stmt, orphaned))
            orphaned = []
            continue
        new_small: List[cst.BaseSmallStatement] = []
        # Comments inside the names removed from this line.
        dropped: List[cst.EmptyLine] = []
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and (small.relative or isinstance(small.names, cst.ImportStar)):
                new_small.append(small)
                continue
            keep = []
            for alias in small.names:  # type: ignore[union-attr]
                local, qualified = _local_and_qualified(small, alias)
                cuda = qualified == "torch.cuda" or qualified.startswith("torch.cuda.") or _is_builder(small, alias, qualified)
                if cuda and isinstance(small, cst.Import) and alias.asname is None:
                    # ``import torch.cuda`` binds ``torch``: drop it when nothing reads ``torch`` any more,
                    # or when ``torch.cuda`` is no longer spelled and a plain ``import torch`` stays.
                    no_torch = "torch" in made_unused
                    unused = no_torch or (before.torch_cuda and not after.torch_cuda and other_torch)
                else:
                    unused = local in made_unused
                if not (cuda and unused):
                    keep.append(alias)
            pruned = _prune_alias(small, keep, dropped)
            if pruned is not None:
                new_small.append(pruned)
        if new_small:
            if new_small[-1] is not stmt.body[-1]:
                new_small[-1] = new_small[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
            # Comments of removed names stay, on their own lines above the import that remains.
            kept = stmt.with_changes(body=new_small, leading_lines=[*stmt.leading_lines, *dropped])
            new_body.append(_adopt(kept, orphaned))
            orphaned = []
        else:
            orphaned.extend([*stmt.leading_lines, *dropped])
            removed = stmt
    if removed is not None and removed.trailing_whitespace.comment is not None:
        orphaned.append(cst.EmptyLine(comment=removed.trailing_whitespace.comment))
    if orphaned:
        return module.with_changes(body=new_body, footer=[*orphaned, *module.footer])
    return module.with_changes(body=new_body)


def _is_builder(small: ImportStmt, alias: cst.ImportAlias, qualified: str) -> bool:
    """An op builder class, or its package under a name of its own (rule op-builder ports their uses):
    dropped when unused."""
    from accelport.rules.op_builder import is_builder_import

    return (isinstance(small, cst.ImportFrom) or alias.asname is not None) and is_builder_import(qualified)


def _adopt(stmt: cst.CSTNode, orphaned: List[cst.EmptyLine]) -> cst.CSTNode:
    if not orphaned:
        return stmt
    return stmt.with_changes(leading_lines=[*orphaned, *stmt.leading_lines])


def _partial_uses(original: cst.Module, new: cst.Module, stmts: Statements) -> Tuple[_Uses, _Uses]:
    """``uses`` of both modules, walking only the statements the rules changed.

    The rest are the same objects in both trees; Python's ``ast`` reads their names far faster.
    """
    before, after = _Uses(), _Uses()
    unchanged = []
    for index, (old_stmt, new_stmt) in enumerate(zip(original.body, new.body)):
        if old_stmt is not new_stmt:
            tree_walk.visit(old_stmt, before)
            tree_walk.visit(new_stmt, after)
        else:
            unchanged.append(index)
    names, torch_cuda = stmts.names(unchanged)
    for found in (before, after):
        found.names |= names
        found.torch_cuda = found.torch_cuda or torch_cuda
    return before, after


def finalize(
    original: cst.Module,
    new: cst.Module,
    runtime_module: str,
    first_fixed_top: Optional[int],
    stmts: Optional[Statements] = None,
    binding: Binding = PLAIN,
) -> cst.Module:
    """``new`` with the accelerator import ``binding`` asks for (above the first rewritten statement)
    and without the ``torch.cuda`` imports the rewrite made unused."""
    if stmts is not None and len(original.body) == len(new.body):
        before, after = _partial_uses(original, new, stmts)
    else:
        before, after = uses(original), uses(new)
    if after.names == before.names and binding.name not in after.names:
        return new
    inserted: Optional[cst.SimpleStatementLine] = None
    if binding.name in after.names and binding.import_needed:
        body = list(new.body)
        limit = len(body) if first_fixed_top is None else first_fixed_top
        inserted = _accel_import(binding.import_line(runtime_module))
        body.insert(_insert_at(body, limit), inserted)
        new = new.with_changes(body=body)
    return _prune_cuda_imports(new, before, after, inserted)
