"""Which accelerator ``get_accelerator()`` returns: DeepSpeed's order, with no code per vendor.

1. an object given to ``set_accelerator``;
2. ``ACCELPORT_ACCELERATOR``, then ``DS_ACCELERATOR`` (DeepSpeed's names ``cuda cpu xpu npu mps hpu mlu
   sdaa supa``, any torch device type, a registered name, or ``torch:<type>`` for the generic accelerator
   on any type). A known name that cannot run here fails with what is missing, never falls back;
3. backends registered under the entry-point group ``accelport.accelerators`` that say they are
   available: by a probe registered under the same name in ``accelport.accelerator_probes`` (a cheap
   function, so vendor code is not imported where the vendor package is absent), else by importing the
   class and asking ``is_available()``;
4. ``torch.accelerator.current_accelerator()``, after importing the installed vendor packages that the
   device table (``devices.DEVICES``) names, e.g. ``torch_npu`` (an absent one costs one ``find_spec``);
5. the CPU.

``cpu`` and ``cuda`` give ``CpuAccelerator`` and ``CudaAccelerator``; every other device type gives
``TorchAccelerator(type)``. ``survey()`` says what each candidate's status is (``accelport info``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import threading
from importlib import metadata
from typing import Callable, Dict, List, Optional, Tuple

from accelport.accelerator_runtime import devices
from accelport.accelerator_runtime.abstract import Accelerator
from accelport.accelerator_runtime.devices import UnavailableAccelerator

ENTRY_POINT_GROUP = "accelport.accelerators"
PROBE_GROUP = "accelport.accelerator_probes"
ENV_VARS = ("ACCELPORT_ACCELERATOR", "DS_ACCELERATOR")
DEEPSPEED_NAMES = ("cuda", "cpu", "xpu", "xpu.external", "npu", "mps", "hpu", "mlu", "sdaa", "supa")
GENERIC_PREFIX = "torch:"


def _cpu() -> Accelerator:
    from accelport.accelerator_runtime.cpu import CpuAccelerator

    return CpuAccelerator()


def _cuda() -> Accelerator:
    from accelport.accelerator_runtime.cuda import CudaAccelerator

    return CudaAccelerator()


BUILTIN: Dict[str, Callable[[], Accelerator]] = {"cpu": _cpu, "cuda": _cuda}

_lock = threading.Lock()
_current: Optional[Accelerator] = None
_reason: str = ""


class UnknownAccelerator(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Candidate:
    name: str
    source: str  # "entry point myaccel-0.1", "device table", "torch"
    available: bool
    status: str


def _entry_points(group: str = ENTRY_POINT_GROUP) -> Dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=group)}


def _torch_device_type(name: str) -> bool:
    import torch

    try:
        return torch.device(name).type == name
    except (RuntimeError, TypeError, ValueError):
        return False


def known_names() -> List[str]:
    return sorted({*BUILTIN, *DEEPSPEED_NAMES, *devices.DEVICES, *_entry_points(), f"{GENERIC_PREFIX}<device type>"})


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


def _generic(device_type: str) -> Accelerator:
    from accelport.accelerator_runtime.torch_accelerator import TorchAccelerator

    return TorchAccelerator(device_type)


def create(name: str) -> Accelerator:
    """A new accelerator by name, available here or not; an unknown name raises, listing the known ones."""
    if name in BUILTIN:
        return BUILTIN[name]()
    if name.startswith(GENERIC_PREFIX):
        return _generic(name[len(GENERIC_PREFIX) :])
    entry = _entry_points().get(name)
    if entry is not None:
        loaded = entry.load()
        instance = loaded() if inspect.isclass(loaded) else loaded
        return _check(instance)
    if name in devices.DEVICES or name in devices.ALIASES or _torch_device_type(name):
        return _generic(name)
    raise UnknownAccelerator(f"unknown accelerator {name!r}; known: {', '.join(known_names())}")


def _device_type(name: str) -> Optional[str]:
    """The torch device type a name stands for, when it is not a registered entry point."""
    if name.startswith(GENERIC_PREFIX):
        return name[len(GENERIC_PREFIX) :]
    if name in _entry_points():
        return None
    return devices.ALIASES.get(name, name)


def _known_device(device_type: str, name: str) -> bool:
    return name.startswith(GENERIC_PREFIX) or device_type in devices.DEVICES or _torch_device_type(device_type)


def request(name: str, source: str) -> Accelerator:
    """The accelerator a user named; fails when it is unknown or cannot run here, saying what is missing."""
    device_type = _device_type(name)
    try:
        if device_type is not None and _known_device(device_type, name):
            from accelport.accelerator_runtime.torch_accelerator import unavailable_reason

            missing = unavailable_reason(device_type)
            if missing is not None:
                raise UnavailableAccelerator(missing)
        accelerator = create(name)
    except UnknownAccelerator as exc:
        raise UnknownAccelerator(f"{source}={name}: {exc}") from None
    except UnavailableAccelerator as exc:
        raise UnavailableAccelerator(f"{source}={name}: {exc}") from None
    if device_type is None and not accelerator.is_available():
        raise UnavailableAccelerator(f"{source}={name}: the registered {name!r} accelerator says it is not available here")
    return accelerator


def probe_entry_point(entry: metadata.EntryPoint) -> Tuple[bool, str]:
    """Whether a registered backend can run here, and why, without importing its vendor code when a
    probe is registered for it (or its module is not even installed)."""
    probe = _entry_points(PROBE_GROUP).get(entry.name)
    try:
        if probe is not None:
            ok = bool(probe.load()())
            return ok, "its probe says available" if ok else "its probe says not available"
        module = entry.value.split(":")[0]
        if not devices.findable(module):
            return False, f"module {module} is not installed"
        loaded = entry.load()
        instance = loaded() if inspect.isclass(loaded) else loaded
        ok = bool(instance.is_available())
        return ok, "is_available() is True" if ok else "is_available() is False"
    except Exception as exc:  # noqa: BLE001 - a broken plugin is a candidate that cannot run, not a crash
        return False, f"probe failed: {type(exc).__name__}: {exc}"


def _import_installed_providers() -> Dict[str, str]:
    """Import the vendor packages the device table names that are installed (they register their device
    with torch); an absent one is seen by ``find_spec`` alone. Returns device -> status."""
    statuses = {}
    for facts in devices.DEVICES.values():
        if facts.provider is None:
            continue
        if not devices.findable(facts.provider):
            statuses[facts.device_type] = f"{facts.provider} not installed"
            continue
        try:
            importlib.import_module(facts.provider)
            statuses[facts.device_type] = f"{facts.provider} imported"
        except Exception as exc:  # noqa: BLE001 - an installed but broken vendor package must not stop detection
            statuses[facts.device_type] = f"{facts.provider} failed to import: {type(exc).__name__}: {exc}"
    return statuses


def _torch_current() -> Optional[str]:
    """The device type torch says is its accelerator (``torch.accelerator``, torch >= 2.6), else the first
    device-table entry whose device module says it is available (older torch)."""
    import torch

    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and hasattr(accelerator, "current_accelerator"):
        device = accelerator.current_accelerator()
        return None if device is None else device.type
    for facts in devices.DEVICES.values():
        module = getattr(torch, facts.device_type, None)
        if not facts.host and module is not None and getattr(module, "is_available", lambda: False)():
            return facts.device_type
    return None


def _detect() -> Tuple[Accelerator, str]:
    for var in ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return request(value, var), f"{var}={value}"
    for name, entry in sorted(_entry_points().items()):
        ok, why = probe_entry_point(entry)
        if ok:
            return _check(_load(entry)), f"entry point {name} ({entry.value}): {why}"
    _import_installed_providers()
    device_type = _torch_current()
    if device_type is not None and device_type != "cpu":
        from accelport.accelerator_runtime.torch_accelerator import unavailable_reason

        # torch names the accelerator it was built for (a CUDA build on a machine without a GPU too).
        missing = unavailable_reason(device_type)
        if missing is None:
            return create(device_type), f"torch.accelerator.current_accelerator() is {device_type}"
        return create("cpu"), f"torch's accelerator {device_type} cannot run here ({missing}): the CPU"
    return create("cpu"), "no environment variable, registered backend or torch accelerator: the CPU"


def _load(entry: metadata.EntryPoint) -> Accelerator:
    loaded = entry.load()
    return loaded() if inspect.isclass(loaded) else loaded


def get_accelerator() -> Accelerator:
    """The accelerator for this process, chosen once and cached."""
    global _current, _reason
    current = _current
    if current is not None:
        return current
    with _lock:
        if _current is None:
            _current, _reason = _detect()
        return _current


def reason() -> str:
    """Why ``get_accelerator()`` chose what it chose ('' before it has chosen)."""
    return _reason


def set_accelerator(accelerator: Accelerator) -> None:
    """Use ``accelerator`` from now on; an object missing interface methods is refused, naming them."""
    global _current, _reason
    _check(accelerator)
    with _lock:
        _current, _reason = accelerator, "set_accelerator()"


def reset_accelerator() -> None:
    """Forget the cached choice (tests, or after changing the environment variables)."""
    global _current, _reason
    with _lock:
        _current, _reason = None, ""


def survey() -> List[Candidate]:
    """Every candidate detection looks at, with its status: registered backends, then the device table."""
    from accelport.accelerator_runtime.torch_accelerator import unavailable_reason

    candidates = []
    for name, entry in sorted(_entry_points().items()):
        ok, why = probe_entry_point(entry)
        candidates.append(Candidate(name, f"entry point {entry.value}", ok, why))
    providers = _import_installed_providers()
    for device_type in devices.DEVICES:
        why = unavailable_reason(device_type)
        status = why or "available"
        if device_type in providers and why is None:
            status = f"available ({providers[device_type]})"
        candidates.append(Candidate(device_type, "device table", why is None, status))
    current = _torch_current()
    if current is not None and current not in devices.DEVICES:
        why = unavailable_reason(current)
        candidates.append(Candidate(current, "torch.accelerator", why is None, why or "available"))
    return candidates


def describe_status() -> Tuple[str, bool]:
    """What ``accelport info`` prints (the choice, why, every candidate's status), and whether the
    choice could be made."""
    import torch

    lines = []
    ok = True
    try:
        chosen = get_accelerator()
        lines.append(f"accelerator: {chosen.name()} ({type(chosen).__name__})")
        lines.append(f"why: {reason()}")
    except (UnknownAccelerator, UnavailableAccelerator) as exc:
        ok = False
        lines.append("accelerator: none")
        lines.append(f"error: {exc}")
    lines.append(f"torch: {torch.__version__}")
    lines.append("candidates (registered backends, then the device table):")
    for candidate in survey():
        mark = "yes" if candidate.available else "no "
        lines.append(f"  {mark} {candidate.name:<9} {candidate.source}: {candidate.status}")
    return "\n".join(lines), ok


def describe() -> str:
    return describe_status()[0]
