"""The imports a port needs besides ``get_accelerator``: ``import torch`` where ``torch.amp`` is spelled in
a file that had only ``from torch.cuda.amp import ...``, and ``make_event`` (``--runtime deepspeed``
timing events). The rules record the need in ``ctx.notes`` (``accelport.rules.torch_amp``); each import
is added once, after the file's last top-level import above the first rewritten statement.
"""

from __future__ import annotations

from typing import List, Optional

import libcst as cst

from accelport.codemod.engine.context import ACCEL_FUNC, Context
from accelport.codemod.settings import RUNTIME_MODULES
from accelport.codemod.engine.imports import _insert_at, is_import_line
from accelport.codemod.engine.names import dotted, resolve_name
from accelport.rules.torch_amp import EVENT_HELPER, EVENT_MODULE, NEED_EVENT_HELPER, NEED_TORCH


def _written(ctx: Context, text: str) -> bool:
    """A rewrite that was kept spells ``text`` (a rule may ask for an import, then be suppressed)."""
    return any(site.replacement is not None and text in ctx.code(site.replacement) for site in ctx.fixes)


def _imports_torch(module: cst.Module) -> bool:
    """A top-level ``import torch`` (``--target torch`` may have added one already)."""
    return any(
        isinstance(small, cst.Import) and any(alias.asname is None and dotted(alias.name) == "torch" for alias in small.names)
        for stmt in module.body
        if is_import_line(stmt)
        for small in stmt.body  # type: ignore[attr-defined]
    )


def needed(module: cst.Module, ctx: Context) -> List[str]:
    lines = []
    if ctx.notes.get(NEED_TORCH) and _written(ctx, "torch.amp.") and not _imports_torch(module):
        lines.append("import torch")
    if ctx.notes.get(NEED_EVENT_HELPER) and resolve_name(EVENT_HELPER, ctx.scopes.root) is None:
        if _written(ctx, f"{EVENT_HELPER}("):
            lines.append(f"from {EVENT_MODULE} import {EVENT_HELPER}")
    return lines


def _after_accel_import(body: List[cst.CSTNode]) -> Optional[int]:
    for index, stmt in enumerate(body):
        if is_import_line(stmt) and any(
            isinstance(small, cst.ImportFrom)
            and small.module is not None
            and dotted(small.module) in RUNTIME_MODULES.values()
            and not isinstance(small.names, cst.ImportStar)
            and any(alias.evaluated_name == ACCEL_FUNC for alias in small.names)
            for small in stmt.body  # type: ignore[attr-defined]
        ):
            return index + 1
    return None


def add(module: cst.Module, ctx: Context, first_fixed_top: Optional[int]) -> cst.Module:
    """``module`` (after ``imports.finalize``) with the imports the rules asked for, placed after the
    last top-level import above the first rewritten statement (the ``get_accelerator`` import too)."""
    lines = needed(module, ctx)
    if not lines:
        return module
    body = list(module.body)
    at = _after_accel_import(body)
    if at is None:
        at = _insert_at(body, len(body) if first_fixed_top is None else min(first_fixed_top, len(body)))
    for offset, line in enumerate(lines):
        body.insert(at + offset, cst.parse_statement(line))
    return module.with_changes(body=body)
