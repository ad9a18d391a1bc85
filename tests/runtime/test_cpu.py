"""What a ported training script needs from the CPU accelerator, where PyTorch's CPU pieces fall short."""

from __future__ import annotations

import time

import pytest
import torch

from accelport.accelerator_runtime import CpuAccelerator


@pytest.fixture
def cpu() -> CpuAccelerator:
    return CpuAccelerator()


def test_events_time_host_work_in_milliseconds(cpu: CpuAccelerator) -> None:
    start, end = cpu.Event(enable_timing=True), cpu.Event(enable_timing=True)
    start.record()
    time.sleep(0.02)
    end.record()
    end.synchronize()
    assert end.query() and start.query()
    end.wait()
    assert 15 <= start.elapsed_time(end) < 2000


def test_event_timing_needs_enable_timing_and_recording(cpu: CpuAccelerator) -> None:
    with pytest.raises(RuntimeError, match="enable_timing"):
        cpu.Event().elapsed_time(cpu.Event())
    with pytest.raises(RuntimeError, match="recorded"):
        cpu.Event(enable_timing=True).elapsed_time(cpu.Event(enable_timing=True))


def test_streams_are_objects_and_context_managers(cpu: CpuAccelerator) -> None:
    stream = cpu.Stream()
    with cpu.stream(stream):
        with stream:
            x = torch.ones(2) * 2
    stream.synchronize()
    stream.wait_stream(cpu.current_stream())
    assert stream.query() and isinstance(stream.record_event(), cpu.Event)
    assert cpu.current_stream() == cpu.default_stream()
    assert x.sum().item() == 4


def test_amp_autocast_and_grad_scaler_with_cuda_call_shapes(cpu: CpuAccelerator) -> None:
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = cpu.amp().GradScaler()
    before = model.weight.detach().clone()
    with cpu.amp().autocast():
        out = model(torch.randn(8, 4))
    assert out.dtype == torch.bfloat16
    with cpu.amp().autocast(enabled=True, dtype=torch.float16):
        assert model(torch.randn(1, 4)).dtype == torch.float16
    with cpu.amp().autocast(enabled=False):
        assert model(torch.randn(1, 4)).dtype == torch.float32
    scaler.scale(out.float().pow(2).mean()).backward()
    scaler.step(optimizer)
    scaler.update()
    assert not torch.equal(before, model.weight)
    restored = cpu.amp().GradScaler(init_scale=1024.0)
    restored.load_state_dict(scaler.state_dict())
    assert restored.get_scale() == scaler.get_scale()


def test_ranges_show_up_in_profiler_traces(cpu: CpuAccelerator) -> None:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        cpu.range_push("accelport_forward")
        torch.ones(64).sum()
        cpu.range_pop()
    assert any(event.key == "accelport_forward" for event in prof.key_averages())
    with pytest.raises(RuntimeError, match="range_push"):
        cpu.range_pop()


def test_memory_statistics_track_resident_memory_and_reset(cpu: CpuAccelerator) -> None:
    cpu.reset_peak_memory_stats()
    base = cpu.memory_allocated()
    assert base > 0 and cpu.max_memory_allocated() >= base
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    grown = cpu.memory_allocated()
    assert grown > base + 32 * 2**20
    peak = cpu.max_memory_allocated()
    del block
    assert cpu.max_memory_allocated() >= peak >= grown
    stats = cpu.memory_stats()
    assert stats["allocated_bytes.all.peak"] >= stats["allocated_bytes.all.current"] > 0
    assert cpu.total_memory() >= cpu.available_memory() > 0


def test_pin_memory_without_an_accelerator_returns_the_tensor(cpu: CpuAccelerator) -> None:
    x = torch.ones(3)
    pinned = cpu.pin_memory(x)
    assert torch.equal(pinned, x)
    if not torch.cuda.is_available():
        assert pinned is x and not cpu.is_pinned(x)


def test_backend_is_gloo_or_ccl(cpu: CpuAccelerator, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelport.accelerator_runtime import cpu as cpu_module

    cpu_module._has_oneccl.cache_clear()
    monkeypatch.setattr(cpu_module.importlib.util, "find_spec", lambda name: object() if "oneccl" in name else None)
    assert CpuAccelerator().communication_backend_name() == "ccl"
    cpu_module._has_oneccl.cache_clear()
    monkeypatch.undo()
    assert CpuAccelerator().communication_backend_name() == "gloo"
    cpu_module._has_oneccl.cache_clear()


def test_rng_round_trip(cpu: CpuAccelerator) -> None:
    cpu.manual_seed(7)
    state = cpu.get_rng_state()
    a = torch.rand(3)
    cpu.set_rng_state(state)
    assert torch.equal(a, torch.rand(3))
    assert cpu.initial_seed() == 7 and cpu.default_generator(0) is torch.default_generator


def test_peak_is_the_largest_reading_since_the_last_reset(cpu: CpuAccelerator, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelport.accelerator_runtime import cpu_parts

    readings = iter([100, 500, 200, 150, 120, 130])
    monkeypatch.setattr(cpu_parts, "resident_bytes", lambda: next(readings))
    tracker = cpu_parts.MemoryTracker()
    assert tracker.current() == 100 and tracker.current() == 500 and tracker.current() == 200
    assert tracker.peak() == 500  # reads 150
    tracker.reset()  # reads 120
    assert tracker.peak() == 130
