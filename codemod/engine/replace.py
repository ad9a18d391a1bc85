"""Replace one node in a tree and keep every other node the same object.

``CSTNode.deep_replace`` rebuilds the whole tree, so a node remembered by identity (a guard's
provisional rewrite waiting for its decision) is no longer found in the result. Here only the
ancestors of the replaced node are rebuilt: two decisions about one ``if`` test
(``torch.cuda.is_available() and torch.cuda.device_count() > 1``) can each find their node.
"""

from __future__ import annotations

from typing import List, Optional, Set

import libcst as cst


def _path(tree: cst.CSTNode, target: cst.CSTNode) -> Optional[Set[int]]:
    """Ids of ``target`` and its ancestors in ``tree``, or None where it is not there."""
    stack: List[tuple] = [(tree, (id(tree),))]
    while stack:
        node, ids = stack.pop()
        if node is target:
            return set(ids)
        stack.extend((child, (*ids, id(child))) for child in node.children)
    return None


class _Replace(cst.CSTTransformer):
    def __init__(self, old: cst.CSTNode, new: cst.CSTNode, path: Set[int]) -> None:
        super().__init__()
        self.old, self.new, self.path = old, new, path

    def on_visit(self, node: cst.CSTNode) -> bool:
        return id(node) in self.path and node is not self.old

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):  # type: ignore[override]
        if original_node is self.old:
            return self.new
        return updated_node if id(original_node) in self.path else original_node


def replace(tree: cst.CSTNode, old: cst.CSTNode, new: cst.CSTNode) -> cst.CSTNode:
    """``tree`` with ``old`` (found by identity) replaced by ``new``; ``tree`` itself where ``old`` is
    not in it."""
    if tree is old:
        return new
    path = _path(tree, old)
    if path is None:
        return tree
    return tree.visit(_Replace(old, new, path))  # type: ignore[return-value]
