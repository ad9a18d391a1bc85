"""After the rules ran: add the ``get_accelerator`` import once, drop ``torch.cuda`` imports made unused."""

from __future__ import annotations

from typing import List, Optional, Sequence, Set, Union

import libcst as cst

from accelport.codemod.context import ACCEL_FUNC
from accelport.codemod.names import dotted
from accelport.codemod.settings import RUNTIME_MODULES

ImportStmt = Union[cst.Import, cst.ImportFrom]


class _Uses(cst.CSTVisitor):
    """Names read anywhere outside import statements, and whether ``torch.cuda`` is still spelled."""

    def __init__(self) -> None:
        self.names: Set[str] = set()
        self.torch_cuda = False
        self.imports_accel = False

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        if node.module is not None and dotted(node.module) in RUNTIME_MODULES.values():
            if not isinstance(node.names, cst.ImportStar):
                if any(alias.evaluated_name == ACCEL_FUNC and alias.asname is None for alias in node.names):
                    self.imports_accel = True
        return False

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        if node.attr.value == "cuda" and isinstance(node.value, cst.Name) and node.value.value == "torch":
            self.torch_cuda = True
        node.value.visit(self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        node.value.visit(self)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def uses(module: cst.Module) -> _Uses:
    found = _Uses()
    module.visit(found)
    return found


def _is_import_line(stmt: cst.CSTNode) -> bool:
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
        if _is_import_line(stmt):
            last_import = index
    if last_import is not None:
        return last_import + 1
    position = 0
    while position < len(body) and _is_docstring_or_future(body[position], position):
        position += 1
    return position


def _accel_import(runtime_module: str) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(body=[cst.parse_statement(f"from {runtime_module} import {ACCEL_FUNC}").body[0]])


def _prune_alias(small: ImportStmt, keep: List[cst.ImportAlias]) -> Optional[ImportStmt]:
    if not keep:
        return None
    keep = list(keep)
    keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
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
    module: cst.Module, before: _Uses, after: _Uses
) -> cst.Module:
    """Remove top-level aliases of ``torch.cuda`` names that the rewrite left unused."""
    made_unused = before.names - after.names
    other_torch = any(
        isinstance(small, cst.Import)
        and any(dotted(a.name) == "torch" and a.asname is None for a in small.names)
        for stmt in module.body
        if _is_import_line(stmt)
        for small in stmt.body
    )
    new_body: List[cst.CSTNode] = []
    # Comments above or beside a removed import move onto the next statement: none is lost.
    orphaned: List[cst.EmptyLine] = []
    for stmt in module.body:
        if not _is_import_line(stmt):
            new_body.append(_adopt(stmt, orphaned))
            orphaned = []
            continue
        new_small: List[cst.BaseSmallStatement] = []
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and (small.relative or isinstance(small.names, cst.ImportStar)):
                new_small.append(small)
                continue
            keep = []
            for alias in small.names:  # type: ignore[union-attr]
                local, qualified = _local_and_qualified(small, alias)
                cuda = qualified == "torch.cuda" or qualified.startswith("torch.cuda.")
                if cuda and isinstance(small, cst.Import) and alias.asname is None:
                    # ``import torch.cuda`` binds ``torch``: drop it only when a plain import stays.
                    unused = before.torch_cuda and not after.torch_cuda and other_torch
                else:
                    unused = local in made_unused
                if not (cuda and unused):
                    keep.append(alias)
            pruned = _prune_alias(small, keep)
            if pruned is not None:
                new_small.append(pruned)
        if new_small:
            new_small[-1] = new_small[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
            new_body.append(_adopt(stmt.with_changes(body=new_small), orphaned))
            orphaned = []
        else:
            orphaned.extend(stmt.leading_lines)
            comment = stmt.trailing_whitespace.comment
            if comment is not None:
                orphaned.append(cst.EmptyLine(comment=comment))
    if orphaned:
        return module.with_changes(body=new_body, footer=[*orphaned, *module.footer])
    return module.with_changes(body=new_body)


def _adopt(stmt: cst.CSTNode, orphaned: List[cst.EmptyLine]) -> cst.CSTNode:
    if not orphaned:
        return stmt
    return stmt.with_changes(leading_lines=[*orphaned, *stmt.leading_lines])


def finalize(
    original: cst.Module, new: cst.Module, runtime_module: str, first_fixed_top: Optional[int]
) -> cst.Module:
    before = uses(original)
    after = uses(new)
    if after.names == before.names and ACCEL_FUNC not in after.names:
        return new
    if ACCEL_FUNC in after.names and not after.imports_accel:
        body = list(new.body)
        limit = len(body) if first_fixed_top is None else first_fixed_top
        body.insert(_insert_at(body, limit), _accel_import(runtime_module))
        new = new.with_changes(body=body)
    return _prune_cuda_imports(new, before, after)
