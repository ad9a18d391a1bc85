"""Every rule, in the order their hooks run, and the selection of the ones a run uses."""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, FrozenSet, Iterable, List, Tuple, Type

from accelport.rules.base import Rule
from accelport.rules.cuda_device_string import CudaDeviceString
from accelport.rules.current_device import CurrentDevice
from accelport.rules.ddp_device_ids import DdpDeviceIds
from accelport.rules.hardcoded_half import HardcodedHalf
from accelport.rules.nccl_backend import NcclBackend
from accelport.rules.tensor_cuda_method import TensorCudaMethod
from accelport.rules.tensor_is_cuda import TensorIsCuda
from accelport.rules.tensor_pin_memory import TensorPinMemory
from accelport.rules.torch_cuda_call import TorchCudaCall
from accelport.rules.unported_cuda_api import UnportedCudaApi
from accelport.rules.user_mapping import UserMapping

# Specific rules before general ones: the first rewrite of a node wins.
ALL_RULES: Tuple[Type[Rule], ...] = (
    # The project's own declarations first: they name things no built-in rule matches.
    UserMapping,
    CurrentDevice,
    TorchCudaCall,
    UnportedCudaApi,
    CudaDeviceString,
    TensorCudaMethod,
    TensorIsCuda,
    TensorPinMemory,
    NcclBackend,
    DdpDeviceIds,
    HardcodedHalf,
)

BY_NAME: Dict[str, Type[Rule]] = {rule.NAME: rule for rule in ALL_RULES}
BY_CODE: Dict[str, Type[Rule]] = {rule.CODE: rule for rule in ALL_RULES}
DEFAULT_NAMES: FrozenSet[str] = frozenset(rule.NAME for rule in ALL_RULES if rule.DEFAULT)


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
            out.update(BY_NAME)
        elif name in BY_NAME:
            out.add(name)
        elif name.upper() in BY_CODE:
            out.add(BY_CODE[name.upper()].NAME)
        else:
            raise UnknownRule(f"unknown rule {name!r}; known rules: {', '.join(BY_NAME)}")
    return frozenset(out)


def select(selected: Iterable[str] = (), ignored: Iterable[str] = ()) -> FrozenSet[str]:
    chosen = resolve(selected) or DEFAULT_NAMES
    return chosen - resolve(ignored)


@lru_cache(maxsize=64)
def _instances(names: FrozenSet[str]) -> Tuple[Rule, ...]:
    return tuple(rule() for rule in ALL_RULES if rule.NAME in names)


def rules_for(settings) -> List[Rule]:
    """The selected rules; a rule with a ``configured(settings)`` method (user-mapping) is bound to them."""
    rules = _instances(DEFAULT_NAMES if settings.rules is None else settings.rules)
    return [rule.configured(settings) if hasattr(rule, "configured") else rule for rule in rules]
