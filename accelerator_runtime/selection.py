"""Which accelerator ``get_accelerator()`` returns: a table of names, not a chain of ifs.

Order: an object given to ``set_accelerator``; else ``ACCELPORT_ACCELERATOR``; else ``DS_ACCELERATOR``
(for DeepSpeed users); else CUDA when ``torch.cuda.is_available()``, else the CPU. Names are ``cpu``,
``cuda`` and whatever third-party packages register under the entry-point group
``accelport.accelerators`` (name -> Accelerator subclass).
"""

from __future__ import annotations

import inspect
import os
import threading
from importlib import metadata
from typing import Callable, Dict, List, Optional

from accelport.accelerator_runtime.abstract import Accelerator

ENTRY_POINT_GROUP = "accelport.accelerators"
ENV_VARS = ("ACCELPORT_ACCELERATOR", "DS_ACCELERATOR")


def _cpu() -> Accelerator:
    from accelport.accelerator_runtime.cpu import CpuAccelerator

    return CpuAccelerator()


def _cuda() -> Accelerator:
    from accelport.accelerator_runtime.cuda import CudaAccelerator

    return CudaAccelerator()


BUILTIN: Dict[str, Callable[[], Accelerator]] = {"cpu": _cpu, "cuda": _cuda}

_lock = threading.Lock()
_current: Optional[Accelerator] = None


class UnknownAccelerator(ValueError):
    pass


def _entry_points() -> Dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def known_names() -> List[str]:
    return sorted({*BUILTIN, *_entry_points()})


def missing_methods(obj: object) -> List[str]:
    """Interface methods and properties ``obj`` lacks (or leaves abstract)."""
    names = sorted(Accelerator.__abstractmethods__)
    missing = [name for name in names if not hasattr(type(obj), name) and not hasattr(obj, name)]
    still_abstract = getattr(type(obj), "__abstractmethods__", frozenset())
    return sorted(set(missing) | (set(still_abstract) & set(names)))


def _check(obj: object) -> Accelerator:
    missing = missing_methods(obj)
    if missing:
        raise TypeError(f"{type(obj).__name__} does not implement the accelerator interface; missing: {', '.join(missing)}")
    return obj  # type: ignore[return-value]


def create(name: str) -> Accelerator:
    """A new accelerator by name; an unknown name raises, listing the known ones."""
    if name in BUILTIN:
        return BUILTIN[name]()
    entry = _entry_points().get(name)
    if entry is None:
        raise UnknownAccelerator(f"unknown accelerator {name!r}; known: {', '.join(known_names())}")
    loaded = entry.load()
    instance = loaded() if inspect.isclass(loaded) else loaded
    return _check(instance)


def _detect() -> Accelerator:
    for var in ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            try:
                return create(value)
            except UnknownAccelerator as exc:
                raise UnknownAccelerator(f"{var}={value}: {exc}") from None
    import torch

    return create("cuda" if torch.cuda.is_available() else "cpu")


def get_accelerator() -> Accelerator:
    """The accelerator for this process, chosen once and cached."""
    global _current
    current = _current
    if current is not None:
        return current
    with _lock:
        if _current is None:
            _current = _detect()
        return _current


def set_accelerator(accelerator: Accelerator) -> None:
    """Use ``accelerator`` from now on; an object missing interface methods is refused, naming them."""
    global _current
    _check(accelerator)
    with _lock:
        _current = accelerator


def reset_accelerator() -> None:
    """Forget the cached choice (tests, or after changing the environment variables)."""
    global _current
    with _lock:
        _current = None
