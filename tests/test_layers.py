"""The codemod's layers import one way (docs/architecture.md): a wrong-way import fails here.

Bottom to top: ``files`` (bytes on disk) < the records (``codemod/results.py``, ``codemod/settings.py``)
< ``engine`` (one file's text in, ported text and findings out; the rules sit beside it) < ``run``
(many files: read, engine, verify, write) < ``frontends`` (what a user types and reads). A layer
imports only the layers below it and its own; nothing but ``accelport.__main__`` imports a front-end.
Lazy imports inside functions count: they are imports all the same.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

ROOT = "accelport.codemod"
LAYERS = ("files", "engine", "run", "frontends")
RECORDS = {f"{ROOT}.results", f"{ROOT}.settings"}
# What the engine and the run may use of the rules: the Rule class, the registry that selects and
# loads rules by name, and the capability table (standard library only).
RULES_INTERFACE = {"accelport.rules", "accelport.rules.base", "accelport.rules.registry", "accelport.rules.capabilities"}
# Which layers each layer may import besides itself. ``accelport`` (the version) and the bare
# ``accelport.codemod`` package (a docstring) are open to all.
MAY_IMPORT = {
    "files": set(),
    "records": {"files"},
    "engine": {"records", "rules-interface"},
    "rules": {"engine", "records", "rules-interface"},
    "run": {"files", "records", "engine", "rules-interface"},
    "frontends": {"files", "records", "engine", "rules-interface", "rules", "run", "runtime"},
    "runtime": {"runtime"},
    "main": {"frontends", "runtime"},
}
# Wrong-way imports that remain, each with why; the test also fails when one of them is gone, so this
# list can only shrink. Moving these needs edits to the rule modules named.
KNOWN = {
    # --target torch's table of exact torch equivalents is kept with the rules whose calls it converts.
    (f"{ROOT}.engine.torch_target", "accelport.rules.torch_native"),
    # The note keys and the helper name rule torch-amp records for the imports it needs added.
    (f"{ROOT}.engine.extra_imports", "accelport.rules.torch_amp"),
    # Which builder imports rule op-builder may leave unused (so the import clean-up drops them).
    (f"{ROOT}.engine.imports", "accelport.rules.op_builder"),
    # The cache key fingerprints the rule sources: it reads the package's folder and runs none of them.
    (f"{ROOT}.files.cache", "accelport.rules"),
}


def layer_of(module: str) -> Optional[str]:
    """The layer of a module of ours, or None for one outside every layer (a module left in codemod/)."""
    if module in RECORDS:
        return "records"
    if module == "accelport.__main__":
        return "main"
    if module in ("accelport", ROOT):
        return "open"
    if module.startswith(ROOT + "."):
        head = module[len(ROOT) + 1 :].split(".")[0]
        return head if head in LAYERS else None
    if module in RULES_INTERFACE:
        return "rules-interface"
    if module.startswith("accelport.rules."):
        return "rules"
    return "runtime"  # accelerator_runtime, kernels, launch: never the codemod


def _imports(source: str, module: str, is_package: bool, known: set) -> Iterator[Tuple[str, int]]:
    """Every accelport module ``source`` imports, lazily or not, with its line."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "accelport":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.split(".")[0] != "accelport":
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in known else base), node.lineno


def violations(sources: Dict[str, Tuple[str, bool]]) -> List[str]:
    """``module:line: imports X`` for each import that goes the wrong way; ``sources`` maps each module
    to (its source, whether it is a package)."""
    known = set(sources)
    found = []
    for module, (source, is_package) in sorted(sources.items()):
        layer = layer_of(module)
        if layer is None:
            found.append(f"{module}: in codemod/ but in no layer (move it into {', '.join(LAYERS)})")
            continue
        if layer == "rules-interface":
            layer = "rules"
        for imported, line in _imports(source, module, is_package, known):
            target = layer_of(imported)
            if target in ("open", layer) or target in MAY_IMPORT.get(layer, ()):
                continue
            if layer == "rules" and target == "rules-interface":
                continue
            if (module, imported) in KNOWN:
                continue
            found.append(f"{module}:{line}: imports {imported} ({layer} -> {target})")
    return found


