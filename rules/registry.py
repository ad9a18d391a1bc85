"""Every rule, in the order their hooks run, and the selection of the ones a run uses."""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from typing import Dict, FrozenSet, Iterable, List, Tuple, Type

from accelport.rules.base import Rule

# Every rule as (name, code, on by default, module, class), in the order their hooks run: specific
# rules before general ones, since the first rewrite of a node wins; the project's own declarations
# first, as they name things no built-in rule matches. Names and codes are known without importing
# the rules (and LibCST): a run whose every file is cached never needs them. A test checks this
# table against the classes.
CATALOG: Tuple[Tuple[str, str, bool, str, str], ...] = (
    ("user-mapping", "AP110", True, "user_mapping", "UserMapping"),
    ("current-device", "AP103", True, "current_device", "CurrentDevice"),
    ("torch-cuda-call", "AP101", True, "torch_cuda_call", "TorchCudaCall"),
    ("unported-cuda-api", "AP102", True, "unported_cuda_api", "UnportedCudaApi"),
    ("cuda-device-string", "AP104", True, "cuda_device_string", "CudaDeviceString"),
    ("integer-device", "AP111", True, "integer_device", "IntegerDevice"),
    ("tensor-cuda-method", "AP105", True, "tensor_cuda_method", "TensorCudaMethod"),
    ("tensor-is-cuda", "AP106", True, "tensor_is_cuda", "TensorIsCuda"),
    ("tensor-pin-memory", "AP107", True, "tensor_pin_memory", "TensorPinMemory"),
    ("nccl-backend", "AP108", True, "nccl_backend", "NcclBackend"),
    ("ddp-device-ids", "AP109", True, "ddp_device_ids", "DdpDeviceIds"),
    ("op-builder", "AP112", True, "op_builder", "OpBuilder"),
    ("cuda-code-string", "AP115", True, "cuda_code_string", "CudaCodeString"),
    ("cuda-leftover", "AP114", True, "cuda_leftover", "CudaLeftover"),
    ("hardcoded-half", "AP901", False, "hardcoded_half", "HardcodedHalf"),
)

# Each rule's trigger substrings, also known without importing the rules: a file holding none of the
# selected rules' triggers is passed without importing LibCST (the pre-commit hook's usual case).
# user-mapping's come from the configured mappings (``mapping_triggers``). A test checks this table
# against the classes.
TRIGGERS: Dict[str, Tuple[str, ...]] = {
    "user-mapping": (),
    "current-device": ("current_device",),
    "torch-cuda-call": ("cuda",),
    "unported-cuda-api": ("cuda", "CUDA"),
    "cuda-device-string": ("cuda",),
    "tensor-cuda-method": (".cuda(",),
    "tensor-is-cuda": ("is_cuda",),
    "integer-device": (".to(", "device=", "device(", "map_location"),
    "tensor-pin-memory": (".pin_memory(", "pin_memory"),
    "nccl-backend": ("nccl", "NCCL"),
    "ddp-device-ids": ("DistributedDataParallel",),
    "op-builder": ("Builder",),
    "cuda-code-string": ("torch.cuda",),
    "cuda-leftover": ("cuda", "nccl"),
    "hardcoded-half": (".half(", "float16", "torch.half"),
}


def mapping_triggers(mappings: Iterable[Tuple[str, str]]) -> Tuple[str, ...]:
    """user-mapping's triggers: the last component of each mapped name."""
    return tuple(sorted({name.rsplit(".", 1)[-1] for name, _ in mappings}))


def may_match(text: str, settings) -> bool:
    """Whether any selected rule could match ``text``; False means no rule needs to be imported."""
    names = DEFAULT_NAMES if settings.rules is None else settings.rules
    for name in names:
        triggers = mapping_triggers(settings.mappings) if name == "user-mapping" else TRIGGERS[name]
        if any(trigger in text for trigger in triggers):
            return True
    return False


NAMES: Tuple[str, ...] = tuple(entry[0] for entry in CATALOG)
NAME_OF_CODE: Dict[str, str] = {entry[1]: entry[0] for entry in CATALOG}
DEFAULT_NAMES: FrozenSet[str] = frozenset(entry[0] for entry in CATALOG if entry[2])


@lru_cache(maxsize=1)
def _classes() -> Tuple[Type[Rule], ...]:
    return tuple(getattr(import_module(f"accelport.rules.{module}"), cls) for _, _, _, module, cls in CATALOG)


def __getattr__(name: str):
    """``ALL_RULES``, ``BY_NAME`` and ``BY_CODE`` hold the classes: imported on first use."""
    if name == "ALL_RULES":
        return _classes()
    if name == "BY_NAME":
        return {rule.NAME: rule for rule in _classes()}
    if name == "BY_CODE":
        return {rule.CODE: rule for rule in _classes()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class UnknownRule(ValueError):
    pass


def resolve(names: Iterable[str]) -> FrozenSet[str]:
    """Rule names from names or codes (``AP101``) or ``ALL``; unknown ones raise, naming the valid ones."""
    out = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name.upper() == "ALL":
            out.update(NAMES)
        elif name in NAMES:
            out.add(name)
        elif name.upper() in NAME_OF_CODE:
            out.add(NAME_OF_CODE[name.upper()])
        else:
            raise UnknownRule(f"unknown rule {name!r}; known rules: {', '.join(NAMES)}")
    return frozenset(out)


def select(selected: Iterable[str] = (), ignored: Iterable[str] = ()) -> FrozenSet[str]:
    chosen = resolve(selected) or DEFAULT_NAMES
    return chosen - resolve(ignored)


@lru_cache(maxsize=64)
def _instances(names: FrozenSet[str]) -> Tuple[Rule, ...]:
    return tuple(rule() for rule in _classes() if rule.NAME in names)


def rules_for(settings) -> List[Rule]:
    """The selected rules; a rule with a ``configured(settings)`` method (user-mapping) is bound to them."""
    rules = _instances(DEFAULT_NAMES if settings.rules is None else settings.rules)
    return [rule.configured(settings) if hasattr(rule, "configured") else rule for rule in rules]


def is_restated(finding: object) -> bool:
    """A finding a rule makes again on its own output in a later pass over the same file (the
    current-device notes on the index form the first pass wrote): the runner drops those."""
    return bool(import_module("accelport.rules.current_device").is_restated(finding))
