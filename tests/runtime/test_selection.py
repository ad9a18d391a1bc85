"""How get_accelerator() chooses, how third-party accelerators plug in, and that importing is cheap."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from accelport.accelerator_runtime import CpuAccelerator, CudaAccelerator, TorchAccelerator, selection
from accelport.accelerator_runtime.devices import DEVICES, UnavailableAccelerator


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
    monkeypatch.setenv("DS_ACCELERATOR", "torch:cpu")
    monkeypatch.setenv("ACCELPORT_ACCELERATOR", "cpu")
    assert isinstance(selection.get_accelerator(), CpuAccelerator)
    assert selection.reason() == "ACCELPORT_ACCELERATOR=cpu"
    selection.reset_accelerator()
    monkeypatch.delenv("ACCELPORT_ACCELERATOR")
    chosen = selection.get_accelerator()
    assert type(chosen) is TorchAccelerator and chosen.name() == "cpu"
    assert selection.reason() == "DS_ACCELERATOR=torch:cpu"


def test_unknown_name_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELPORT_ACCELERATOR", "tpu9000")
    with pytest.raises(selection.UnknownAccelerator, match=r"ACCELPORT_ACCELERATOR=tpu9000: .*known: .*cpu, cuda, .*npu"):
        selection.get_accelerator()


@pytest.mark.parametrize("name", selection.DEEPSPEED_NAMES)
def test_every_deepspeed_name_is_accepted(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """DS_ACCELERATOR values DeepSpeed users already set are known: they run, or say what is missing."""
    monkeypatch.setenv("DS_ACCELERATOR", name)
    try:
        chosen = selection.get_accelerator()
    except UnavailableAccelerator as exc:
        message = str(exc)
        assert message.startswith(f"DS_ACCELERATOR={name}: ") and "needs " in message, message
    else:
        assert chosen.is_available() and chosen.name() == name.split(".")[0]


@pytest.mark.parametrize("name", ["npu", "hpu", "mlu", "sdaa", "supa"])
def test_a_vendor_device_without_its_package_names_the_package(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    provider = DEVICES[name].provider
    if importlib.util.find_spec(provider.split(".")[0]) is not None:
        pytest.skip(f"{provider} is installed here")
    monkeypatch.setenv("ACCELPORT_ACCELERATOR", name)
    with pytest.raises(UnavailableAccelerator, match=rf"ACCELPORT_ACCELERATOR={name}: needs .*; {provider} is not installed"):
        selection.get_accelerator()


def test_cuda_asked_for_on_a_cpu_only_torch_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    monkeypatch.setenv("ACCELPORT_ACCELERATOR", "cuda")
    expected = "is built without cuda support; needs a CUDA or ROCm build" if torch.version.cuda is None else "finds no cuda device; needs an NVIDIA GPU"
    with pytest.raises(UnavailableAccelerator, match=expected):
        selection.get_accelerator()


def test_torch_prefix_gives_the_generic_accelerator_for_any_type() -> None:
    generic = selection.create("torch:cuda")
    assert type(generic) is TorchAccelerator and generic.name() == "cuda"
    assert type(selection.create("cuda")) is CudaAccelerator


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


def _distribution(root: Path, name: str, entry_points: str, modules: dict) -> None:
    """A throwaway installed distribution under ``root`` (a dist-info folder and its modules)."""
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


HEAVY_VENDOR = """
    raise ImportError("heavy vendor code was imported although its probe said no")
"""
QUICK = """
    from accelport.accelerator_runtime.cpu import CpuAccelerator

    class QuickAccelerator(CpuAccelerator):
        def __init__(self):
            super().__init__()
            self._name = "quick"
