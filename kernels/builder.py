"""``OpBuilder``: JIT-build a native extension with ``torch.utils.cpp_extension.load`` (ninja).

A builder knows its extension's name, its sources for one backend (paths relative to
``accelport/kernels/csrc``, or absolute so a third-party accelerator can ship its own), its flags, and
whether it can build here. ``load()`` builds on first use only (never at import), keeps the module for
the rest of the process, reuses the build folder across processes, and never changes ``os.environ``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

CSRC = Path(__file__).resolve().parent / "csrc"
# A ``lock`` older than this is from a build that was killed half-way (older torch waits on it forever).
STALE_LOCK_SECONDS = 600

_loaded: Dict[str, Any] = {}
_lock = threading.Lock()


class BuildError(RuntimeError):
    """A build that cannot run here or failed; the message names the reason and the build folder."""


def default_build_root() -> Path:
    explicit = os.environ.get("ACCELPORT_BUILD_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    import torch

    return Path(base) / "accelport" / "torch_extensions" / f"torch-{torch.__version__.split('+')[0]}"


class OpBuilder:
    """Subclass and set ``NAME`` (the pybind11 module name) and ``BACKEND``; override ``sources``."""

    NAME: str = ""
    BACKEND: str = "cpu"

    def __init__(self, build_dir: Optional[os.PathLike] = None) -> None:
        self._build_dir = Path(build_dir) if build_dir is not None else None

    # -- what to build ---------------------------------------------------------------------
    def sources(self) -> List[str]:
        """Source files; relative paths are under ``accelport/kernels/csrc``."""
        raise NotImplementedError

    def include_paths(self) -> List[str]:
        return [str(CSRC / "includes")]

    def cxx_args(self) -> List[str]:
        return ["-O3", "-std=c++17"]

    def nvcc_args(self) -> List[str]:
        return ["-O3", "--use_fast_math", "-std=c++17"]

    def is_compatible(self) -> Tuple[bool, str]:
        """(True, "") when this builder can build and run here, else (False, the reason)."""
        if shutil.which(os.environ.get("CXX", "c++")) is None and shutil.which("g++") is None:
            return False, "no C++ compiler on PATH (install g++ or set CXX)"
        if shutil.which("ninja") is None:
            try:
                import ninja  # noqa: F401
            except ImportError:
                return False, "ninja is not installed (pip install ninja)"
        return True, ""

    # -- where ------------------------------------------------------------------------------
    def absolute_sources(self) -> List[str]:
        return [str(p if Path(p).is_absolute() else CSRC / p) for p in self.sources()]

    def build_dir(self) -> Path:
        return self._build_dir if self._build_dir is not None else default_build_root() / self.NAME

    # -- building ---------------------------------------------------------------------------
    def load(self, verbose: bool = False) -> Any:
        """The compiled module, building it the first time in this process (and on disk, once)."""
        module = _loaded.get(self.NAME)
        if module is not None:
            return module
        with _lock:
            module = _loaded.get(self.NAME)
            if module is None:
                module = _loaded[self.NAME] = self._build(verbose)
        return module

    def _build(self, verbose: bool) -> Any:
        if os.environ.get("ACCELPORT_DISABLE_JIT") == "1":
            raise BuildError(f"{self.NAME}: JIT builds are disabled (ACCELPORT_DISABLE_JIT=1)")
        ok, reason = self.is_compatible()
        if not ok:
            raise BuildError(f"{self.NAME} cannot be built here: {reason}")
        folder = self.build_dir()
        folder.mkdir(parents=True, exist_ok=True)
        lock = folder / "lock"
        if lock.exists() and time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
            raise BuildError(
                f"{self.NAME}: stale lock file {lock} from an interrupted build; remove it "
                f"(rm {lock}) and try again"
            )
        from torch.utils import cpp_extension

        try:
            return cpp_extension.load(
                name=self.NAME,
                sources=self.absolute_sources(),
                extra_cflags=self.cxx_args(),
                extra_cuda_cflags=self.nvcc_args() if self.BACKEND == "cuda" else None,
                extra_ldflags=self.ld_args(),
                extra_include_paths=self.include_paths(),
                build_directory=str(folder),
                with_cuda=self.BACKEND == "cuda",
                verbose=verbose,
            )
        except Exception as exc:  # noqa: BLE001 - every failure becomes one message naming the folder
            hint = f"; a lock file {lock} remains, remove it if no build is running" if lock.exists() else ""
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BuildError(f"building {self.NAME} in {folder} failed: {first}{hint}") from exc

    def ld_args(self) -> List[str]:
        return []
