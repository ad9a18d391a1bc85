"""``make_event``: the accelerator's own event where it has a device event, a host-clock one elsewhere."""

from __future__ import annotations

import time

from accelport.accelerator_runtime.cpu import CpuAccelerator
from accelport.accelerator_runtime.cpu_parts import CpuEvent
from accelport.accelerator_runtime.events import make_event


class DeviceEvent:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class GpuLike:
    """What DeepSpeed's and accelport's CUDA accelerators look like to make_event."""

    Event = DeviceEvent

    def use_host_timers(self):
        return False


class DeepSpeedCpuLike:
    """DeepSpeed's CPU accelerator: Event is None and timers run on the host."""

    Event = None

    def use_host_timers(self):
        return True


def test_device_event_is_the_accelerators_own_with_the_callers_arguments():
    event = make_event(GpuLike(), True, blocking=True)
    assert isinstance(event, DeviceEvent)
    assert event.args == (True,) and event.kwargs == {"blocking": True}


def test_host_event_where_the_accelerator_has_none_times_in_milliseconds():
    start, end = make_event(DeepSpeedCpuLike(), enable_timing=True), make_event(DeepSpeedCpuLike(), enable_timing=True)
    assert isinstance(start, CpuEvent)
    start.record()
    time.sleep(0.02)
    end.record()
    end.synchronize()
    assert start.query() and start.elapsed_time(end) >= 15.0


def test_accelport_cpu_accelerator_gives_its_host_event():
    assert isinstance(make_event(CpuAccelerator(), enable_timing=True), CpuEvent)
