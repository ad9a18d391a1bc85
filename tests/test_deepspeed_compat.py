"""``accelport rewrite --runtime deepspeed`` against the real ``deepspeed`` package on CPU.

DeepSpeed installs here without its native ops (``DS_BUILD_OPS=0 pip install --no-build-isolation
-c constraints/ci.txt deepspeed``, about 20 s, no other torch) and is run with ``DS_ACCELERATOR=cpu``.
Everything runs in subprocesses so that DeepSpeed's accelerator selection and logging stay out of
the test process.

DeepSpeed's CPU accelerator lacks what ports used to need (``amp()`` is gone from every DeepSpeed
accelerator since v0.18.7, its CPU ``Event`` is ``None``; see docs/targets.md's capability table). The
port now writes ``torch.amp`` and, with ``--runtime deepspeed``, ``make_event(get_accelerator(), ...)``,
so the two examples and a CUDA-only training script of the test's own
(``tests/fixtures/_programs/train_amp_ddp.py``: autocast, GradScaler, events, ``.cuda()``, NCCL, DDP)
train on CPU under DeepSpeed's accelerator, in one process and under torchrun with two ranks.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DS_IMPORT = "from deepspeed.accelerator import get_accelerator"
PROGRAM = REPO / "tests" / "fixtures" / "_programs" / "train_amp_ddp.py"
# PyTorch 2.13 on gloo sometimes aborts at interpreter exit after a clean run (see tests/test_e2e.py).
EXIT_ABORT = "terminate called without an active exception"


def _env(tmp: "Path | None" = None) -> dict:
    env = dict(os.environ, DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1")
    if tmp is not None:
        env["TMPDIR"] = str(tmp)  # the examples' default checkpoints: one folder per run
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "ACCELPORT_ACCELERATOR"):
        env.pop(name, None)
    return env


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120
    )


def test_deepspeed_is_installed():
    # Not a skip: CI installs deepspeed (see the module docstring); a missing package is a failure.
    result = _python("import deepspeed, torch; print(deepspeed.__version__, torch.__version__)", REPO)
    assert result.returncode == 0, "deepspeed is not importable: " + result.stderr[-1500:]


@pytest.fixture(scope="module")
def ported(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ds") / "examples"
    shutil.copytree(REPO / "examples", folder, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    shutil.copy(PROGRAM, folder / PROGRAM.name)
    result = subprocess.run(
        [sys.executable, "-m", "accelport", "rewrite", "--runtime", "deepspeed", "--no-cache", str(folder)],
        cwd=folder.parent, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: a reported site is left for a human
    return folder


def _accelerator_uses(path: Path) -> set:
    """Attribute names used on ``get_accelerator()`` (``amp`` too, when called as ``amp()``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "get_accelerator"
        ):
            names.add(node.attr)
    return names


def test_port_imports_deepspeed_accelerator(ported):
    for path in sorted(ported.glob("*.py")):
        text = path.read_text()
        assert DS_IMPORT in text, path.name
        assert "from accelport.accelerator_runtime import get_accelerator" not in text, path.name
        assert _accelerator_uses(path), path.name


def test_deepspeed_cpu_accelerator_has_what_the_port_calls(ported, tmp_path):
    used = sorted(set().union(*(_accelerator_uses(path) for path in ported.glob("*.py"))))
    probe = textwrap.dedent(
        f"""
        import json
        {DS_IMPORT}
        accelerator = get_accelerator()
        out = {{}}
        for name in {used!r}:
            if not hasattr(accelerator, name):
                out[name] = "missing"
            elif getattr(accelerator, name) is None:
                out[name] = "None"
        print(json.dumps({{"name": accelerator.device_name(), "gaps": out}}))
        """
    )
    result = _python(probe, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["name"] == "cpu"
    assert "amp" not in used and "Event" not in used, used
    assert report["gaps"] == {}, f"the port uses {used}; DeepSpeed's CPU accelerator lacks {report['gaps']}"


def test_port_writes_torch_amp_and_make_event(ported):
    text = (ported / PROGRAM.name).read_text()
    assert "torch.amp.autocast(get_accelerator().device_name(), dtype=torch.bfloat16)" in text
    assert "torch.amp.GradScaler(get_accelerator().device_name(), init_scale=2.0**10)" in text
    assert "start = make_event(get_accelerator(), enable_timing=True)" in text
    assert "from accelport.accelerator_runtime.events import make_event" in text
    code = text.split('"""', 2)[2]  # after the module docstring
    assert "torch.cuda" not in code and ".cuda(" not in code


def test_deepspeed_cpu_accelerator_runs_the_ported_calls(tmp_path):
    """Every other call the ported examples make, with the arguments they pass, on DeepSpeed's CPU."""
    script = textwrap.dedent(
        f"""
        import torch
        {DS_IMPORT}
        a = get_accelerator()
        local_rank = 0
        a.set_device(local_rank)
        assert a.communication_backend_name() == "gloo"
        device = torch.device(a.device_name(local_rank))
        assert device.type == "cpu" and a.device_name() == "cpu" and a.current_device_name() == "cpu"
        a.manual_seed(0); a.manual_seed_all(0)
        x = a.pin_memory(torch.randn(4, 3)).to(device, non_blocking=True)
        y = torch.ones(4).to(a.device_name(), non_blocking=True)
        assert a.on_accelerator(x)
        model = torch.nn.Linear(3, 1).to(a.device_name())
        ids = [a.current_device()] if a.device_name() != "cpu" else None
        assert ids is None
        probe = torch.zeros(4, device=a.current_device_name())
        a.reset_peak_memory_stats()
        a.synchronize()
        assert a.memory_allocated(a.current_device()) >= 0 and a.max_memory_allocated() >= 0
        assert isinstance(a.memory_stats(), dict)
        a.empty_cache()
        torch.save(model.state_dict(), "m.pt")
        state = torch.load("m.pt", map_location=a.device_name(local_rank))
        state = torch.load("m.pt", map_location=a.current_device_name())
        print("ok", len(state))
        """
    )
    result = _python(script, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "ok 2"


def _losses(stdout: str) -> list:
    return [float(v) for v in re.findall(r"^epoch \d+ loss ([0-9.]+)", stdout, re.M)]


RUNS = [
    ("train_cuda.py", ["--epochs", "2"]),
    ("finetune_cuda.py", ["--epochs", "1", "--resume-epochs", "1"]),
    (PROGRAM.name, ["--epochs", "2"]),
]


@pytest.mark.parametrize("name, args", RUNS, ids=[run[0] for run in RUNS])
def test_ported_program_trains_under_deepspeed_cpu(ported, tmp_path, name, args):
    result = subprocess.run(
        [sys.executable, str(ported / name), *args], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    losses = _losses(result.stdout)
    assert len(losses) >= 2 and losses[-1] < losses[0], result.stdout


@pytest.mark.parametrize("name, args", RUNS[1:], ids=[run[0] for run in RUNS[1:]])
def test_ported_program_trains_under_torchrun_two_ranks_deepspeed_cpu(ported, tmp_path, name, args):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(ported / name), *args]
    result = subprocess.run(command, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=180)
    if result.returncode != 0 and EXIT_ABORT in result.stderr and "Traceback" not in result.stderr.split(EXIT_ABORT)[0]:
        result = subprocess.run(command, cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    losses = _losses(result.stdout)
    assert len(losses) >= 2 and losses[-1] < losses[0], result.stdout
