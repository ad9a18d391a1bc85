"""``resolve_name``: what a name means at the place it is read.

Each snippet marks the expressions to resolve with ``probe(<dotted name>)``; the helper walks the tree
with the same scope stack the engine uses and returns the qualified name each probe resolves to.
"""

from __future__ import annotations

import textwrap
from typing import List, Optional

import libcst as cst
import pytest

from accelport.codemod.engine.names import Scope, build_scopes, dotted, resolve_name


def _probes(source: str) -> List[Optional[str]]:
    module = cst.parse_module(textwrap.dedent(source))
    builder = build_scopes(module)
    stack: List[Scope] = [builder.root]
    found: List[Optional[str]] = []

    class Walk(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            scope = builder.scopes.get(id(node))
            if scope is not None and scope is not stack[-1]:
                stack.append(scope)
            if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "probe":
                name = dotted(node.args[0].value)
                assert name is not None
                head, _, tail = name.partition(".")
                base = resolve_name(head, stack[-1])
                found.append(None if base is None else ".".join(filter(None, (base, tail))))
            return True

        def on_leave(self, original_node: cst.CSTNode) -> None:
            if builder.scopes.get(id(original_node)) is stack[-1] and len(stack) > 1:
                stack.pop()

    module.visit(Walk())
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import torch\nprobe(torch.cuda.synchronize)", ["torch.cuda.synchronize"], id="plain_import"),
        pytest.param("import torch as th\nprobe(th.cuda.synchronize)", ["torch.cuda.synchronize"], id="import_as"),
        pytest.param("import torch.cuda as tc\nprobe(tc.synchronize)", ["torch.cuda.synchronize"], id="submodule_as"),
        pytest.param("import torch.cuda\nprobe(torch.cuda.synchronize)", ["torch.cuda.synchronize"], id="submodule_binds_top"),
        pytest.param("from torch import cuda\nprobe(cuda.synchronize)", ["torch.cuda.synchronize"], id="from_import_module"),
        pytest.param(
            "from torch.cuda import synchronize, amp\nprobe(synchronize)\nprobe(amp.autocast)",
            ["torch.cuda.synchronize", "torch.cuda.amp.autocast"],
            id="from_import_names",
        ),
        pytest.param(
            "from torch.cuda import synchronize as sync\nprobe(sync)\nprobe(synchronize)",
            ["torch.cuda.synchronize", None],
            id="from_import_alias_only_binds_alias",
        ),
        pytest.param("probe(torch.cuda.synchronize)", [None], id="never_imported"),
        # `from .common import *` re-exports the torch that module imported; only `torch` is taken as bound.
        pytest.param(
            "from .common import *\nprobe(torch.cuda.synchronize)\nprobe(cuda.synchronize)",
            ["torch.cuda.synchronize", None],
            id="star_import_binds_torch_only",
        ),
        pytest.param(
            "from pkg.zero.params import *\ndef f():\n    probe(torch.cuda.empty_cache)",
            ["torch.cuda.empty_cache"],
            id="absolute_star_import",
        ),
        pytest.param(
            "from .common import *\ntorch = load_backend()\nprobe(torch.cuda)",
            [None],
            id="star_import_then_rebound",
        ),
    ],
)
def test_imports_and_aliases(source: str, expected: List[Optional[str]]) -> None:
    assert _probes(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(
            """
            import torch
            def f(torch):
                probe(torch.cuda)
            probe(torch.cuda)
            """,
            [None, "torch.cuda"],
            id="parameter",
        ),
        pytest.param(
            """
            from torch import cuda
            def f(*cuda): probe(cuda)
            def g(**cuda): probe(cuda)
            def h(*, cuda): probe(cuda)
            f2 = lambda cuda: probe(cuda)
            """,
            [None, None, None, None],
            id="star_keyword_only_and_lambda_parameters",
        ),
        pytest.param(
            """
            from torch import cuda
            def f():
                cuda = object()
                probe(cuda)
            """,
            [None],
            id="local_assignment_anywhere_in_function",
        ),
        pytest.param(
            """
            from torch import cuda
            def f():
                probe(cuda)
                cuda = object()
            """,
            [None],
            id="local_assigned_after_use_is_still_local",
        ),
        pytest.param(
            """
            import torch
            def f(items):
                for torch in items:
                    probe(torch.cuda)
            """,
            [None],
            id="loop_variable",
        ),
        pytest.param(
            """
            from torch import cuda
            def f():
                with open("x") as cuda:
                    probe(cuda)
                try:
                    pass
                except Exception as torch:
                    probe(torch)
            """,
            [None, None],
            id="with_and_except_targets",
        ),
        pytest.param(
            """
            import torch
            xs = [probe(torch.cuda) for torch in range(3)]
            ys = [probe(torch.cuda) for t in range(3)]
            zs = {k: probe(cuda) for k, cuda in {}.items()}
            """,
            [None, "torch.cuda", None],
            id="comprehension_variable",
        ),
        pytest.param(
            """
            from torch import cuda
            def f(items):
                if any((cuda := x) for x in items):
                    probe(cuda)
            """,
            [None],
            id="walrus_binds_in_enclosing_function",
        ),
        pytest.param(
            """
            from torch import cuda
            def f():
                x: int = 0
                cuda: object
                probe(cuda)
            def g():
                cuda += 1
                probe(cuda)
            """,
            [None, None],
            id="annotated_and_augmented_assignment",
        ),
        pytest.param(
            """
            import torch
            def torch_helper():
                def torch():
                    pass
                probe(torch.cuda)
            """,
            [None],
            id="nested_function_definition",
        ),
    ],
)
def test_shadowing(source: str, expected: List[Optional[str]]) -> None:
    assert _probes(source) == expected


