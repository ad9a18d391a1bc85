"""Every accelerator has exactly the interface's signatures, and every accelerator this machine can
build passes the conformance checks (``conformance.py``): the CPU one, the generic one for ``cpu``, the
CUDA and generic ``cuda`` ones on a GPU machine, and a fake PrivateUse1 device (``fake_device.py``, in a
subprocess because registering a device cannot be undone)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import subprocess
import sys
import textwrap
import types
import typing
from pathlib import Path

import pytest
import torch

from accelport.accelerator_runtime import Accelerator, CpuAccelerator, CudaAccelerator, TorchAccelerator
from accelport.rules import torch_cuda_call

HERE = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"accelport_test_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


conformance = _load("conformance")

IMPLEMENTATIONS = [CpuAccelerator, CudaAccelerator, TorchAccelerator]
FACTORIES = {
    "CpuAccelerator": CpuAccelerator,
    "CudaAccelerator": CudaAccelerator,
    "TorchAccelerator(cpu)": lambda: TorchAccelerator("cpu"),
    "TorchAccelerator(cuda)": lambda: TorchAccelerator("cuda"),
}
# bench/gpu_check.sh sets this so that a GPU run cannot pass by leaving the CUDA accelerators out.
REQUIRE_CUDA = os.environ.get("ACCELPORT_REQUIRE_CUDA") == "1"
BUILDABLE = ["CpuAccelerator", "TorchAccelerator(cpu)"] + (
    ["CudaAccelerator", "TorchAccelerator(cuda)"] if torch.cuda.is_available() or REQUIRE_CUDA else []
)
PUBLIC = conformance.PUBLIC


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


@pytest.mark.parametrize("factory", sorted(FACTORIES))
def test_implementations_are_complete_and_construct_without_a_device(factory: str) -> None:
    accelerator = FACTORIES[factory]()
    assert not getattr(type(accelerator), "__abstractmethods__", None)
    assert accelerator.name() in ("cpu", "cuda")
    assert not torch.cuda.is_initialized()


@pytest.mark.parametrize("factory", BUILDABLE)
def test_conformance(factory: str) -> None:
    """Every member works, or (graphs on the host only) raises NotImplementedError saying why."""
    accelerator = FACTORIES[factory]()
    assert accelerator.is_available(), f"{factory} cannot run on this machine"
    outcomes = conformance.exercise(accelerator)
    conformance.check_common(accelerator, outcomes)
    refused = {name for name, outcome in outcomes.items() if outcome != "ok"}
    expected = conformance.GRAPH_METHODS if accelerator.is_synchronized_device() else set()
    assert refused == expected, {name: outcomes[name] for name in refused ^ expected}


def _fake(code: str, env: dict = None, path: Path = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter after registering the fake device; ``conformance`` and
    ``fake_device`` are importable there."""
    environment = {k: v for k, v in os.environ.items() if k not in ("ACCELPORT_ACCELERATOR", "DS_ACCELERATOR")}
    environment.update(env or {})
    paths = [str(HERE)] + ([str(path)] if path else []) + [environment.get("PYTHONPATH", "")]
    environment["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    prelude = "import fake_device, conformance\nfake = fake_device.register()\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, env=environment, timeout=300
    )


FAKE_REFUSES = {
    # what the fake module lacks (or torch lacks for a Python backend), each refused with the device named
    "default_generator", "default_stream", "get_rng_state", "set_rng_state",
    "stream", "pin_memory", "create_graph", "capture_to_graph", "replay_graph",
}  # fmt: skip


