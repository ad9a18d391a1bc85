"""The project's own CUDA wrappers, declared in ``[tool.accelport.mappings]`` instead of written as rules."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict, Mapping, Optional, Tuple

import libcst as cst

from accelport.codemod.engine.context import Context
from accelport.rules.base import Rule, keep_parens
from accelport.rules.registry import mapping_triggers
from accelport.rules.torch_native import ACCELERATOR_METHODS

UNPORTED = "unported"
_QUALIFIED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")

Mappings = Tuple[Tuple[str, str], ...]


def parse_mappings(value: Mapping[str, Any]) -> Mappings:
    """The validated ``mappings`` table, sorted; a bad entry raises ``ValueError`` naming its key."""
    out = []
    for key, method in value.items():
        where = f"mappings.{key!r}"
        if not _QUALIFIED.fullmatch(key):
            raise ValueError(f"{where}: the key must be a qualified name such as \"myproj.utils.gpu_sync\"")
        if key == "torch" or key.startswith("torch."):
            raise ValueError(f"{where}: torch names are ported by the built-in rules; map your own wrappers")
        if not isinstance(method, str):
            raise ValueError(f"{where} must be a string: an accelerator method name or \"{UNPORTED}\"")
        if method != UNPORTED and method not in ACCELERATOR_METHODS:
            raise ValueError(
                f"{where}: {method!r} is not a method of the accelerator interface; use \"{UNPORTED}\" or one "
                f"of: {', '.join(sorted(ACCELERATOR_METHODS))}"
            )
        out.append((key, method))
    return tuple(sorted(out))


class UserMapping(Rule):
    """Port the project's own CUDA wrappers declared in `[tool.accelport.mappings]`.

    ## What it does
    Each entry of `[tool.accelport.mappings]` in `pyproject.toml` maps the qualified name of a
    project-local function or class to a method of the accelerator handle, or to `"unported"`.
    Uses of a mapped name become `get_accelerator().<method>` (call arguments kept); uses of an
    `"unported"` name are reported. Names are matched by what they refer to, so
    `from myproj.utils import gpu_sync as sync; sync()` is found, and the wrapper's own definition is not.

    ```toml
    [tool.accelport.mappings]
    "myproj.utils.gpu_sync" = "synchronize"
    "myproj.utils.cuda_only_thing" = "unported"
    ```

    ## Why is this bad?
    A wrapper such as `def gpu_sync(): torch.cuda.synchronize()` hides CUDA behind a project name; once
    the wrapper itself is ported, its callers can call the accelerator directly, and a CUDA-only helper
    should be found at every call site, not only where it is defined.

    ## Example
    ```python
    from myproj.utils import gpu_sync, cuda_only_thing

    gpu_sync()
    cuda_only_thing(model)
    ```

    ## Use instead
    ```python
    from myproj.utils import gpu_sync, cuda_only_thing
    from accelport.accelerator_runtime import get_accelerator

    get_accelerator().synchronize()
    cuda_only_thing(model)  # reported: declared CUDA-only
    ```

    ## Fix safety
    As safe as the mapping: the rule trusts that the wrapper does what the named method does. The
    wrapper's import is kept (importing it may matter); remove it by hand when nothing else uses it.
    """

    NAME = "user-mapping"
    CODE = "AP110"
    # Set per run from the mappings (the last component of each mapped name); none by default.
    TRIGGERS: Tuple[str, ...] = ()

    def __init__(self, mappings: Mappings = ()) -> None:
        self.mappings: Dict[str, str] = dict(mappings)
        self.TRIGGERS = mapping_triggers(self.mappings.items())  # type: ignore[misc]

    def configured(self, settings: Any) -> "UserMapping":
        """This rule for ``settings``: the same object for the same mappings."""
        return _configured(tuple(getattr(settings, "mappings", ())))

    def _mapped(self, ctx: Context, node: cst.BaseExpression) -> Optional[Tuple[str, str]]:
        if not self.mappings or not ctx.is_chain_top(node) or id(node) in ctx.store_targets:
            return None
        qname = ctx.qname(node)
        if qname is None or qname not in self.mappings:
            return None
        return qname, self.mappings[qname]

    def _port(self, ctx: Context, original: cst.BaseExpression, updated: cst.BaseExpression):
        found = self._mapped(ctx, original)
        if found is None:
            return None
        qname, method = found
        if method == UNPORTED:
            ctx.report(
                self,
                original,
                f"`{qname}` is declared CUDA-only in [tool.accelport.mappings]; call it only under "
                "`if get_accelerator().device_name() == 'cuda':` or port it by hand",
            )
            return None
        return keep_parens(ctx.accel(method), updated)

    def leave_Name(self, ctx: Context, original: cst.Name, updated: cst.Name):
        return self._port(ctx, original, updated)

    def leave_Attribute(self, ctx: Context, original: cst.Attribute, updated: cst.Attribute):
        return self._port(ctx, original, updated)


@lru_cache(maxsize=16)
def _configured(mappings: Mappings) -> UserMapping:
    return UserMapping(mappings)