def test_class_scope_is_not_visible_from_methods() -> None:
    source = """
    import torch
    class Model:
        torch = None
        probe(torch)
        def forward(self):
            probe(torch.cuda)
        items = [probe(torch) for _ in range(2)]
    """
    # The class body sees its own binding; methods and comprehensions in the body skip it.
    assert _probes(source) == [None, "torch.cuda", "torch"]


def test_class_level_import_visible_in_class_body_only() -> None:
    source = """
    class Model:
        import torch
        probe(torch.cuda)
        def forward(self):
            probe(torch.cuda)
    """
    assert _probes(source) == ["torch.cuda", None]


def test_global_declaration_reads_the_module_binding() -> None:
    source = """
    import torch
    def f():
        global torch
        torch = reload(torch)
        probe(torch.cuda)
    def g():
        torch = None
        probe(torch)
    """
    assert _probes(source) == ["torch.cuda", None]


def test_imports_inside_functions() -> None:
    source = """
    def f():
        import torch as th
        probe(th.cuda)
        def inner():
            probe(th.cuda.synchronize)
        return inner
    def g():
        probe(th)
    """
    assert _probes(source) == ["torch.cuda", "torch.cuda.synchronize", None]


def test_local_import_shadows_module_import() -> None:
    source = """
    import torch
    def f():
        import numpy as torch
        probe(torch)
    """
    assert _probes(source) == ["numpy"]


def test_relative_imports_bind_local_names() -> None:
    # ``from .compat import cuda`` is the package's own module, never torch's, wherever it appears.
    source = """
    from . import torch
    from .compat import cuda as tc
    probe(torch.cuda)
    probe(tc)
    def f():
        from .compat import cuda
        probe(cuda)
    """
    assert _probes(source) == [None, None, None]
    shadowing = """
    from torch import cuda
    def f():
        from .compat import cuda
        probe(cuda)
    """
    assert _probes(shadowing) == [None]


def test_module_level_rebinding_keeps_the_import() -> None:
    # ``try: import torch / except ImportError: torch = None`` must still port ``torch.cuda``.
    source = """
    try:
        import torch
    except ImportError:
        torch = None
    probe(torch.cuda)
    """
    assert _probes(source) == ["torch.cuda"]
