"""Family 4 of the porting rules: ``'cuda'`` and ``'cuda:N'`` device strings in device contexts."""

from __future__ import annotations

from typing import List, Optional

import libcst as cst

from accelport.codemod.engine import guards, ordinals, travel
from accelport.codemod.engine.context import DEVICE, Context
from accelport.codemod.engine.roles import keyword, positional
from accelport.rules.base import Rule, keep_parens

TORCH_DEVICE = "torch.device"


def string_value(node: cst.CSTNode) -> Optional[str]:
    """The value of a plain (non-bytes, non-f) string literal, else None."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _str_call_arg(node: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """``x`` for ``str(x)``."""
    if (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Name)
        and node.func.value == "str"
        and len(node.args) == 1
        and node.args[0].keyword is None
        and not node.args[0].star
    ):
        return node.args[0].value
    return None


def _device_type(ctx: Context, node: cst.IfExp):
    """``"cuda" if "cuda" in device else "cpu"`` and ``"cuda" if x.device.type == "cuda" else "cpu"``: the
    question's literal, the device operand, and whether that operand is already a ``.type``."""
    if not isinstance(node.test, cst.Comparison):
        return None
    found = guards.question_operand(ctx, node.test)
    if found is None or found[2] != DEVICE or string_value(found[0]) != "cuda":
        return None
    literal, negated, _ = found
    cuda_branch, cpu_branch = (node.orelse, node.body) if negated else (node.body, node.orelse)
    if string_value(cuda_branch) != "cuda" or string_value(cpu_branch) != "cpu":
        return None
    op = node.test.comparisons[0].operator
    device = node.test.comparisons[0].comparator if node.test.left is literal else node.test.left
    is_type = isinstance(device, cst.Attribute) and device.attr.value == "type"
    if not (is_type or isinstance(op, (cst.In, cst.NotIn))):
        return None  # `device == "cuda"` is false for "cuda:0": not the device's type
    return literal, device, is_type


