"""``--target torch``: the table of exact PyTorch-native equivalents is checked against the installed
torch, the generated docs are current, and the post-pass keeps the engine's promises (imports, aliases,
check's fixes, idempotence, the CLI and config switch). Rewrites of whole files: tests/fixtures/_torch_target/."""

from __future__ import annotations

import inspect
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Callable

import libcst as cst
import pytest
import torch

from accelport.codemod.frontends import docs
from accelport.codemod.engine import torch_target
from accelport.codemod.engine.names import build_scopes
from accelport.codemod.settings import Settings
from accelport.codemod.engine.pipeline import transform_source
from accelport.rules.torch_native import ACCELERATOR_METHODS, FALLBACK, TORCH_NATIVE

from .conftest import REPO

ACCELERATOR_MODULES = ("cuda", "xpu", "mps", "mtia")
ACCELPORT = Path(sys.executable).parent / "accelport"
TORCH = Settings(target="torch")


def _resolve(target: str) -> Callable:
    """``torch.accelerator.synchronize`` -> the function; ``torch.get_device_module().X`` -> torch.cuda.X."""
    if "get_device_module()." in target:
        return getattr(torch.cuda, target.rsplit(".", 1)[1])
    obj = torch
    for part in target.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def test_every_emitted_method_is_decided_once() -> None:
    assert set(TORCH_NATIVE) | set(FALLBACK) == set(ACCELERATOR_METHODS)
    assert not set(TORCH_NATIVE) & set(FALLBACK)


@pytest.mark.parametrize("method", sorted(TORCH_NATIVE))
def test_native_target_exists_on_every_accelerator(method: str) -> None:
    target = TORCH_NATIVE[method].target
    assert callable(_resolve(target)), target
    if "get_device_module()." in target:
        name = target.rsplit(".", 1)[1]
        missing = [m for m in ACCELERATOR_MODULES if not hasattr(getattr(torch, m), name)]
        assert not missing, f"torch.{{{','.join(missing)}}} has no {name}"
    else:
        assert target.startswith("torch.accelerator."), target


@pytest.mark.parametrize("method", sorted(TORCH_NATIVE))
def test_native_params_are_the_cuda_functions_and_fit_the_target(method: str) -> None:
    native = TORCH_NATIVE[method]
    cuda_params = tuple(inspect.signature(getattr(torch.cuda, method)).parameters)
    assert native.params == cuda_params
    target_params = list(inspect.signature(_resolve(native.target)).parameters.values())
    positional = [p for p in target_params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) >= len(native.params)