def test_conformance_on_a_fake_privateuse1_device() -> None:
    done = _fake(
        """
        import json
        from accelport.accelerator_runtime import get_accelerator, selection
        a = get_accelerator()
        outcomes = conformance.exercise(a)
        conformance.check_common(a, outcomes, tensors=False)
        fake_device.CALLS.clear()
        a.set_device(1); a.synchronize(); a.memory_allocated(); a.reset_max_memory_allocated(); a.memory_cached()
        print(json.dumps({
            "type": type(a).__name__, "name": a.name(), "reason": selection.reason(), "outcomes": outcomes,
            "calls": [name for name, _ in fake_device.CALLS], "device_count": a.device_count(),
            "current_device": a.current_device(), "device_name": a.device_name(torch_device_1()),
        }))
        """.replace("torch_device_1()", "__import__('torch').device('cuda', 1)")
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert (result["type"], result["name"]) == ("TorchAccelerator", "fakeaccel")
    assert result["reason"] == "torch.accelerator.current_accelerator() is fakeaccel"
    refused = {name for name, outcome in result["outcomes"].items() if outcome != "ok"}
    assert refused == FAKE_REFUSES, {name: result["outcomes"].get(name) for name in refused ^ FAKE_REFUSES}
    # Dispatch reaches the device module's own functions, under CUDA's names where the interface renames.
    assert result["calls"] == ["set_device", "synchronize", "memory_allocated", "reset_peak_memory_stats", "memory_reserved"]
    assert result["device_count"] == 2 and result["device_name"] == "fakeaccel:1"
    # The module has no current_device: torch.accelerator answers, and it is an int.
    assert result["current_device"] == 0
    assert "no default_stream() (torch" in result["outcomes"]["default_stream"] and "use current_stream()" in result["outcomes"]["default_stream"]


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


@pytest.mark.parametrize("factory", ["CpuAccelerator", "TorchAccelerator(cpu)"])
def test_cpu_behaviour_of_every_method(factory: str) -> None:
    """Calls every public member of the CPU accelerators; graphs are the documented exception."""
    a = FACTORIES[factory]()
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


@pytest.mark.parametrize("factory", ["CudaAccelerator", "TorchAccelerator(cuda)"])
def test_cuda_device_names_without_touching_a_device(factory: str) -> None:
    a = FACTORIES[factory]()
    assert a.device_name() == "cuda" and a.device_name(3) == "cuda:3"
    assert a.device_name(torch.device("cuda", 2)) == "cuda:2"
    # An ordinal read from the environment, as a port of f"cuda:{os.environ['LOCAL_RANK']}" passes it
    # (DeepSpeed's accelerators format it as given; torch.device("0") would refuse it).
    assert a.device_name("1") == "cuda:1"
    assert a.visible_devices_envs() == ["CUDA_VISIBLE_DEVICES"]
    env: dict = {}
    a.set_visible_devices_envs(env, [2, 3])
    assert env == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert a.communication_backend_name() == "nccl"


@pytest.mark.skipif(not (torch.cuda.is_available() or REQUIRE_CUDA), reason="needs a CUDA GPU")
@pytest.mark.parametrize("factory", ["CudaAccelerator", "TorchAccelerator(cuda)"])
def test_cuda_behaviour_on_a_gpu(factory: str) -> None:  # pragma: no cover - runs on GPU machines only
    a = FACTORIES[factory]()
    x = torch.ones(4, device=a.current_device_name())
    assert a.on_accelerator(x) and isinstance(a.current_device(), int)
    start, end = a.Event(enable_timing=True), a.Event(enable_timing=True)
    start.record(); (x * 2).sum(); end.record(); a.synchronize()
    assert start.elapsed_time(end) >= 0
    with a.amp().autocast():
        assert torch.mm(x.view(2, 2), x.view(2, 2)).dtype == torch.float16


def test_a_single_device_backend_seeds_and_names_a_backend_instead_of_raising(monkeypatch) -> None:
    """Apple's mps: ported ``torch.cuda.manual_seed_all(s)`` (a no-op there before the port) must not
    crash, and ``communication_backend_name()`` read as a config default at import time must answer."""
    from accelport.accelerator_runtime.torch_accelerator import TorchAccelerator

    a = TorchAccelerator("mps")
    seeded: list = []
    monkeypatch.setattr(a, "_mod", types.SimpleNamespace(manual_seed=seeded.append))
    a.manual_seed_all(7)
    assert seeded == [7]
    assert a.communication_backend_name() == "gloo"


def test_detection_asks_cuda_through_nvml_and_leaves_the_environment_as_it_was(monkeypatch) -> None:
    """A ported default (``backend=get_accelerator().communication_backend_name()``) runs detection at
    import; torch's plain CUDA check would initialise the driver and break fork-started children."""
    from accelport.accelerator_runtime import torch_accelerator

    seen: list = []
    fake = types.SimpleNamespace(_is_compiled=lambda: True,
                                 is_available=lambda: seen.append(os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")) or True)
    monkeypatch.setattr(torch_accelerator, "_find_module", lambda device_type: (fake, None))
    monkeypatch.delenv("PYTORCH_NVML_BASED_CUDA_CHECK", raising=False)
    assert torch_accelerator.unavailable_reason("cuda") is None
    assert seen == ["1"] and "PYTORCH_NVML_BASED_CUDA_CHECK" not in os.environ
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "0")  # the user's choice stands
    torch_accelerator.unavailable_reason("cuda")
    assert seen[-1] == "0" and os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] == "0"
