"""The CPU Adam kernel is really JIT-built here and matches torch.optim; builders behave; fallbacks work."""

from __future__ import annotations

import io
import os
import time
import warnings
from pathlib import Path

import pytest
import torch

from accelport.accelerator_runtime import CpuAccelerator
from accelport.kernels import BuildError, CPUAdam, CPUAdamBuilder, FusedAdam, FusedAdamBuilder, OpBuilder, builder as builder_mod
from accelport.kernels import optimizers


@pytest.fixture(scope="session")
def cpu_adam_module(tmp_path_factory: pytest.TempPathFactory):
    """Built once per test session in a private folder (about 20 s on two cores)."""
    before = dict(os.environ)
    module = CPUAdamBuilder(build_dir=tmp_path_factory.mktemp("build") / "cpu_adam").load()
    assert dict(os.environ) == before, "the build changed os.environ"
    return module


def _params(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(300, 37, generator=generator), torch.randn(513, generator=generator), torch.randn(7, 3, generator=generator)]


def _groups(params, weight_decay: float):
    return [
        {"params": params[:2], "lr": 1e-2, "weight_decay": weight_decay},
        {"params": params[2:], "lr": 3e-3, "betas": (0.8, 0.99), "weight_decay": 0.0},
    ]


def _train(opt_a, opt_b, a, b, steps: int = 20, seed: int = 1) -> float:
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        grads = [torch.randn(p.shape, generator=generator) for p in a]
        for p, g in zip(a, grads):
            p.grad = g.clone()
        for p, g in zip(b, grads):
            p.grad = g.clone()
        opt_a.step()
        opt_b.step()
    return max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(a, b))


@pytest.mark.parametrize("adamw", [True, False], ids=["AdamW", "Adam"])
def test_kernel_matches_torch_over_20_steps_with_param_groups(cpu_adam_module, adamw: bool) -> None:
    base = _params()
    a = [p.clone().requires_grad_() for p in base]
    b = [p.clone().requires_grad_() for p in base]
    ours = CPUAdam(_groups(a, 0.1), adamw_mode=adamw)
    assert ours.uses_kernel
    reference = (torch.optim.AdamW if adamw else torch.optim.Adam)(_groups(b, 0.1), foreach=False)
    assert _train(ours, reference, a, b) <= 1e-6


def test_no_bias_correction_matches_the_reference_math(cpu_adam_module) -> None:
    base = _params(3)
    a = [p.clone().requires_grad_() for p in base]
    b = [p.clone() for p in base]
    ours = CPUAdam([{"params": a}], lr=1e-2, weight_decay=0.05, adamw_mode=False, bias_correction=False)
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in b]
    generator = torch.Generator().manual_seed(4)
    for step in range(1, 6):
        grads = [torch.randn(p.shape, generator=generator) for p in a]
        for p, g in zip(a, grads):
            p.grad = g
        ours.step()
        for p, g, (m, v) in zip(b, grads, state):
            optimizers.adam_reference(p, g, m, v, step, 1e-2, 0.9, 0.999, 1e-8, 0.05, False, False)
    assert max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(a, b)) <= 1e-6


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_copy_written_in_the_same_pass(cpu_adam_module, dtype: torch.dtype) -> None:
    param = torch.randn(10_001).requires_grad_()
    copy = torch.empty(10_001, dtype=dtype)
    opt = CPUAdam([param], lr=1e-2)
    param.grad = torch.randn(10_001)
    opt.step(param_copies={param: copy})
    assert torch.equal(copy, param.detach().to(dtype))


def test_state_dict_round_trip_continues_identically(cpu_adam_module) -> None:
    base = _params(5)
    a = [p.clone().requires_grad_() for p in base]
    opt = CPUAdam(_groups(a, 0.01))
    for _ in range(3):
        for p in a:
            p.grad = torch.randn(p.shape)
        opt.step()
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)  # as a checkpoint would
    buffer.seek(0)
    saved = torch.load(buffer)
    b = [p.detach().clone().requires_grad_() for p in a]
    restored = CPUAdam(_groups(b, 0.01))
    restored.load_state_dict(saved)
    assert _train(opt, restored, a, b, steps=5, seed=9) == 0.0