def _outcome(fn: Callable, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ("returns", fn(*args))
        except Exception:  # noqa: BLE001 - which exception differs between torch.cuda and torch.accelerator
            return ("raises", None)


@pytest.mark.skipif(torch.accelerator.is_available(), reason="compares behaviour on a machine without an accelerator")
@pytest.mark.parametrize("method", sorted(TORCH_NATIVE))
def test_native_behaves_as_torch_cuda_without_an_accelerator(method: str) -> None:
    native = TORCH_NATIVE[method]
    args = (0,) if native.params and method == "set_device" else ()
    if "get_device_module()." in native.target:
        native_fn = getattr(torch.get_device_module(), native.target.rsplit(".", 1)[1], None)
        native_outcome = ("raises", None) if native_fn is None else _outcome(native_fn, *args)
    else:
        native_outcome = _outcome(_resolve(native.target), *args)
    assert native_outcome == _outcome(getattr(torch.cuda, method), *args)


@pytest.mark.skipif(torch.accelerator.is_available(), reason="compares behaviour on a machine without an accelerator")
@pytest.mark.parametrize("method", ["empty_cache", "memory_allocated", "memory_reserved", "memory_stats"])
def test_memory_fallback_reason_still_holds(method: str) -> None:
    """If PyTorch makes these return what torch.cuda's do without a GPU, they can move to TORCH_NATIVE."""
    assert _outcome(getattr(torch.cuda, method))[0] == "returns"
    assert _outcome(getattr(torch.accelerator, method)) == ("raises", None)


def test_targets_page_is_current() -> None:
    page = (REPO / "docs" / "targets.md").read_text(encoding="utf-8")
    assert page == docs.targets_with_table(page), "run: python -m accelport.codemod.frontends.docs"


# -- the post-pass --------------------------------------------------------------------------------
def test_check_shows_the_torch_native_fix() -> None:
    text = "import torch\n\n\ndef f(d):\n    torch.cuda.synchronize(device=d)\n    torch.cuda.empty_cache()\n"
    result = transform_source(text, "f.py", TORCH, want_fixes=True)
    assert [f.fix for f in result.fixes] == ["torch.accelerator.synchronize(d)", "get_accelerator().empty_cache"]
    assert "torch.accelerator.synchronize(d)" in result.new_text


def test_accelerator_target_is_unchanged_by_default() -> None:
    text = "import torch\n\ntorch.cuda.synchronize()\n"
    assert "get_accelerator().synchronize()" in transform_source(text, "f.py", Settings()).new_text


def test_deepspeed_runtime_fallbacks_import_from_deepspeed() -> None:
    text = "import torch\n\ntorch.cuda.synchronize()\ntorch.cuda.empty_cache()\n"
    out = transform_source(text, "f.py", Settings(runtime="deepspeed", target="torch")).new_text
    assert out == (
        "import torch\nfrom deepspeed.accelerator import get_accelerator\n\n"
        "torch.accelerator.synchronize()\nget_accelerator().empty_cache()\n"
    )


def test_torch_rebound_in_a_function_keeps_get_accelerator() -> None:
    text = "from torch import cuda\n\n\ndef run(torch):\n    cuda.synchronize()\n    return torch\n"
    out = transform_source(text, "f.py", TORCH).new_text
    assert "    get_accelerator().synchronize()\n" in out
    assert "torch.accelerator" not in out


def test_torch_bound_to_something_else_keeps_get_accelerator() -> None:
    # ``torch`` names a local object and no alias of the module exists: nothing can be spelled safely.
    text = "from torch.cuda import synchronize\n\ntorch = object()\nsynchronize()\n"
    out = transform_source(text, "f.py", TORCH).new_text
    assert "get_accelerator().synchronize()" in out
    assert "torch.accelerator" not in out


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import torch\n", ("torch", False)),
        ("import torch as th\n", ("th", False)),
        ("import torch.cuda\n", ("torch", False)),
        ("from torch import cuda\n", ("torch", True)),
        ("import numpy as np\n", ("torch", True)),
        ("torch = None\n", (None, False)),
    ],
)
def test_torch_name(source: str, expected) -> None:
    assert torch_target.torch_name(build_scopes(cst.parse_module(source)).root) == expected


def test_second_pass_changes_nothing_with_fallbacks_and_natives() -> None:
    text = "from torch.cuda import synchronize, empty_cache\n\nsynchronize()\nempty_cache()\n"
    first = transform_source(text, "f.py", TORCH).new_text
    assert first == (
        "import torch\nfrom accelport.accelerator_runtime import get_accelerator\n\n"
        "torch.accelerator.synchronize()\nget_accelerator().empty_cache()\n"
    )
    assert transform_source(first, "f.py", TORCH).new_text == first


# -- command line and config -------------------------------------------------------------------------
def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ACCELPORT), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_cli_target_option_and_config(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import torch\n\ntorch.cuda.synchronize()\n", encoding="utf-8")
    assert "+torch.accelerator.synchronize()" in _run(tmp_path, "rewrite", "--diff", "--target", "torch", "train.py").stdout
    assert "+get_accelerator().synchronize()" in _run(tmp_path, "rewrite", "--diff", "train.py").stdout
    (tmp_path / "pyproject.toml").write_text('[tool.accelport]\ntarget = "torch"\n', encoding="utf-8")
    checked = _run(tmp_path, "check", "train.py")
    assert checked.returncode == 1
    assert "-> `torch.accelerator.synchronize`" in checked.stdout
    # The command line wins over the config.
    assert "+get_accelerator()" in _run(tmp_path, "rewrite", "--diff", "--target", "accelerator", "train.py").stdout


def test_cli_bad_target_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import torch\n", encoding="utf-8")
    bad = _run(tmp_path, "rewrite", "--target", "xla", "train.py")
    assert bad.returncode == 2 and "--target" in bad.stderr
    (tmp_path / "pyproject.toml").write_text('[tool.accelport]\ntarget = "xla"\n', encoding="utf-8")
    bad = _run(tmp_path, "check", "train.py")
    assert bad.returncode == 2 and "target must be" in bad.stderr