class CudaDeviceString(guards.GuardHooks, Rule):
    """Rewrite `'cuda'` / `'cuda:N'` / `f'cuda:{i}'` device strings in device contexts to `get_accelerator().device_name(...)`.

    ## What it does
    Where a string is used as a device — the first argument of `.to(...)`, `torch.device(...)` and
    `torch.autocast(...)`, the keywords `device=`, `map_location=`, `device_type=`, a comparison with
    `x.device`, `x.device.type` or a name called `device`/`*_device` (a guard: see below), an assignment
    to such a name, and
    the `default=` of an argparse `--device` option — `'cuda'` becomes `get_accelerator().device_name()`,
    `'cuda:0'` becomes `get_accelerator().device_name(0)`, and the formatted forms `f'cuda:{i}'`,
    `'cuda:%d' % i`, `'cuda:{}'.format(i)` and `'cuda:' + str(i)` become `get_accelerator().device_name(i)`.
    `torch.device('cuda', i)` becomes `torch.device(get_accelerator().device_name(i))`. In a
    `map_location` dict only the values are ported (the keys name the devices the checkpoint was saved
    on). Also device contexts: a value under a `"device"`/`"*_device"` key of a dict literal, the
    `default=` of a dataclass `field(...)` and of `os.environ.get(...)`/`os.getenv(...)` where that call
    holds a device, and the device type of `init_device_mesh`, `DeviceMesh` and `DeviceMesh.from_group`.
    A string stored first and used later travels (codemod/engine/travel.py, within the module): held in a
    name, a `self` attribute, a parameter default, a dataclass field or an argparse default, or passed to
    a function the module defines whose parameter is used as a device, it is ported when every read is a
    device use (or only printed); when a read is also compared, stored or passed on, the string is
    reported instead. A CUDA string in a device context with no exact rewrite (`'cuda:0,1'`, `f'cuda:{i:02d}'`) is left
    as written and reported. Strings anywhere else (log messages, docstrings, comments, dictionary keys)
    are left alone.

    Two different explicit ordinals in one function (or at module level), `'cuda:0'` and `'cuda:1'` or
    `torch.device("cuda", 1)`, name two devices; on a backend with fewer devices (the CPU accelerator has
    one) `device_name(0)` and `device_name(1)` are the same, so code that relies on them being different
    (two cache keys, a copy from one to the other) would change. Every explicit ordinal of that function
    is then left as written and reported: port it by hand where sharing one device is fine
    (model-parallel placement). A lone `'cuda:1'`, `'cuda'` and `f'cuda:{i}'` are ported as above, and
    `map_location` dict keys do not count (they name the devices a checkpoint was saved on).

    A comparison (`x.device.type == "cuda"`, `device == "cuda:0"`, `"cuda" in str(device)`) is a
    question, and on the CPU accelerator `device_name()` answers "cpu" for a CPU device: the literal is
    rewritten only where the comparison guards code that is all ported or portable (see "Guards" at the
    top of this page); where it guards CUDA-only code, or its value is assigned, returned or passed on,
    it is left as written and reported. `"cuda" if "cuda" in device else "cpu"` (or `... if
    d.type == "cuda" else "cpu"`) computes the device's own type: it becomes `torch.device(device).type`
    (`d.type`), never an answer that is "cuda" on the CPU.

    ## Why is this bad?
    A hard-coded CUDA device fails on every other backend.

    ## Example
    ```python
    model.to(f"cuda:{rank}")
    state = torch.load(path, map_location="cuda:0")
    ```

    ## Use instead
    ```python
    model.to(get_accelerator().device_name(rank))
    state = torch.load(path, map_location=get_accelerator().device_name(0))
    ```

    ## Fix safety
    Safe: on CUDA `device_name(i)` returns `'cuda:i'`. `torch.device(device).type` equals the original
    for CUDA and CPU devices, and is the device's own type for any other.
    """

    NAME = "cuda-device-string"
    CODE = "AP104"
    TRIGGERS = ("cuda",)

    def _device_name(self, ctx: Context, *index: cst.BaseExpression) -> cst.Call:
        return ctx.accel_call("device_name", *(cst.Arg(value) for value in index))

    # -- literal strings -------------------------------------------------------------
    def leave_SimpleString(self, ctx: Context, original: cst.SimpleString, updated: cst.SimpleString):
        value = string_value(original)
        if ctx.role(original) != DEVICE:
            if value is None or (value != "cuda" and ordinals.INDEXED.fullmatch(value) is None) or not travel.travels(ctx, self, original):
                return None
        replacement = None
        if value == "cuda":
            replacement = keep_parens(self._device_name(ctx), updated)
        match = ordinals.INDEXED.fullmatch(value or "")
        if match:
            if self._distinct(ctx, original):
                return None
            replacement = keep_parens(self._device_name(ctx, cst.Integer(str(int(match.group(1))))), updated)
        if replacement is not None:
            if guards.is_question(ctx, original):
                return guards.propose(ctx, self, original, updated, replacement, f"the device comparison with {value!r}")
            return replacement
        self._unported(ctx, original, value)
        return None

    def leave_FormattedString(self, ctx: Context, original: cst.FormattedString, updated: cst.FormattedString):
        parts = updated.parts
        if ctx.role(original) != DEVICE:
            first = parts[0] if parts else None
            if not (isinstance(first, cst.FormattedStringText) and first.value == "cuda:" and len(parts) == 2):
                return None
            if not travel.travels(ctx, self, original):
                return None
        if (
            len(parts) == 2
            and isinstance(parts[0], cst.FormattedStringText)
            and parts[0].value == "cuda:"
            and isinstance(parts[1], cst.FormattedStringExpression)
            and parts[1].conversion is None
            and parts[1].format_spec is None
        ):
            return keep_parens(self._device_name(ctx, parts[1].expression), updated)
        if parts and isinstance(parts[0], cst.FormattedStringText):
            self._unported(ctx, original, parts[0].value)
        return None

    def leave_BinaryOperation(self, ctx: Context, original: cst.BinaryOperation, updated: cst.BinaryOperation):
        """``'cuda:%d' % i`` and ``'cuda:' + str(i)``."""
        if ctx.role(original) != DEVICE:
            return None
        left = string_value(original.left)
        if isinstance(original.operator, cst.Modulo) and left in ("cuda:%d", "cuda:%s", "cuda:%i"):
            right = updated.right
            if isinstance(right, cst.Tuple) and len(right.elements) == 1:
                right = right.elements[0].value
            if not isinstance(right, cst.Tuple):
                return keep_parens(self._device_name(ctx, right), updated)
        if isinstance(original.operator, cst.Add) and left == "cuda:":
            inner = _str_call_arg(updated.right)
            if inner is not None:
                return keep_parens(self._device_name(ctx, inner), updated)
        if isinstance(original.operator, (cst.Modulo, cst.Add)):
            self._unported(ctx, original, left)
        return None

    def _distinct(self, ctx: Context, node: cst.CSTNode) -> bool:
        """An explicit ordinal where its function names another one too: reported and left, because a
        backend with fewer devices would make the two one (codemod/engine/ordinals.py)."""
        found = ordinals.distinct(ctx)
        if found:
            ctx.report(self, node, ordinals.message(found))
        return bool(found)

    def _unported(self, ctx: Context, node: cst.CSTNode, text: Optional[str]) -> None:
        """A CUDA device string in a device context that has no exact rewrite: say so, never guess."""
        if text is not None and text.startswith("cuda"):
            ctx.report(self, node, "a CUDA device string this rule cannot rewrite: build it with "
                       "get_accelerator().device_name(index)")

    # -- a device's type computed from a question ----------------------------------------
    def visit_IfExp(self, ctx: Context, node: cst.IfExp) -> None:
        super().visit_IfExp(ctx, node)
        found = _device_type(ctx, node)
        if found is not None:
            for literal in (node.body, node.orelse, found[0]):
                ctx.claim(literal)

    def leave_IfExp(self, ctx: Context, original: cst.IfExp, updated: cst.IfExp):
        super().leave_IfExp(ctx, original, updated)
        found = _device_type(ctx, original)
        if found is None:
            return None
        _, device, is_type = found
        # The device operand as the walk left it (the comparison is the whole test).
        test = updated.test
        assert isinstance(test, cst.Comparison)
        operand = test.left if original.test.left is device else test.comparisons[0].comparator  # type: ignore[attr-defined]
        if is_type:
            return keep_parens(operand.with_changes(lpar=[], rpar=[]) if operand.lpar else operand, updated)
        if ctx.qname(cst.Name("torch")) != "torch":
            ctx.report(self, original, "computes a device type from a CUDA question: write torch.device(device).type "
                       "(import torch) so it stays that device's own type")
            return None
        inner = guards.str_argument(operand)
        call = cst.Call(func=cst.Attribute(value=cst.Name("torch"), attr=cst.Name("device")), args=[cst.Arg(inner)])
        return keep_parens(cst.Attribute(value=call, attr=cst.Name("type")), updated)

    # -- calls -------------------------------------------------------------------------
    def visit_Call(self, ctx: Context, node: cst.Call) -> None:
        super().visit_Call(ctx, node)
        pair = self._torch_device_pair(ctx, node)
        if pair is not None:
            ctx.claim(pair[0].value)  # the 'cuda' goes into the index's device_name(i)

    @staticmethod
    def _torch_device_pair(ctx: Context, node: cst.Call) -> Optional[List[cst.Arg]]:
        """``torch.device('cuda', i)`` / ``torch.device('cuda', index=i)`` / ``torch.device(type='cuda',
        index=i)``: the [type, index] args."""
        if ctx.qname(node.func) != TORCH_DEVICE:
            return None
        args = positional(node)
        if len(args) == 2 and len(node.args) == 2 and string_value(args[0].value) == "cuda":
            return list(args)
        kind, index = (args[0] if args else keyword(node, "type")), keyword(node, "index")
        if kind is not None and index is not None and len(node.args) == 2 and string_value(kind.value) == "cuda":
            return [kind, index]
        return None

    def leave_Call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        pair = self._torch_device_pair(ctx, original)
        if pair is not None:
            if ordinals.integer(pair[1].value) is not None and self._distinct(ctx, original):
                return None
            position = original.args.index(pair[1])
            index_value = updated.args[position].value
            return updated.with_changes(args=[cst.Arg(self._device_name(ctx, index_value))])
        return self._format_call(ctx, original, updated)

    def _format_call(self, ctx: Context, original: cst.Call, updated: cst.Call):
        """``'cuda:{}'.format(i)``."""
        if ctx.role(original) != DEVICE or not isinstance(original.func, cst.Attribute):
            return None
        text = string_value(original.func.value)
        if original.func.attr.value != "format" or text is None:
            return None
        if text not in ("cuda:{}", "cuda:{0}") or len(updated.args) != 1 or updated.args[0].keyword or updated.args[0].star:
            self._unported(ctx, original, text)
            return None
        return keep_parens(self._device_name(ctx, updated.args[0].value), updated)
