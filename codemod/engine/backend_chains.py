"""What an ``if`` about CUDA does where the answer is no: the branch a CPU run takes.

An accelerator question (``get_accelerator().is_available()``) is true on the CPU accelerator, so once a
guard is ported the CPU run takes the CUDA side and never the other one. That is only the same program
where the other side does nothing but choose the CPU (``device = "cpu"``) or repeats what the CUDA side
does. A side with work of its own (a float32 default, a ``raise`` for what the CPU cannot do, a message
that says "CPU", a different seed call) is a policy for machines without CUDA: porting the guard would
drop it there (codemod/engine/guards.py keeps such a guard a CUDA question).

An ``if``/``elif`` chain that already asks about other backends (``elif torch.xpu.is_available():``) was
ported by its author; its last ``else`` is what they meant for CUDA and machines without an accelerator.
"""

from __future__ import annotations

import re
from typing import List, Optional, Sequence, Set

import libcst as cst

# Names of other backends: an `elif` that asks about one of them means the author already ports there.
OTHER_BACKENDS = re.compile(r"xpu|mps|mlu|npu|hpu|musa|xla|tpu|habana|ipex|sdaa", re.IGNORECASE)


def _leaf_texts(node: cst.CSTNode) -> List[str]:
    """Every identifier and string in ``node`` (a test: small)."""
    out: List[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (cst.Name, cst.SimpleString)):
            out.append(item.value)
        else:
            stack.extend(item.children)
    return out


def other_backend(orelse: Optional[cst.CSTNode]) -> Optional[str]:
    """The other backend an ``elif`` chain asks about (``elif torch.xpu.is_available():``), if any."""
    while isinstance(orelse, cst.If):
        for text in _leaf_texts(orelse.test):
            match = OTHER_BACKENDS.search(text)
            if match:
                return match.group(0)
        orelse = orelse.orelse
    return None


def chain_backend(node: cst.If) -> Optional[str]:
    """The other backend a whole chain asks about, its first test included (``if is_npu_available():``)."""
    for text in _leaf_texts(node.test):
        match = OTHER_BACKENDS.search(text)
        if match:
            return match.group(0)
    return other_backend(node.orelse)


def last_else(node: cst.If) -> Optional[cst.Else]:
    """The ``else`` that ends the chain ``node`` starts."""
    orelse = node.orelse
    while isinstance(orelse, cst.If):
        orelse = orelse.orelse
    return orelse


def _statements(suite: cst.BaseSuite) -> Sequence[cst.CSTNode]:
    """A block's statements, a one-line block's small statements one by one."""
    if isinstance(suite, cst.SimpleStatementSuite):
        return suite.body
    out: List[cst.CSTNode] = []
    for stmt in suite.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            out.extend(stmt.body)
        else:
            out.append(stmt)
    return out


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node).strip()


def _picks_cpu(value: cst.CSTNode) -> bool:
    """``"cpu"``, ``torch.device("cpu")``, ``{"map_location": "cpu"}``: a value that names the CPU."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, cst.SimpleString) and item.evaluated_value == "cpu":
            return True
        stack.extend(item.children)
    return False


def cpu_side_work(cuda_side: Optional[cst.BaseSuite], cpu_side: cst.BaseSuite) -> Optional[str]:
    """The first statement of ``cpu_side`` (what a run without CUDA does) that neither chooses the CPU
    nor repeats a statement of ``cuda_side``, as code; None where there is none."""
    shared: Set[str] = {_code(stmt) for stmt in _statements(cuda_side)} if cuda_side is not None else set()
    for stmt in _statements(cpu_side):
        if isinstance(stmt, cst.Pass):
            continue
        if isinstance(stmt, (cst.Assign, cst.AnnAssign)) and stmt.value is not None and _picks_cpu(stmt.value):
            continue
        text = _code(stmt)
        if text in shared:
            continue
        first = text.splitlines()[0] if text else ""
        return first if len(first) <= 60 else first[:57] + "..."
    return None
