"""Unit tests for role marking: what a value is used as, decided by its parent."""

from __future__ import annotations

from typing import Dict, Optional

import libcst as cst
import pytest

from accelport.codemod.engine import suppress, tree_walk as fastwalk, walk_bookkeeping as walk
from accelport.codemod.engine.context import BACKEND, BACKEND_QUESTION, DEVICE, INDEX, OWN_BACKEND, Context
from accelport.codemod.engine.names import build_scopes


class _Marker(cst.CSTVisitor):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    def on_visit(self, node: cst.CSTNode) -> bool:
        return walk.enter(self.ctx, node)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        walk.leave(self.ctx, original_node)


def roles_of(source: str) -> Dict[str, Optional[str]]:
    """Every expression's code -> its role (the last one written wins for repeated code)."""
    module = cst.parse_module(source)
    ctx = Context(module, build_scopes(module), suppress.parse(source))
    fastwalk.visit(module, _Marker(ctx))
    out: Dict[str, Optional[str]] = {}

    class _Collect(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            if isinstance(node, cst.BaseExpression) and id(node) in ctx.roles:
                out[module.code_for_node(node)] = ctx.roles[id(node)]
            return True

    module.visit(_Collect())
    return out


@pytest.mark.parametrize(
    "source, expression, role",
    [
        ("import torch\nx.to(a)\n", "a", DEVICE),
        ("import torch\ntorch.device(a, b)\n", "a", DEVICE),
        ("import torch\ntorch.device(a, b)\n", "b", INDEX),
        ("torch.zeros(1, device=a)\n", "a", DEVICE),
        ("import torch\ntorch.load(p, a)\n", "a", DEVICE),
        ("import torch\ntorch.load(p, map_location={k: v})\n", "v", DEVICE),
        ("import torch\ntorch.amp.GradScaler(a)\n", "a", DEVICE),
        ("import torch\ntorch.autocast(a)\n", "a", DEVICE),
        ("if x.device.type == a:\n    pass\n", "a", DEVICE),
        ("if self.main_device != a:\n    pass\n", "a", DEVICE),
        ("DEVICE = a\n", "a", DEVICE),
        ("def f(eval_device=a):\n    pass\n", "a", DEVICE),
        ("parser.add_argument('--eval-device', default=a)\n", "a", DEVICE),
        ("device = a if c else b\n", "b", DEVICE),
        ("import torch\ntorch.cuda.set_device(a)\n", "a", INDEX),
        ("import torch\ntorch.cuda.synchronize(a)\n", "a", INDEX),
        ("DDP(m, device_ids=[a], output_device=b)\n", "a", INDEX),
        ("DDP(m, device_ids=[a], output_device=b)\n", "b", INDEX),
        ("y = a + 1\n", "a", INDEX),
        ("if a == 0:\n    pass\n", "a", INDEX),
        ("if a < n:\n    pass\n", "a", INDEX),
        ("y = xs[a]\n", "a", INDEX),
        ("s = '%d' % a\n", "a", INDEX),
        ("s = f'cuda:{a}'\n", "a", INDEX),
        ("import torch.distributed as dist\ndist.init_process_group(a)\n", "a", BACKEND),
        # compared with the backend in use: a question, never a backend to pass
        ("if dist_backend == a:\n    pass\n", "a", BACKEND_QUESTION),
        ("def f(comm_backend_name=a):\n    pass\n", "a", OWN_BACKEND),
        ("config = {'comm_backend_name': a}\n", "a", OWN_BACKEND),
    ],
)
def test_role(source: str, expression: str, role: str) -> None:
    assert roles_of(source).get(expression) == role


@pytest.mark.parametrize(
    "source, expression",
    [
        ("print(a)\n", "a"),
        ("foo(a)\n", "a"),
        ("name = a\n", "a"),
        ("self.device_name = a\n", "a"),
        ("import torch\ntorch.load(p, map_location={k: v})\n", "k"),
        ("if a == b:\n    pass\n", "a"),
        ("if a in devices:\n    pass\n", "a"),
        ("parser.add_argument('--name', default=a)\n", "a"),
        ("s = f'on cuda:{a}!'\n", "a"),
    ],
)
def test_no_role(source: str, expression: str) -> None:
    assert roles_of(source).get(expression) is None
