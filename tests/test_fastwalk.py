"""The fast walks must be invisible: same child order, same positions, same output as LibCST's walks."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest
from libcst._nodes.base import CSTCodegenError
from libcst.metadata import MetadataWrapper, PositionProvider

from accelport.codemod.engine import tree_walk as fastwalk
from accelport.codemod.engine.codegen import Positions, code_for, positions
from accelport.codemod.settings import Settings
from accelport.codemod.engine.pipeline import transform_source

FIXTURES = sorted(Path(__file__).parent.joinpath("fixtures").rglob("*.py"))


def _modules():
    for path in FIXTURES:
        try:
            yield path, cst.parse_module(path.read_text(encoding="utf-8"))
        except cst.ParserSyntaxError:
            continue


def test_fixtures_exist() -> None:
    assert len(FIXTURES) > 20


def test_child_order_is_libcst_order() -> None:
    for path, module in _modules():
        stack = [module]
        while stack:
            node = stack.pop()
            mine, theirs = fastwalk.children(node), list(node.children)
            assert len(mine) == len(theirs) and all(a is b for a, b in zip(mine, theirs)), (path, type(node).__name__)
            stack.extend(mine)


def test_positions_are_position_provider_positions() -> None:
    for path, module in _modules():
        expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        got = Positions(module)
        assert set(got) == set(expected), path
        for node, where in expected.items():
            assert got[node] == where, (path, type(node).__name__)


def test_parenthesize_writes_what_libcst_wrote(monkeypatch: pytest.MonkeyPatch) -> None:
    # codegen.py replaces LibCST's generator-based `_parenthesize` for speed: with LibCST's own put back,
    # every fixture must generate the same code and PositionProvider the same positions.
    from libcst._nodes.expression import _BaseParenthesizedNode

    from accelport.codemod.engine import codegen

    ours = {}
    for path, module in _modules():
        ours[path] = (module.code, MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider))
    monkeypatch.setattr(_BaseParenthesizedNode, "_parenthesize", codegen.LIBCST_PARENTHESIZE)
    for path, module in _modules():
        code, where = ours[path]
        assert module.code == code, path
        theirs = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        assert [(type(n).__name__, r) for n, r in theirs.items()] == [(type(n).__name__, r) for n, r in where.items()], path


def test_code_for_is_code_for_node() -> None:
    for path, module in _modules():
        for node in [module, *module.body, *(c for stmt in module.body for c in fastwalk.children(stmt))]:
            try:
                expected = module.code_for_node(node)
            except CSTCodegenError:  # a node that only its parent can generate (an annotation, say)
                with pytest.raises(CSTCodegenError):
                    code_for(module, node)
                continue
            assert code_for(module, node) == expected, (path, type(node).__name__)


def test_positions_of_some_nodes_are_their_full_positions() -> None:
    """Recording only the nodes asked for (statements among them, whose spans end at a child's) changes
    none of their positions."""
    for path, module in _modules():
        full = Positions(module)
        nodes = list(full)[::7]
        some = positions(module, {id(node) for node in nodes})
        assert all(some[node] == full[node] for node in nodes), path


def _libcst_walks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastwalk, "visit", lambda node, visitor: node.visit(visitor))
    monkeypatch.setattr(fastwalk, "transform", lambda node, transformer: node.visit(transformer))


@pytest.mark.parametrize("runtime", ["accelport", "deepspeed"])
def test_transform_matches_libcst_walks(monkeypatch: pytest.MonkeyPatch, runtime: str) -> None:
    settings = Settings(runtime=runtime)
    inputs = [p for p in FIXTURES if p.name.endswith(".in.py")]
    fast = [transform_source(p.read_text(encoding="utf-8"), str(p), settings, want_fixes=True) for p in inputs]
    _libcst_walks(monkeypatch)
    slow = [transform_source(p.read_text(encoding="utf-8"), str(p), settings, want_fixes=True) for p in inputs]
    for path, a, b in zip(inputs, fast, slow):
        assert (a.new_text, a.findings, a.fixes, a.counts, a.error) == (b.new_text, b.findings, b.fixes, b.counts, b.error), path


def test_transform_keeps_unchanged_subtrees() -> None:
    module = cst.parse_module("import torch\nx = 1\ntorch.cuda.synchronize()\n")

    class Rename(cst.CSTTransformer):
        def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
            return updated_node.with_changes(value="cuda2") if updated_node.value == "cuda" else updated_node

    new = fastwalk.transform(module, Rename())
    assert new.code == "import torch\nx = 1\ntorch.cuda2.synchronize()\n"
    assert new.body[0] is module.body[0] and new.body[1] is module.body[1]
    assert new.body[2] is not module.body[2]


def test_render_from_source_equals_codegen() -> None:
    """Statements copied from the source text give exactly what generating the whole module gives."""
    from accelport.codemod.engine.statements import statements

    for path, module in _modules():
        text = module.code
        stmts = statements(text, module)
        if stmts is None:
            continue
        rebuilt = module.with_changes(body=[stmt.deep_clone() for stmt in module.body])
        assert stmts.render(module, module) in (None, text), path
        assert stmts.render(module, rebuilt) in (None, text), path


def test_rewrites_stay_inside_the_statements_they_port() -> None:
    """Every fixture's output differs from its input only where the verifier allows it to."""
    from accelport.codemod.run.runner import verify
    from accelport.codemod.settings import Settings
    from accelport.codemod.engine.pipeline import transform_source

    for path in [p for p in FIXTURES if p.name.endswith(".in.py")]:
        text = path.read_text(encoding="utf-8")
        result = transform_source(text, str(path), Settings())
        if result.changed:
            assert result.allowed_lines is not None or "\r" in text, path
            assert verify(text, result.new_text, result.allowed_lines) is None, path


def test_verifier_refuses_a_change_outside_the_ported_statements() -> None:
    from accelport.codemod.run.runner import verify

    old = "import torch\n\n\ndef f():\n    return 1\n\n\ndef g():\n    torch.cuda.synchronize()\n"
    new = old.replace("return 1", "return 2").replace("torch.cuda.synchronize()", "get_accelerator().synchronize()")
    problem = verify(old, new, [(1, 1), (8, 9)])
    assert problem is not None and "line 5" in problem
    assert verify(old, old.replace("torch.cuda.synchronize()", "x()"), [(1, 1), (8, 9)]) is None
