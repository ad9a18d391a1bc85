"""Which name the rewrites call the accelerator by, and whether the file may import it at the top.

The rules build ``get_accelerator()`` calls; the file may already bind that name to something else
(another framework's ``get_accelerator``, an in-tree ``def get_accelerator``, a conditional import with
a ``None`` fallback, a parameter). Inserting ``from accelport.accelerator_runtime import get_accelerator``
there would shadow the file's own binding or be shadowed by it, and either way some call would reach the
wrong object. So, once per file and before the rules run:

- a module-level, unconditional ``get_accelerator`` import from a runtime module (accelport's or
  DeepSpeed's: the interface is the same) whose local name nothing else binds is reused, under its
  alias if it has one, preferring the ``--runtime`` one;
- else, where nothing in the file binds ``get_accelerator`` except such runtime imports (function-local
  ones included) and nothing reads an unbound ``get_accelerator`` (a star import's), the plain name is
  used and imported;
- else every rewrite in the file uses a fresh alias (``_accelport_get_accelerator``, ``_2``, ... until
  the name occurs nowhere in the text), imported as ``from <runtime> import get_accelerator as <alias>``.

A file written to run without torch (torch imported only under ``try``/``except ImportError`` or under
``if``: a ``setup.py``, an optional integration) gets no new top-level import at all: it would make the
file need the runtime package where it was written to need nothing, and DeepSpeed's runtime also imports
torch. ``guard`` names that situation; the transform then reports each site with its fix instead of
rewriting (see ``transform._refuse``). Only Python's ``ast`` is used: the file's layout already parsed it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Set, Tuple

from accelport.codemod.engine.context import ACCEL_FUNC
from accelport.codemod.settings import RUNTIME_MODULES
from accelport.codemod.engine.statements import parse_ast

_RUNTIMES = frozenset(RUNTIME_MODULES.values())
# Runtimes whose import pulls in torch at import time (DeepSpeed's package does; accelport's does not).
HEAVY_RUNTIMES = frozenset({RUNTIME_MODULES["deepspeed"]})
_ALIAS_BASE = {"accelport": "_accelport_get_accelerator", "deepspeed": "_deepspeed_get_accelerator"}


@dataclass(frozen=True)
class Binding:
    name: str  # what the rewritten calls are spelled with
    import_needed: bool  # False when a module-level import already binds ``name``

    def import_line(self, runtime_module: str) -> str:
        alias = "" if self.name == ACCEL_FUNC else f" as {self.name}"
        return f"from {runtime_module} import {ACCEL_FUNC}{alias}"


PLAIN = Binding(ACCEL_FUNC, True)


def _is_runtime_import(node: ast.AST, alias: ast.alias) -> bool:
    return (
        isinstance(node, ast.ImportFrom)
        and not node.level
        and node.module in _RUNTIMES
        and alias.name == ACCEL_FUNC
    )


def _bindings(tree: ast.Module) -> Tuple[Dict[str, List[bool]], Set[str]]:
    """Local name -> for each binding, whether it is a runtime ``get_accelerator`` import; and the
    names read somewhere."""
    bound: Dict[str, List[bool]] = {}
    loaded: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.add(node.id)
            else:
                bound.setdefault(node.id, []).append(False)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    continue
                local = alias.asname or (alias.name.split(".")[0] if isinstance(node, ast.Import) else alias.name)
                bound.setdefault(local, []).append(_is_runtime_import(node, alias))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.setdefault(node.name, []).append(False)
        elif isinstance(node, ast.arg):
            bound.setdefault(node.arg, []).append(False)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.setdefault(node.name, []).append(False)
        else:
            name = getattr(node, "name", None) if type(node).__name__.startswith("Match") else None
            if isinstance(name, str):
                bound.setdefault(name, []).append(False)
    return bound, loaded


def _top_runtime_imports(tree: ast.Module) -> Iterator[Tuple[str, str]]:
    """(local name, module) of each ``get_accelerator`` import from a runtime at the module's top level."""
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom):
            for alias in stmt.names:
                if _is_runtime_import(stmt, alias):
                    yield alias.asname or alias.name, stmt.module or ""