def test_fallback_matches_torch_and_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(optimizers, "_warned", set())

    class NoCompiler(CPUAdamBuilder):
        def is_compatible(self):
            return False, "no C++ compiler on PATH"

    monkeypatch.setattr(builder_mod, "_loaded", {})
    base = _params(7)
    a = [p.clone().requires_grad_() for p in base]
    b = [p.clone().requires_grad_() for p in base]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = CPUAdam(_groups(a, 0.1), builder=NoCompiler())
        CPUAdam(_groups(a, 0.1), builder=NoCompiler())
    messages = [str(w.message) for w in caught if "accelport" in str(w.message)]
    assert len(messages) == 1 and "no C++ compiler" in messages[0] and "fallback" in messages[0]
    assert not ours.uses_kernel
    assert _train(ours, torch.optim.AdamW(_groups(b, 0.1), foreach=False), a, b) <= 1e-6


def test_disable_jit_forces_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builder_mod, "_loaded", {})
    monkeypatch.setenv("ACCELPORT_DISABLE_JIT", "1")
    with pytest.raises(BuildError, match="ACCELPORT_DISABLE_JIT"):
        CPUAdamBuilder().load()


def test_amsgrad_is_refused() -> None:
    with pytest.raises(ValueError, match="amsgrad"):
        CPUAdam([torch.zeros(1, requires_grad=True)], amsgrad=True)


def test_build_error_names_the_folder_and_a_stale_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builder_mod, "_loaded", {})
    broken = tmp_path / "broken.cpp"
    broken.write_text("this is not C++\n")

    class Broken(OpBuilder):
        NAME = "accelport_broken_op"

        def sources(self):
            return [str(broken)]

    folder = tmp_path / "build"
    with pytest.raises(BuildError, match=f"building accelport_broken_op in {folder}"):
        Broken(build_dir=folder).load()
    (folder / "lock").write_text("")
    old = time.time() - 3600
    os.utime(folder / "lock", (old, old))
    with pytest.raises(BuildError, match=r"stale lock file .*lock.* remove it"):
        Broken(build_dir=folder).load()


def test_third_party_builder_with_sources_outside_the_package(tmp_path: Path) -> None:
    source = tmp_path / "triple.cpp"
    source.write_text(
        "#include <torch/extension.h>\n"
        "torch::Tensor triple(torch::Tensor x) { return x * 3; }\n"
        "PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def(\"triple\", &triple); }\n"
    )

    class Triple(OpBuilder):
        NAME = "accelport_test_triple"

        def sources(self):
            return [str(source)]

    module = Triple(build_dir=tmp_path / "build").load()
    assert torch.equal(module.triple(torch.ones(2)), torch.full((2,), 3.0))
    assert Triple().load() is module  # cached for the process


def test_accelerator_creates_the_cpu_builder(cpu_adam_module) -> None:
    accelerator = CpuAccelerator()
    assert accelerator.get_op_builder("CPUAdamBuilder") is CPUAdamBuilder
    assert accelerator.create_op_builder("CPUAdamBuilder").load() is cpu_adam_module
    assert accelerator.create_op_builder("FusedAdamBuilder") is None


def test_fused_adam_reports_why_it_cannot_build_here() -> None:
    ok, reason = FusedAdamBuilder().is_compatible()
    if not torch.cuda.is_available():
        assert not ok and reason


def test_fused_adam_without_a_gpu_runs_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the kernel path is tested below")
    monkeypatch.setattr(optimizers, "_warned", set())
    base = _params(11)
    a = [p.clone().requires_grad_() for p in base]
    b = [p.clone().requires_grad_() for p in base]
    with pytest.warns(RuntimeWarning, match="FusedAdam|fused_adam|cannot be built"):
        ours = FusedAdam(_groups(a, 0.1))
    assert _train(ours, torch.optim.AdamW(_groups(b, 0.1), foreach=False), a, b) <= 1e-6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and toolkit")
def test_fused_adam_kernel_matches_torch_on_gpu(tmp_path: Path) -> None:  # pragma: no cover - GPU machines only
    base = [p.cuda() for p in _params(13)] + [torch.randn(5_000_000, device="cuda")]
    a = [p.clone().requires_grad_() for p in base]
    b = [p.clone().requires_grad_() for p in base]
    ours = FusedAdam(_groups(a, 0.1), builder=FusedAdamBuilder(build_dir=tmp_path / "fused"))
    assert ours.uses_kernel
    reference = torch.optim.AdamW(_groups(b, 0.1), foreach=False)
    generator = torch.Generator(device="cuda").manual_seed(1)
    for _ in range(20):
        grads = [torch.randn(p.shape, generator=generator, device="cuda") for p in a]
        for p, g in zip(a, grads):
            p.grad = g.clone()
        for p, g in zip(b, grads):
            p.grad = g.clone()
        ours.step()
        reference.step()
    assert max(((x - y).abs().max() / y.abs().max()).item() for x, y in zip(a, b)) <= 1e-5
