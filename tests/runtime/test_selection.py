"""How get_accelerator() chooses, how third-party accelerators plug in, and that importing is cheap."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from accelport.accelerator_runtime import CpuAccelerator, CudaAccelerator, selection


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ACCELPORT_ACCELERATOR", raising=False)
    monkeypatch.delenv("DS_ACCELERATOR", raising=False)
    selection.reset_accelerator()
    yield
    selection.reset_accelerator()


def test_detection_on_this_machine_and_caching() -> None:
    import torch

    first = selection.get_accelerator()
    assert isinstance(first, CudaAccelerator if torch.cuda.is_available() else CpuAccelerator)
    assert selection.get_accelerator() is first


def test_environment_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_ACCELERATOR", "cuda")
    monkeypatch.setenv("ACCELPORT_ACCELERATOR", "cpu")
    assert isinstance(selection.get_accelerator(), CpuAccelerator)
    selection.reset_accelerator()
    monkeypatch.delenv("ACCELPORT_ACCELERATOR")
    assert isinstance(selection.get_accelerator(), CudaAccelerator)


def test_unknown_name_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELPORT_ACCELERATOR", "tpu9000")
    with pytest.raises(selection.UnknownAccelerator, match=r"ACCELPORT_ACCELERATOR=tpu9000: .*known: .*cpu, cuda"):
        selection.get_accelerator()


def test_set_accelerator_wins_and_refuses_incomplete_objects() -> None:
    chosen = CpuAccelerator()
    selection.set_accelerator(chosen)
    assert selection.get_accelerator() is chosen

    class Half:
        def device_name(self, device_index=None):
            return "npu"

    with pytest.raises(TypeError, match=r"missing: .*synchronize"):
        selection.set_accelerator(Half())  # type: ignore[arg-type]


def _run(code: str, env_extra: dict, path: Path = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **env_extra}
    if path is not None:
        env["PYTHONPATH"] = f"{path}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120)


def test_third_party_accelerator_from_an_entry_point(tmp_path: Path) -> None:
    """A throwaway distribution on sys.path registers ``myaccel`` under ``accelport.accelerators``."""
    (tmp_path / "myaccel").mkdir()
    (tmp_path / "myaccel" / "__init__.py").write_text(textwrap.dedent("""
        from accelport.accelerator_runtime.cpu import CpuAccelerator

        class MyAccelerator(CpuAccelerator):
            def __init__(self):
                super().__init__()
                self._name = "myaccel"

            def device_name(self, device_index=None):
                return "cpu"
    """))
    info = tmp_path / "myaccel-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myaccel\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[accelport.accelerators]\nmyaccel = myaccel:MyAccelerator\n")
    done = _run(
        """
        from accelport.accelerator_runtime import get_accelerator
        from accelport.accelerator_runtime.selection import known_names
        print(type(get_accelerator()).__name__, get_accelerator().name(), known_names())
        """,
        {"ACCELPORT_ACCELERATOR": "myaccel"},
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["MyAccelerator", "myaccel"] and "'myaccel'" in done.stdout


def test_importing_the_runtime_touches_no_device_and_builds_nothing() -> None:
    done = _run(
        """
        import sys
        import accelport.accelerator_runtime as runtime
        assert "torch" not in sys.modules, "importing the runtime imported torch"
        a = runtime.get_accelerator()
        import torch
        assert not torch.cuda.is_initialized()
        assert not [m for m in sys.modules if m.startswith("accelport.kernels")], "a kernel module was loaded"
        print("ok")
        """,
        {},
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