def our_sources() -> Dict[str, Tuple[str, bool]]:
    """Every module of the installed accelport, found from the packages' folders without importing them."""
    out: Dict[str, Tuple[str, bool]] = {}
    tops = ["accelport", "accelport.codemod", "accelport.rules", "accelport.accelerator_runtime", "accelport.kernels"]
    for name in tops:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.submodule_search_locations, name
        for folder in spec.submodule_search_locations:
            for path in sorted(Path(folder).rglob("*.py")):
                rel = path.relative_to(folder).with_suffix("").parts
                is_package = rel[-1] == "__init__"
                dotted = ".".join((name, *rel[:-1]) if is_package else (name, *rel))
                if dotted.startswith(ROOT + ".") and name == "accelport":
                    continue  # only where accelport.codemod maps it
                if "csrc" in rel:
                    continue
                out.setdefault(dotted, (path.read_text(encoding="utf-8"), is_package))
    return out


def test_every_import_goes_down_the_layers() -> None:
    sources = our_sources()
    assert f"{ROOT}.engine.pipeline" in sources and f"{ROOT}.frontends.cli" in sources
    assert violations(sources) == []


def test_the_known_exceptions_are_still_there() -> None:
    """An exception that no longer happens is dropped from KNOWN, so the list cannot hide a new one."""
    sources = our_sources()
    known = set(sources)
    for module, imported in sorted(KNOWN):
        source, is_package = sources[module]
        assert imported in {name for name, _ in _imports(source, module, is_package, known)}, (module, imported)


def _one(module: str, source: str) -> List[str]:
    known = {f"{ROOT}.frontends.report", f"{ROOT}.engine.context", f"{ROOT}.run.runner", f"{ROOT}.files.write", "accelport.rules.torch_amp"}
    return violations({module: (source, False), **{name: ("", False) for name in known}})


def test_a_wrong_way_import_is_caught() -> None:
    # The engine reaching up into a front-end, lazily inside a function.
    assert _one(f"{ROOT}.engine.x", "def f():\n    from accelport.codemod.frontends import report\n") == [
        f"{ROOT}.engine.x:2: imports {ROOT}.frontends.report (engine -> frontends)"
    ]
    # Files knowing about the engine; the engine writing files; the runtime importing the codemod.
    assert _one(f"{ROOT}.files.x", "from accelport.codemod.engine.context import Context\n")
    assert _one(f"{ROOT}.engine.x", "import accelport.codemod.files.write\n")
    assert _one(f"{ROOT}.engine.x", "from accelport.rules import torch_amp\n")
    assert _one("accelport.accelerator_runtime.x", "from accelport.codemod.run import runner\n")
    assert _one(f"{ROOT}.run.x", "from ..frontends import report\n")
    # A new module dropped into codemod/ itself belongs to no layer.
    assert _one(f"{ROOT}.helper", "")
    # The right way round passes.
    assert _one(f"{ROOT}.frontends.x", "from accelport.codemod.run.runner import run\nfrom accelport.codemod import engine\n") == []
    assert _one(f"{ROOT}.run.x", "from accelport.codemod.engine.context import Context\nfrom accelport.rules.registry import rules_for\n") == []


def test_every_package_is_in_the_wheel() -> None:
    """pyproject.toml lists the packages by name: a layer left out would be missing from a real install
    (an editable install hides it)."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    for name, folder in config["package-dir"].items():
        for init in sorted((root / folder).rglob("__init__.py")):
            if "fixtures" in init.parts:
                continue
            rel = init.parent.relative_to(root / folder).parts
            assert ".".join((name, *rel)) in listed, init
