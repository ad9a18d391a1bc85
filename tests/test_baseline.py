"""Baselines: today's findings recorded by rule, path and code fingerprint; only new ones fail."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from accelport.codemod.frontends import check_cli

LEGACY = "import torch\n\n\ndef step(x):\n    torch.cuda.synchronize()\n    return x.cuda()\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELPORT_CACHE_DIR", str(tmp_path / ".cache"))
    root = tmp_path / "p"
    root.mkdir()
    monkeypatch.chdir(root)
    (root / "legacy.py").write_text(LEGACY)
    return root


def check(*args: str):
    return CliRunner().invoke(check_cli.app, ["check", "-j", "1", *args], catch_exceptions=False)


def record(*paths: str):
    result = check("--baseline", "baseline.json", "--update-baseline", *(paths or (".",)))
    assert result.exit_code == 0, result.output
    return result


def test_update_records_rule_path_and_fingerprint_not_lines(project):
    result = record()
    assert "baseline baseline.json: 2 findings recorded" in result.stderr
    document = json.loads((project / "baseline.json").read_text())
    assert document["version"] == 1
    entries = document["findings"]
    assert [(e["rule"], e["path"], e["count"]) for e in entries] == sorted(
        [("torch-cuda-call", "legacy.py", 1), ("tensor-cuda-method", "legacy.py", 1)]
    )
    assert all(len(e["fingerprint"]) == 16 and "line" not in e for e in entries)


def test_recorded_findings_pass_even_after_lines_move(project):
    record()
    assert check("--baseline", "baseline.json", ".").exit_code == 0
    moved = "import os\nimport torch\n\n# a comment\n\ndef step(x):\n    os.sync()\n    torch.cuda.synchronize()\n    return x.cuda()\n"
    (project / "legacy.py").write_text(moved)
    result = check("--baseline", "baseline.json", ".")
    assert (result.exit_code, result.stdout) == (0, "")


def test_a_new_finding_fails_and_only_it_is_reported(project):
    record()
    (project / "legacy.py").write_text(LEGACY + "\n\ndef free():\n    torch.cuda.empty_cache()\n")
    result = check("--baseline", "baseline.json", ".")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "legacy.py:10:5: torch-cuda-call [*] `torch.cuda.empty_cache` -> `get_accelerator().empty_cache`"
    ]


def test_a_second_copy_of_a_recorded_call_is_new(project):
    record()
    (project / "legacy.py").write_text(LEGACY.replace("    return", "    torch.cuda.synchronize()\n    return"))
    result = check("--baseline", "baseline.json", ".")
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1 and "torch-cuda-call" in result.stdout


def test_a_new_file_with_the_same_call_is_new(project):
    record()
    (project / "other.py").write_text(LEGACY)
    result = check("--baseline", "baseline.json", ".")
    assert result.exit_code == 1
    assert {line.split(":")[0] for line in result.stdout.splitlines()} == {"other.py"}


def test_update_drops_fixed_findings(project):
    record()
    (project / "legacy.py").write_text(LEGACY.replace("    torch.cuda.synchronize()\n", ""))
    result = record()
    assert "1 finding recorded" in result.stderr
    entries = json.loads((project / "baseline.json").read_text())["findings"]
    assert [e["rule"] for e in entries] == ["tensor-cuda-method"]


def test_update_on_some_files_keeps_the_others_and_drops_deleted_files(project):
    (project / "b.py").write_text(LEGACY)
    (project / "c.py").write_text(LEGACY)
    record()
    (project / "c.py").unlink()
    (project / "legacy.py").write_text("x = 1\n")
    record("legacy.py")  # as a hook run on the files of one commit would
    paths = {e["path"] for e in json.loads((project / "baseline.json").read_text())["findings"]}
    assert paths == {"b.py"}


def test_paths_are_relative_to_the_baseline_file(project, monkeypatch):
    (project / "pkg").mkdir()
    (project / "pkg" / "m.py").write_text(LEGACY)
    record()
    assert {e["path"] for e in json.loads((project / "baseline.json").read_text())["findings"]} == {"legacy.py", "pkg/m.py"}
    monkeypatch.chdir(project / "pkg")
    result = check("--baseline", "../baseline.json", ".")
    assert (result.exit_code, result.stdout) == (0, "")


def test_missing_baseline_means_every_finding_is_new(project):
    result = check("--baseline", "absent.json", ".")
    assert result.exit_code == 1 and len(result.stdout.splitlines()) == 2


@pytest.mark.parametrize("text", ["not json", "[]", '{"version": 7, "findings": []}', '{"version": 1}'])
def test_invalid_baseline_is_a_usage_error(project, text):
    (project / "baseline.json").write_text(text)
    result = check("--baseline", "baseline.json", ".")
    assert result.exit_code == 2
    assert "baseline.json" in result.stderr


def test_update_needs_a_baseline_file(project):
    result = check("--update-baseline", ".")
    assert result.exit_code == 2 and "--update-baseline needs --baseline" in result.stderr
