"""``[tool.accelport.mappings]``: validation, per-run triggers, and the CLI driven by a real pyproject.toml.
Rewrites of whole files: tests/fixtures/user-mapping/ (its accelport.toml holds the mappings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from accelport.codemod.frontends import config
from accelport.codemod.settings import Settings
from accelport.codemod.engine.pipeline import applicable, transform_source
from accelport.rules import registry
from accelport.rules.torch_cuda_call import SAME_NAME
from accelport.rules.torch_native import ACCELERATOR_METHODS
from accelport.rules.user_mapping import UserMapping, parse_mappings

ACCELPORT = Path(sys.executable).parent / "accelport"
MAPPINGS = (("myproj.utils.cuda_only_thing", "unported"), ("myproj.utils.gpu_sync", "synchronize"))

PYPROJECT = """\
[project]
name = "myproj"

[tool.accelport.mappings]
"myproj.utils.gpu_sync" = "synchronize"
"myproj.utils.cuda_only_thing" = "unported"
"""

TRAIN = """\
import torch
from myproj.utils import cuda_only_thing, gpu_sync as sync


def step(model, x, rank):
    y = model(x)
    sync(rank)
    cuda_only_thing(model)
    return y
"""


# -- validation -----------------------------------------------------------------------------------
def test_parse_mappings_sorts_and_accepts_methods_and_unported() -> None:
    table = {"myproj.utils.gpu_sync": "synchronize", "myproj.utils.cuda_only_thing": "unported"}
    assert parse_mappings(table) == MAPPINGS


def test_allowed_methods_include_every_same_name_port_and_what_other_rules_emit() -> None:
    assert SAME_NAME <= ACCELERATOR_METHODS
    assert {"device_name", "current_device_name", "on_accelerator", "pin_memory", "create_op_builder", "range_push"} <= ACCELERATOR_METHODS
    # The codemod writes torch.amp, never get_accelerator().amp(), which DeepSpeed removed.
    assert "amp" not in ACCELERATOR_METHODS


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"myproj.utils.gpu_sync": "synchronise"}, "'synchronise' is not a method of the accelerator interface"),
        ({"myproj.utils.gpu_sync": 3}, "must be a string"),
        ({"gpu_sync": "synchronize"}, "must be a qualified name"),
        ({"myproj.utils.gpu-sync": "synchronize"}, "must be a qualified name"),
        ({"torch.cuda.synchronize": "synchronize"}, "torch names are ported by the built-in rules"),
    ],
)
def test_parse_mappings_errors_name_the_key(table, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_mappings(table)
    key = next(iter(table))
    assert f"mappings.{key!r}" in str(raised.value)
    assert message in str(raised.value)


def test_config_load_validates_mappings(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT, encoding="utf-8")
    assert config.load(path)["mappings"] == MAPPINGS
    path.write_text('[tool.accelport.mappings]\n"myproj.utils.gpu_sync" = "sync_all"\n', encoding="utf-8")
    with pytest.raises(config.ConfigError, match=r"mappings\.'myproj\.utils\.gpu_sync'.*'sync_all'"):
        config.load(path)
    path.write_text('[tool.accelport]\nmappings = ["myproj.utils.gpu_sync"]\n', encoding="utf-8")
    with pytest.raises(config.ConfigError, match="mappings must be a table"):
        config.load(path)


# -- triggers per run -------------------------------------------------------------------------------
def test_without_mappings_the_rule_never_applies() -> None:
    rule = next(r for r in registry.rules_for(Settings()) if r.NAME == "user-mapping")
    assert rule.TRIGGERS == ()
    assert rule not in applicable(TRAIN, [rule])


def test_triggers_are_the_mapped_names_last_components() -> None:
    settings = Settings(mappings=MAPPINGS)
    rule = next(r for r in registry.rules_for(settings) if r.NAME == "user-mapping")
    assert isinstance(rule, UserMapping)
    assert rule.TRIGGERS == ("cuda_only_thing", "gpu_sync")
    assert rule is next(r for r in registry.rules_for(settings) if r.NAME == "user-mapping")
    assert applicable("import os\n", [rule]) == []
    assert applicable(TRAIN, [rule]) == [rule]


def test_mapped_call_is_ported_and_unported_reported() -> None:
    result = transform_source(TRAIN, "train.py", Settings(mappings=MAPPINGS))
    assert "    get_accelerator().synchronize(rank)\n" in result.new_text
    assert "    cuda_only_thing(model)\n" in result.new_text
    assert [(f.line, f.rule) for f in result.findings] == [(8, "user-mapping")]


def test_mapped_call_with_torch_target() -> None:
    result = transform_source(TRAIN, "train.py", Settings(mappings=MAPPINGS, target="torch"))
    assert "    torch.accelerator.synchronize(rank)\n" in result.new_text
    assert "get_accelerator" not in result.new_text.replace("get_accelerator().device_name()", "")


def test_ignored_rule_does_not_run() -> None:
    settings = Settings(mappings=MAPPINGS, rules=registry.select((), ("user-mapping",)))
    assert transform_source(TRAIN, "train.py", settings).new_text == TRAIN


# -- the command line, from a project with a pyproject.toml -------------------------------------------
def _project(tmp_path: Path, pyproject: str = PYPROJECT) -> Path:
    (tmp_path / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    package = tmp_path / "myproj"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "train.py").write_text(TRAIN, encoding="utf-8")
    return package / "train.py"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ACCELPORT), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_cli_check_and_rewrite_use_the_pyproject_mappings(tmp_path: Path) -> None:
    train = _project(tmp_path)
    checked = _run(tmp_path, "check", "myproj")
    assert checked.returncode == 1
    assert "myproj/train.py:7:5: user-mapping [*]" in checked.stdout
    assert "myproj/train.py:8:5: user-mapping `myproj.utils.cuda_only_thing` is declared CUDA-only" in checked.stdout

    rewritten = _run(tmp_path, "rewrite", "myproj")
    assert rewritten.returncode == 1  # the unported call still needs a person
    assert train.read_text(encoding="utf-8") == TRAIN.replace(
        "import torch\nfrom myproj.utils import cuda_only_thing, gpu_sync as sync\n",
        "import torch\nfrom myproj.utils import cuda_only_thing, gpu_sync as sync\n"
        "from accelport.accelerator_runtime import get_accelerator\n",
    ).replace("    sync(rank)\n", "    get_accelerator().synchronize(rank)\n")
    # A second run finds nothing more to rewrite.
    assert _run(tmp_path, "rewrite", "--check", "myproj").returncode == 1
    assert "would rewrite" not in _run(tmp_path, "rewrite", "--check", "myproj").stdout


def test_cli_torch_target_with_mappings(tmp_path: Path) -> None:
    _project(tmp_path, PYPROJECT.replace("[tool.accelport.mappings]", '[tool.accelport]\ntarget = "torch"\n\n[tool.accelport.mappings]'))
    diff = _run(tmp_path, "rewrite", "--diff", "myproj").stdout
    assert "+    torch.accelerator.synchronize(rank)\n" in diff
    assert "get_accelerator import" not in diff


def test_cli_unknown_method_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    _project(tmp_path, PYPROJECT.replace('"synchronize"', '"sync_everything"'))
    for command in ("check", "rewrite"):
        failed = _run(tmp_path, command, "myproj")
        assert failed.returncode == 2
        assert "mappings.'myproj.utils.gpu_sync'" in failed.stderr
        assert "'sync_everything' is not a method" in failed.stderr
