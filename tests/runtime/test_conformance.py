"""Every accelerator has exactly the interface's signatures, and on this CPU machine every method of
the CPU accelerator works or raises its documented error."""

from __future__ import annotations

import inspect
import typing

import pytest
import torch

from accelport.accelerator_runtime import Accelerator, CpuAccelerator, CudaAccelerator
from accelport.rules import torch_cuda_call

IMPLEMENTATIONS = [CpuAccelerator, CudaAccelerator]
PUBLIC = sorted(name for name in dir(Accelerator) if not name.startswith("_"))


def _members(cls: type) -> dict:
    return {name: inspect.getattr_static(cls, name) for name in PUBLIC}


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_signatures_match_the_interface(cls: type) -> None:
    for name, abstract in _members(Accelerator).items():
        concrete = inspect.getattr_static(cls, name)
        assert isinstance(concrete, property) == isinstance(abstract, property), name
        if isinstance(abstract, property):
            continue
        assert inspect.signature(concrete) == inspect.signature(abstract), f"{cls.__name__}.{name}"


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
def test_implementations_are_complete_and_construct_without_a_device(cls: type) -> None:
    assert not getattr(cls, "__abstractmethods__", None)
    accelerator = cls()
    assert accelerator.name() in ("cpu", "cuda")


def test_every_interface_method_is_documented() -> None:
    for name, member in _members(Accelerator).items():
        target = member.fget if isinstance(member, property) else member
        assert (target.__doc__ or "").strip(), name


def test_every_method_the_codemod_emits_exists_on_the_interface() -> None:
    """The link DeepSpeed never checks: a rewrite must not call a method the runtime lacks."""
    emitted = set(torch_cuda_call.SAME_NAME)
    emitted |= {step.rstrip("()") for steps in torch_cuda_call.RESHAPED.values() for step in steps[:1]}
    emitted |= {"default_generator", "total_memory", "current_device_name", "device_name", "on_accelerator",
                "pin_memory", "communication_backend_name"}
    missing = sorted(name for name in emitted if not hasattr(Accelerator, name))
    assert not missing


def test_current_device_is_an_int_on_every_backend() -> None:
    for cls in IMPLEMENTATIONS:
        hints = typing.get_type_hints(cls.current_device)
        assert hints["return"] is int
    assert type(CpuAccelerator().current_device()) is int


def test_cpu_behaviour_of_every_method() -> None:
    """Calls every public member of the CPU accelerator; graphs are the documented exception."""
    a = CpuAccelerator()
    t = torch.ones(3)
    calls = {
        "is_synchronized_device": (), "use_host_timers": (), "resolves_data_dependency": (),
        "handles_memory_backpressure": (), "is_available": (), "communication_backend_name": (),
        "is_triton_supported": (), "name": (), "device_name": (0,), "device": (0,), "set_device": (0,),
        "current_device": (), "current_device_name": (), "device_count": (), "synchronize": (),
        "random": (), "get_rng_state": (), "set_rng_state": (torch.get_rng_state(),), "manual_seed": (1,), "manual_seed_all": (1,), "initial_seed": (),
        "seed": (), "seed_all": (), "default_generator": (0,), "stream": (None,), "current_stream": (),
        "default_stream": (), "empty_cache": (), "memory_allocated": (), "max_memory_allocated": (),
        "reset_max_memory_allocated": (), "memory_cached": (), "max_memory_cached": (),
        "reset_max_memory_cached": (), "memory_stats": (), "reset_peak_memory_stats": (), "memory_reserved": (),
        "max_memory_reserved": (), "total_memory": (), "available_memory": (), "is_bf16_supported": (),
        "is_fp16_supported": (), "supported_dtypes": (), "amp": (), "lazy_call": (lambda: None,),
        "pin_memory": (t,), "is_pinned": (t,), "on_accelerator": (t,), "op_builder_dir": (),
        "create_op_builder": ("NoSuchBuilder",), "get_op_builder": ("NoSuchBuilder",), "build_extension": (),
        "export_envs": (), "visible_devices_envs": (), "set_visible_devices_envs": ({}, [0]),
        "get_compile_backend": (), "set_compile_backend": ("inductor",),
    }  # fmt: skip
    graph_methods = {"create_graph", "capture_to_graph", "replay_graph"}
    properties = {n for n, m in _members(Accelerator).items() if isinstance(m, property)}
    untested = set(PUBLIC) - set(calls) - graph_methods - properties - {"range_push", "range_pop"}
    assert not untested, untested
    for name, args in calls.items():
        getattr(a, name)(*args)
    for name in graph_methods:
        with pytest.raises(NotImplementedError, match="GPU"):
            getattr(a, name)(*([None] if name != "create_graph" else []))
    for name in properties:
        assert getattr(a, name) is not None, name
    assert a.device_name() == a.device_name(0) == a.current_device_name() == "cpu"
    assert a.device_name(torch.device("cuda", 1)) == "cpu"
    assert a.communication_backend_name() in ("gloo", "ccl")
    assert a.on_accelerator(t) and a.pin_memory(t) is t
    assert a.create_op_builder("NoSuchBuilder") is None and a.get_op_builder("NoSuchBuilder") is None
    with pytest.raises(ValueError, match="inductor"):
        a.set_compile_backend("no-such-backend")


def test_cuda_device_names_without_touching_a_device() -> None:
    a = CudaAccelerator()
    assert a.device_name() == "cuda" and a.device_name(3) == "cuda:3"
    assert a.device_name(torch.device("cuda", 2)) == "cuda:2"
    assert a.visible_devices_envs() == ["CUDA_VISIBLE_DEVICES"]
    env: dict = {}
    a.set_visible_devices_envs(env, [2, 3])
    assert env == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert a.communication_backend_name() == "nccl"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_behaviour_on_a_gpu() -> None:  # pragma: no cover - runs on GPU machines only
    a = CudaAccelerator()
    x = torch.ones(4, device=a.current_device_name())
    assert a.on_accelerator(x) and isinstance(a.current_device(), int)
    start, end = a.Event(enable_timing=True), a.Event(enable_timing=True)
    start.record(); (x * 2).sum(); end.record(); a.synchronize()
    assert start.elapsed_time(end) >= 0
    with a.amp().autocast():
        assert torch.mm(x.view(2, 2), x.view(2, 2)).dtype == torch.float16
