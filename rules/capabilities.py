"""What each runtime's accelerator really has, per backend: the one table that the rules, ``accelport
explain`` and docs/targets.md read.

A port is only as good as the handle it calls. DeepSpeed's accelerators share one abstract class, but
its CPU accelerator answers some members with ``None`` (``Event``, ``Stream``), returns ``None`` from
others (``device(i)``, ``current_stream()``), returns ``LOCAL_RANK`` as a ``str`` from
``current_device()``, and ``amp()`` is gone from every DeepSpeed accelerator since v0.18.7. The
codemod emits a member for a runtime only where this table says it works on every documented backend;
elsewhere the rule ports with a caveat finding that names the backend and the alternative, or leaves
the code and reports it (``accelport.codemod.engine.caveats``).

Members not listed under a backend work there. Facts and where they come from:

- ``accelport``: ``accelport.accelerator_runtime`` in this repository; ``tests/test_capabilities.py``
  probes its CPU accelerator and checks the CUDA class.
- ``deepspeed`` 0.19.8 (pinned in constraints/ci.txt): ``tests/test_capabilities.py`` probes the
  installed ``deepspeed.accelerator`` CPU accelerator, and checks the abstract class and the CUDA class
  (members and the source lines quoted in ``evidence``), so this table cannot drift from it.
- ``deepspeed`` 0.16.0 (the oldest release ``pyproject.toml`` accepts, ``deepspeed>=0.16``): read from
  the source at tag v0.16.0 (commit e5570b10eed781c96f266e4dc827d22506c606bc),
  ``accelerator/abstract_accelerator.py``, ``cpu_accelerator.py`` and ``cuda_accelerator.py``.

Importing this module imports nothing but the standard library: the codemod and the pre-commit hook
run without torch and without DeepSpeed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Mapping, Optional, Tuple

MISSING = "missing"  # no such attribute: AttributeError
NONE = "None"  # the attribute (a property) is None: calling it raises TypeError
RETURNS_NONE = "returns None"  # the call returns None where CUDA returns an object
RAISES = "raises"  # the call raises NotImplementedError
TYPE = "differs in type"  # returns another type than on CUDA

BACKENDS: Tuple[str, ...] = ("cuda", "cpu")

# The accelerator interface members the table covers: everything RUNTIME_API.md lists that ported code
# or the codemod can reach, plus ``amp`` (emitted by accelport before torch.amp) and the op builders.
MEMBERS: Tuple[str, ...] = (
    "is_synchronized_device", "use_host_timers", "is_available", "communication_backend_name",
    "device_name", "device", "set_device", "current_device", "current_device_name", "device_count",
    "synchronize",
    "random", "set_rng_state", "get_rng_state", "manual_seed", "manual_seed_all", "initial_seed",
    "seed", "seed_all", "default_generator",
    "Stream", "stream", "current_stream", "default_stream", "Event",
    "empty_cache", "memory_allocated", "max_memory_allocated", "reset_max_memory_allocated",
    "memory_cached", "max_memory_cached", "reset_max_memory_cached", "memory_stats",
    "reset_peak_memory_stats", "memory_reserved", "max_memory_reserved", "total_memory", "available_memory",
    "is_bf16_supported", "is_fp16_supported", "supported_dtypes",
    "BFloat16Tensor", "ByteTensor", "DoubleTensor", "FloatTensor", "HalfTensor", "IntTensor", "LongTensor",
    "amp", "range_push", "range_pop", "lazy_call",
    "create_graph", "capture_to_graph", "replay_graph",
    "pin_memory", "is_pinned", "on_accelerator",
    "op_builder_dir", "create_op_builder", "get_op_builder",
    "visible_devices_envs", "set_visible_devices_envs",
)  # fmt: skip


@dataclass(frozen=True)
class Gap:
    kind: str
    # What happens, in a few words ("returns torch.device('cuda', i)").
    what: str
    # What to write instead, for the finding.
    instead: str
    # True where the member means something else than the torch.cuda call it would replace: the code
    # is then left as it is and reported, never rewritten.
    refuse: bool = False
    # A line of the implementation's source that shows the fact (checked against the installed copy).
    evidence: str = ""


@dataclass(frozen=True)
class Profile:
    runtime: str  # the ``--runtime`` value
    version: str
    source: str
    gaps: Mapping[str, Mapping[str, Gap]]  # backend -> member -> gap
    # backend -> the op builder class names create_op_builder knows; None: every builder of the package.
    builders: Mapping[str, Optional[FrozenSet[str]]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.runtime} {self.version}"


_AMP_GONE = Gap(
    MISSING,
    "removed from every DeepSpeed accelerator in v0.18.7 (deepspeedai/DeepSpeed#7879)",
    "torch.amp.autocast(get_accelerator().device_name(), ...) and torch.amp.GradScaler(get_accelerator().device_name())",
)
# DeepSpeed's interface never had seed()/seed_all(): torch.cuda.seed() is left and reported for it.
_DS_NO_SEED = {
    name: Gap(
        MISSING,
        f"{name}() is not in DeepSpeed's accelerator interface",
        "seed explicitly with get_accelerator().manual_seed(s) / manual_seed_all(s), or torch.seed() for a random "
        "seed on every device",
        refuse=True,
    )
    for name in ("seed", "seed_all")
}
_DS_CPU_EVENT = Gap(
    NONE,
    "Event is None",
    "make_event(get_accelerator(), enable_timing=True) from accelport.accelerator_runtime.events "
    "(a host-clock event where the accelerator has none)",
    evidence="def Event(self):\n        return None",
)
_DS_CPU_STREAM = Gap(
    NONE,
    "Stream is None",
    "create streams only under `if get_accelerator().Stream is not None:`; CPU work is synchronous",
    evidence="def Stream(self):\n        return None",
)
_DS_CPU_STREAM_CALL = Gap(
    RETURNS_NONE,
    "returns None",
    "use the stream only when it is not None (CPU work is synchronous: nothing to wait for)",
)
_DS_CPU_DEVICE = Gap(
    RETURNS_NONE,
    "returns None, which is no context manager",
    "call get_accelerator().set_device(i) instead of `with ...device(i):`",
    refuse=True,
    evidence="def device(self, device_index=None):\n        return None",
)
_DS_CPU_CURRENT_DEVICE = Gap(
    TYPE,
    "returns os.environ['LOCAL_RANK'], a str, when LOCAL_RANK is set (int 0 otherwise)",
    "wrap it in int(...) where an int is needed",
    evidence="return os.environ.get('LOCAL_RANK', 0)",
)
_DS_CPU_GRAPH = Gap(RETURNS_NONE, "returns None", "capture graphs only when get_accelerator().device_name() == 'cuda'")
_DS_CPU_COMMON: Dict[str, Gap] = {
    **_DS_NO_SEED,
    "Event": _DS_CPU_EVENT,
    "Stream": _DS_CPU_STREAM,
    "current_stream": _DS_CPU_STREAM_CALL,
    "default_stream": _DS_CPU_STREAM_CALL,
    "device": _DS_CPU_DEVICE,
    "current_device": _DS_CPU_CURRENT_DEVICE,
    "create_graph": _DS_CPU_GRAPH,
}
_DS_CPU_BUILDERS_016 = frozenset(
    {"AsyncIOBuilder", "CCLCommBuilder", "ShareMemCommBuilder", "FusedAdamBuilder", "CPUAdamBuilder"}
)

DEEPSPEED_PINNED = Profile(
    "deepspeed",
    "0.19.8",
    "the installed deepspeed==0.19.8 (constraints/ci.txt), probed by tests/test_capabilities.py",
    {
        "cuda": {
            **_DS_NO_SEED,
            "amp": _AMP_GONE,
            "device": Gap(
                TYPE,
                "returns torch.device('cuda', i), which as a context manager sets the default device of new "
                "tensors instead of the current GPU",
                "call get_accelerator().set_device(i) instead of `with ...device(i):`",
                refuse=True,
                evidence="return torch.device('cuda', device_index)",
            ),
        },
        "cpu": {"amp": _AMP_GONE, **_DS_CPU_COMMON},
    },
    {
        "cuda": None,
        "cpu": _DS_CPU_BUILDERS_016 | {"CPUAdagradBuilder", "CPULionBuilder", "PinMemoryBuilder"},
    },
)

DEEPSPEED_OLDEST = Profile(
    "deepspeed",
    "0.16.0",
    "deepspeedai/DeepSpeed at tag v0.16.0 (commit e5570b10eed781c96f266e4dc827d22506c606bc): "
    "accelerator/abstract_accelerator.py, cpu_accelerator.py, cuda_accelerator.py, read from the source",
    {
        # amp() is there (torch.cuda.amp / torch.cpu.amp), and device(i) is torch.cuda.device(i).
        "cuda": dict(_DS_NO_SEED),
        "cpu": dict(_DS_CPU_COMMON),
    },
    {"cuda": None, "cpu": _DS_CPU_BUILDERS_016},
)

ACCELPORT = Profile(
    "accelport",
    "0.1.0",
    "accelport.accelerator_runtime in this repository, probed by tests/test_capabilities.py",
    {
        "cuda": {},
        "cpu": {
            name: Gap(RAISES, "raises NotImplementedError (no device graphs on CPU)", "use torch.compile on CPU")
            for name in ("create_graph", "capture_to_graph", "replay_graph")
        },
    },
    {"cuda": frozenset({"FusedAdamBuilder", "CPUAdamBuilder"}), "cpu": frozenset({"CPUAdamBuilder"})},
)

PROFILES: Tuple[Profile, ...] = (ACCELPORT, DEEPSPEED_PINNED, DEEPSPEED_OLDEST)

# Where ported code finds its builders, per runtime: create_op_builder returns this package's classes.
BUILDER_PACKAGES: Mapping[str, Tuple[str, ...]] = {
    "deepspeed": ("deepspeed.ops.op_builder", "op_builder"),
    "accelport": ("accelport.kernels",),
}


def profiles(runtime: str) -> List[Profile]:
    return [profile for profile in PROFILES if profile.runtime == runtime]


def gaps(runtime: str, member: str) -> List[Tuple[Profile, str, Gap]]:
    """(profile, backend, gap) for every documented backend of ``runtime`` where ``member`` falls short."""
    found = []
    for profile in profiles(runtime):
        for backend in BACKENDS:
            gap = profile.gaps.get(backend, {}).get(member)
            if gap is not None:
                found.append((profile, backend, gap))
    return found


def refused(runtime: str, member: str) -> Optional[str]:
    """The finding's text when ``member`` must not be emitted for ``runtime`` at all, else None."""
    found = [entry for entry in gaps(runtime, member) if entry[2].refuse]
    return describe(member, found) if found else None


