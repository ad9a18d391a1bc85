"""The settings a run is made with: built by the CLI from options and ``[tool.accelport]``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Optional, Tuple

from accelport.codemod.files.read import MAX_FILE_SIZE, MAX_LINE_LENGTH, MAX_NESTING

RUNTIME_MODULES = {
    "accelport": "accelport.accelerator_runtime",
    "deepspeed": "deepspeed.accelerator",
}
TARGETS = ("accelerator", "torch")


@dataclass(frozen=True)
class Settings:
    runtime: str = "accelport"
    # Rule names that run; None means the default set (every rule but the advisory ones).
    rules: Optional[FrozenSet[str]] = None
    exclude: Tuple[str, ...] = ()
    extend_exclude: Tuple[str, ...] = ()
    force_exclude: bool = False
    # Glob of path -> rule names ignored in files matching it.
    per_file_ignores: Tuple[Tuple[str, FrozenSet[str]], ...] = ()
    # "accelerator": get_accelerator() calls; "torch": PyTorch's own API where exact (docs/targets.md).
    target: str = "accelerator"
    # [tool.accelport.mappings]: qualified name of a project's CUDA wrapper -> method name or "unported".
    mappings: Tuple[Tuple[str, str], ...] = ()
    # Also return every rewritten site (``FileResult.fixes``) outside ``check``: ``rewrite --report`` needs them.
    collect_sites: bool = False
    # Over a limit a file is named and left byte-identical, before LibCST sees it (docs/safety.md).
    max_file_size: int = MAX_FILE_SIZE
    max_line_length: int = MAX_LINE_LENGTH
    max_nesting: int = MAX_NESTING

    @property
    def runtime_module(self) -> str:
        return RUNTIME_MODULES[self.runtime]
