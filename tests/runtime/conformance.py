"""The behaviour every accelerator must show, as a function over one instance: the conformance tests run
it in-process for the CPU accelerators (and CUDA ones on a GPU machine), and in a subprocess for the fake
PrivateUse1 device that ``fake_device.py`` registers (registration is process-global and irreversible).

``exercise`` calls every public member of the interface and returns, per member, ``"ok"`` or the
exception it raised as ``"<type>: <message>"``; ``check_common`` asserts what holds on every backend.
"""

from __future__ import annotations

import inspect
from typing import Any, Dict

import torch

from accelport.accelerator_runtime import Accelerator

PUBLIC = sorted(name for name in dir(Accelerator) if not name.startswith("_"))
GRAPH_METHODS = {"create_graph", "capture_to_graph", "replay_graph"}


def _arguments(accelerator: Accelerator, tensor: torch.Tensor) -> Dict[str, tuple]:
    return {
        "device_name": (0,), "device": (0,), "set_device": (0,), "default_generator": (0,),
        "set_rng_state": (None,), "manual_seed": (1,), "manual_seed_all": (1,), "stream": (None,),
        "lazy_call": (lambda: None,), "pin_memory": (tensor,), "is_pinned": (tensor,),
        "on_accelerator": (tensor,), "create_op_builder": ("NoSuchBuilder",),
        "get_op_builder": ("NoSuchBuilder",), "set_visible_devices_envs": ({}, [0]),
        "set_compile_backend": (accelerator.get_compile_backend(),), "range_push": ("conformance",),
    }  # fmt: skip


def _outcome(call: Any) -> str:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the outcome is what is checked
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def exercise(accelerator: Accelerator) -> Dict[str, str]:
    """Call every interface member once; graphs are captured around one multiply when they can be."""
    tensor = torch.ones(3)
    arguments = _arguments(accelerator, tensor)
    outcomes: Dict[str, str] = {}
    for name in PUBLIC:
        if name in GRAPH_METHODS or name in ("range_pop", "set_rng_state"):
            continue
        member = inspect.getattr_static(type(accelerator), name)
        if isinstance(member, property):
            outcomes[name] = _outcome(lambda: getattr(accelerator, name))
        else:
            outcomes[name] = _outcome(lambda: getattr(accelerator, name)(*arguments.get(name, ())))
    outcomes["range_pop"] = _outcome(accelerator.range_pop) if outcomes["range_push"] == "ok" else outcomes["range_push"]
    outcomes["set_rng_state"] = _outcome(lambda: accelerator.set_rng_state(accelerator.get_rng_state()))
    outcomes.update(_graphs(accelerator))
    return outcomes


def _graphs(accelerator: Accelerator) -> Dict[str, str]:
    graph: list = []
    created = _outcome(lambda: graph.append(accelerator.create_graph()))
    if created != "ok":
        return {"create_graph": created, "capture_to_graph": _outcome(lambda: accelerator.capture_to_graph(None)),
                "replay_graph": _outcome(lambda: accelerator.replay_graph(None))}  # fmt: skip
    x = torch.ones(4, device=accelerator.device_name())
    holder: list = []

    def capture() -> None:
        # Warm up on a side stream first, as CUDA graph capture requires.
        side = accelerator.Stream()
        side.wait_stream(accelerator.current_stream())
        with accelerator.stream(side):
            holder.append(x * 2)
        accelerator.current_stream().wait_stream(side)
        with accelerator.capture_to_graph(graph[0]):
            holder[0] = x * 3

    captured = _outcome(capture)
    replayed = _outcome(lambda: accelerator.replay_graph(graph[0])) if captured == "ok" else captured
    return {"create_graph": created, "capture_to_graph": captured, "replay_graph": replayed}


def check_common(accelerator: Accelerator, outcomes: Dict[str, str], tensors: bool = True) -> None:
    """What every backend must do, whatever it is; ``outcomes`` is ``exercise(accelerator)``. ``tensors``:
    the device can hold tensors (the fake device cannot: it has no allocator)."""
    name = accelerator.name()
    for member, outcome in outcomes.items():
        # Never an AttributeError (or anything else) from inside: a member works or says why not.
        assert outcome == "ok" or outcome.startswith("NotImplementedError: "), f"{name}.{member}: {outcome}"
        if outcome != "ok":
            assert name in outcome or "GPU" in outcome, f"{name}.{member} does not name the device: {outcome}"
    host = accelerator.is_synchronized_device()
    assert accelerator.device_name() == name
    assert accelerator.device_name(0) == (name if host else f"{name}:0")
    assert accelerator.device_name(torch.device("cuda", 1)) == (name if host else f"{name}:1")
    assert type(accelerator.current_device()) is int
    assert accelerator.current_device_name() in (name, f"{name}:{accelerator.current_device()}")
    assert accelerator.on_accelerator(torch.ones(1)) == (name == "cpu")
    env: Dict[str, str] = {}
    accelerator.set_visible_devices_envs(env, [2, 3])
    assert env == {var: "2,3" for var in accelerator.visible_devices_envs()}
    assert all(isinstance(prefix, str) and prefix for prefix in accelerator.export_envs())
    assert torch.float32 in accelerator.supported_dtypes()
    assert accelerator.create_op_builder("NoSuchBuilder") is None
    try:
        accelerator.set_compile_backend("no-such-backend")
    except ValueError as exc:
        assert accelerator.get_compile_backend() in str(exc)
    else:
        raise AssertionError("an unknown compile backend was accepted")
    if tensors and accelerator.is_available():
        start, end = accelerator.Event(enable_timing=True), accelerator.Event(enable_timing=True)
        start.record()
        torch.ones(64, device=accelerator.device_name()).sum()
        end.record()
        end.synchronize()
        assert start.elapsed_time(end) >= 0
        with accelerator.amp().autocast():
            a = torch.ones(4, 4, device=accelerator.device_name())
            assert (a @ a).dtype in (torch.float16, torch.bfloat16)