def caveat(runtime: str, member: str) -> Optional[str]:
    """The finding's text when ``member`` is emitted for ``runtime`` but falls short on some backend."""
    found = gaps(runtime, member)
    return describe(member, found) if found else None


def describe(member: str, found: List[Tuple[Profile, str, Gap]]) -> str:
    """``get_accelerator().Event``: Event is None on deepspeed 0.19.8 and 0.16.0 (cpu); <instead>."""
    groups: Dict[str, Tuple[List[str], List[str]]] = {}
    for profile, backend, gap in found:
        versions, backends = groups.setdefault(gap.what, ([], []))
        if profile.version not in versions:
            versions.append(profile.version)
        if backend not in backends:
            backends.append(backend)
    runtime = found[0][0].runtime
    where = "; ".join(
        f"{what} on {runtime} {' and '.join(versions)} ({', '.join(backends)})" for what, (versions, backends) in groups.items()
    )
    return f"`get_accelerator().{member}`: {where}; {found[0][2].instead}"


def missing_builder(runtime: str, builder: str) -> List[Tuple[Profile, str]]:
    """(profile, backend) where ``create_op_builder(builder)`` has no such builder."""
    out = []
    for profile in profiles(runtime):
        for backend in BACKENDS:
            known = profile.builders.get(backend)
            if known is not None and builder not in known:
                out.append((profile, backend))
    return out
