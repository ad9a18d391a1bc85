"""``accelport explain NAME``: answers come from the rules' own tables and docstrings."""

from __future__ import annotations

import pytest
from tests.cli_invoke import invoke as run_cli

from accelport.codemod.frontends import explain as explain_mod
from accelport.rules.registry import ALL_RULES
from accelport.rules.torch_cuda_call import SAME_NAME
from accelport.rules.torch_native import FALLBACK, TORCH_NATIVE
from accelport.rules.unported_cuda_api import ADVICE


def explain(name: str):
    return run_cli(["explain", name])


def test_same_name_call_names_rule_method_and_torch_native():
    out = explain("torch.cuda.synchronize")
    assert out.exit_code == 0
    assert "rule: torch-cuda-call (AP101)" in out.stdout
    assert "runtime method: get_accelerator().synchronize\n" in out.stdout
    assert f"with --target torch: {TORCH_NATIVE['synchronize'].target}(...)" in out.stdout


def test_fallback_says_why_it_stays_an_accelerator_call():
    out = explain("torch.cuda.empty_cache").stdout
    assert f"stays get_accelerator().empty_cache, because {FALLBACK['empty_cache']}" in out


def test_unported_api_gives_the_advice():
    out = explain("torch.cuda.get_device_name")
    assert out.exit_code == 0
    assert "rule: unported-cuda-api (AP102)" in out.stdout
    assert f"what to do: {ADVICE['torch.cuda.get_device_name']}" in out.stdout


@pytest.mark.parametrize("name", ["synchronize", "cuda.synchronize", "torch.cuda.memory.empty_cache"])
def test_short_and_submodule_spellings(name):
    assert "rule: torch-cuda-call" in explain(name).stdout


def test_reshaped_and_current_device():
    assert "rewritten to torch.amp.autocast(get_accelerator().device_name(), ...)" in explain("torch.cuda.amp.autocast").stdout
    assert "device_type=get_accelerator().device_name()" in explain("torch.cuda.amp.custom_fwd").stdout
    out = explain("torch.cuda.current_device").stdout
    assert "rule: current-device (AP103)" in out and "current_device_name()" in out


@pytest.mark.parametrize("text, call", [("cuda:0", "device_name(0)"), ("'cuda'", "device_name()"), ("cuda:3", "device_name(3)")])
def test_device_strings(text, call):
    out = explain(text).stdout
    assert "rule: cuda-device-string (AP104)" in out and f"get_accelerator().{call}" in out


@pytest.mark.parametrize("name", ["current-device", "AP103", "ap103"])
def test_rule_prints_its_docstring_plainly(name):
    out = explain(name)
    assert out.exit_code == 0
    assert out.stdout.startswith("current-device (AP103), rewrites\n")
    assert "WHAT IT DOES\n" in out.stdout and "## " not in out.stdout and "```" not in out.stdout
    assert "    x = x.to(torch.cuda.current_device())\n" in out.stdout


def test_every_rule_and_every_same_name_call_is_explained():
    for rule in ALL_RULES:
        assert explain_mod.explain(rule.CODE)[0].startswith(f"{rule.NAME} ({rule.CODE})")
    for name in SAME_NAME:
        assert any(line.startswith("runtime method") for line in explain_mod.explain(f"torch.cuda.{name}"))


def test_patterns():
    assert "get_accelerator().on_accelerator(x)" in explain("x.is_cuda").stdout
    assert "rule: nccl-backend" in explain("'nccl'").stdout


def test_unknown_name_exits_2_with_close_matches():
    out = run_cli(["explain", "torch.cuda.synchronise"])
    assert out.exit_code == 2
    assert "unknown name 'torch.cuda.synchronise'; did you mean torch.cuda.synchronize?" in out.output
    out = run_cli(["explain", "curent-device"])
    assert out.exit_code == 2 and "did you mean current-device" in out.output
    with pytest.raises(explain_mod.UnknownName):
        explain_mod.explain("numpy.zeros")


def test_unlisted_torch_cuda_name_is_explained_as_unported():
    out = explain("torch.cuda.is_initialized")
    assert out.exit_code == 0 and "reported as unported" in out.stdout


def test_runtime_gaps_come_from_the_capability_table():
    event = explain("torch.cuda.Event").stdout
    assert "make_event(get_accelerator(), ...)" in event
    assert "with --runtime deepspeed: ported with a caveat finding: `get_accelerator().Event`: Event is None" in event
    device = explain("torch.cuda.device").stdout
    assert "with --runtime deepspeed: left and reported" in device and "set_device(i)" in device
    assert "--runtime accelport" not in explain("torch.cuda.synchronize").stdout