"""


def test_entry_point_probes_decide_without_importing_vendor_code(tmp_path: Path) -> None:
    """``slow`` registers a probe that says no: its class module (which would fail) is never imported.
    ``quick`` says yes and is chosen before torch is asked."""
    _distribution(
        tmp_path, "slowaccel",
        "[accelport.accelerators]\nslow = slow_impl:SlowAccelerator\n[accelport.accelerator_probes]\nslow = slow_probe:available\n",
        {"slow_impl": HEAVY_VENDOR, "slow_probe": "def available():\n    return False\n"},
    )  # fmt: skip
    _distribution(
        tmp_path, "quickaccel",
        "[accelport.accelerators]\nquick = quick_impl:QuickAccelerator\n[accelport.accelerator_probes]\nquick = quick_probe:available\n",
        {"quick_impl": QUICK, "quick_probe": "def available():\n    return True\n"},
    )  # fmt: skip
    done = _run(
        """
        import sys
        from accelport.accelerator_runtime import get_accelerator, selection
        a = get_accelerator()
        print(a.name(), "|", selection.reason(), "|", "slow_impl" in sys.modules)
        print(selection.describe())
        """,
        {},
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    first, *rest = done.stdout.splitlines()
    assert first == "quick | entry point quick (quick_impl:QuickAccelerator): its probe says available | False"
    assert "  no  slow      entry point slow_impl:SlowAccelerator: its probe says not available" in rest
    assert "  yes quick     entry point quick_impl:QuickAccelerator: its probe says available" in rest


def test_an_environment_variable_beats_an_available_entry_point(tmp_path: Path) -> None:
    _distribution(
        tmp_path, "quickaccel",
        "[accelport.accelerators]\nquick = quick_impl:QuickAccelerator\n",
        {"quick_impl": QUICK},
    )  # fmt: skip
    done = _run(
        "from accelport.accelerator_runtime import get_accelerator\nprint(type(get_accelerator()).__name__)",
        {"ACCELPORT_ACCELERATOR": "cpu"},
        tmp_path,
    )
    assert done.returncode == 0 and done.stdout.split() == ["CpuAccelerator"], done.stderr
    # Without the variable, the entry point (no probe: its class is asked) wins over the CPU.
    done = _run("from accelport.accelerator_runtime import get_accelerator\nprint(get_accelerator().name())", {}, tmp_path)
    assert done.returncode == 0 and done.stdout.split() == ["quick"], done.stderr


def test_detection_reaches_a_fake_torch_device_and_accepts_its_name(tmp_path: Path) -> None:
    """Step 4: torch.accelerator.current_accelerator() is the fake PrivateUse1 device; DS_ACCELERATOR
    accepts its name as a torch device type; an absent vendor device still says what is missing."""
    here = Path(__file__).resolve().parent
    code = """
        import fake_device
        fake_device.register()
        from accelport.accelerator_runtime import get_accelerator, selection, UnavailableAccelerator
        try:
            a = get_accelerator()
            print(type(a).__name__, a.name(), "|", selection.reason())
        except UnavailableAccelerator as exc:
            print("unavailable |", exc)
    """
    for env, expected in (
        ({}, "TorchAccelerator fakeaccel | torch.accelerator.current_accelerator() is fakeaccel"),
        ({"DS_ACCELERATOR": "fakeaccel"}, "TorchAccelerator fakeaccel | DS_ACCELERATOR=fakeaccel"),
        ({"ACCELPORT_ACCELERATOR": "cpu"}, "CpuAccelerator cpu | ACCELPORT_ACCELERATOR=cpu"),
    ):
        done = _run(code, {"ACCELPORT_ACCELERATOR": "", "DS_ACCELERATOR": "", **env}, here)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == expected


def test_accelport_info_and_python_m_print_the_choice_and_every_candidate(tmp_path: Path) -> None:
    for command in (["-m", "accelport", "info"], ["-m", "accelport.accelerator_runtime"]):
        done = subprocess.run([sys.executable, *command], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                              env={**__import__("os").environ, "ACCELPORT_ACCELERATOR": "cpu"})  # fmt: skip
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[:2] == ["accelerator: cpu (CpuAccelerator)", "why: ACCELPORT_ACCELERATOR=cpu"]
        listed = {line.split()[1] for line in lines if line.startswith("  ")}
        assert listed >= set(DEVICES), lines
        assert "  yes cpu       device table: available" in lines
    done = subprocess.run([sys.executable, "-m", "accelport", "info"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=120, env={**__import__("os").environ, "ACCELPORT_ACCELERATOR": "npu"})  # fmt: skip
    if importlib.util.find_spec("torch_npu") is None:
        assert done.returncode == 2 and "error: ACCELPORT_ACCELERATOR=npu: needs the torch_npu package" in done.stdout