def plan(text: str, runtime: str) -> Binding:
    """The name the rewrites in ``text`` use, and whether its import must be added."""
    if ACCEL_FUNC not in text:
        return PLAIN  # nothing in the file can bind or read the name
    try:
        tree = parse_ast(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return PLAIN  # the full parse reports the file
    bound, loaded = _bindings(tree)
    clean = lambda name: all(bound.get(name, ()))  # noqa: E731 - every binding a runtime import
    preferred = RUNTIME_MODULES.get(runtime, "")
    candidates = sorted(
        _top_runtime_imports(tree), key=lambda item: (item[1] != preferred, item[0] != ACCEL_FUNC, item[0])
    )
    for local, _module in candidates:
        if clean(local):
            return Binding(local, False)
    if clean(ACCEL_FUNC) and (ACCEL_FUNC in bound or ACCEL_FUNC not in loaded):
        return PLAIN
    alias = base = _ALIAS_BASE.get(runtime, _ALIAS_BASE["accelport"])
    n = 1
    while re.search(rf"\b{alias}\b", text):
        n += 1
        alias = f"{base}_{n}"
    return Binding(alias, True)


_TORCH_IMPORT = re.compile(r"^[ \t]*(?:import|from)[ \t]+torch\b", re.M)


def _imports_of(node: ast.AST, package: str) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name == package or a.name.startswith(package + ".") for a in node.names)
    if isinstance(node, ast.ImportFrom) and not node.level and node.module:
        return node.module == package or node.module.startswith(package + ".")
    return False


def _tolerates_import_error(handler: ast.ExceptHandler) -> bool:
    """The handler catches ImportError and carries on (one that only re-raises guards nothing)."""
    if all(isinstance(stmt, ast.Raise) for stmt in handler.body):
        return False
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    wide = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
    return handler.type is None or any(isinstance(k, ast.Name) and k.id in wide for k in kinds)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _guarded_imports(body: List[ast.stmt], package: str, guard: Optional[str]) -> Iterator[Tuple[int, Optional[str]]]:
    """(line, the guard around it or None) of each module-level import of ``package``."""
    for stmt in body:
        if _imports_of(stmt, package):
            yield stmt.lineno, guard
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            inner = "try/except ImportError" if any(_tolerates_import_error(h) for h in stmt.handlers) else guard  # type: ignore[attr-defined]
            yield from _guarded_imports(stmt.body, package, inner)  # type: ignore[attr-defined]
            for part in (stmt.orelse, stmt.finalbody):  # type: ignore[attr-defined]
                yield from _guarded_imports(part, package, guard)
        elif isinstance(stmt, ast.If):
            if _is_type_checking(stmt.test):
                continue  # never runs: it neither imports nor guards anything
            yield from _guarded_imports(stmt.body, package, guard or "if")
            yield from _guarded_imports(stmt.orelse, package, guard or "if")
        elif isinstance(stmt, (ast.With, ast.AsyncWith, ast.For, ast.While)):
            yield from _guarded_imports(stmt.body, package, guard)


def guard(text: str, runtime_module: str) -> Optional[str]:
    """Why ``text`` must get no new top-level import of ``runtime_module``, or None.

    The file imports torch (or, for DeepSpeed's runtime, deepspeed) at module level only under a
    ``try`` that catches ImportError or under an ``if``: it is written to run without it. With a runtime
    that imports torch, an import of torch only inside functions counts too (the top-level import would
    pull torch in at import time)."""
    if "torch" not in text and "deepspeed" not in text:
        return None
    try:
        tree = parse_ast(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    packages = ["torch"] + (["deepspeed"] if runtime_module.startswith("deepspeed") else [])
    for package in packages:
        found = list(_guarded_imports(tree.body, package, None))
        if any(kind is None for _, kind in found):
            continue
        if found:
            line, kind = found[0]
            how = "under `try`/`except ImportError`" if kind and kind.startswith("try") else "under an `if`"
            return f"this file imports {package} only {how} (line {line}), so it is written to run without it"
        if runtime_module in HEAVY_RUNTIMES and package == "torch":
            match = _TORCH_IMPORT.search(text)
            if match is not None and match.group(0)[:1] in " \t":
                line = text.count("\n", 0, match.start()) + 1
                return (
                    f"this file imports torch only inside functions (line {line}) and {runtime_module} "
                    "imports torch when it is imported"
                )
    return None
