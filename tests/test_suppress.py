"""Suppression comments: which markers silence what, and reporting the ones that silence nothing."""

from __future__ import annotations

import pytest
from tests.cli_invoke import invoke as run_cli

from accelport.codemod.engine import suppress
from accelport.codemod.settings import Settings
from accelport.codemod.engine.pipeline import transform_source


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELPORT_CACHE_DIR", str(tmp_path / ".cache"))
    root = tmp_path / "p"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


def check(*args: str):
    return run_cli(["check", "-j", "1", *args])


def lines_reported(text: str) -> list:
    result = transform_source(text, "m.py", Settings(), want_fixes=True)
    return sorted(f.line for f in (*result.fixes, *result.findings))


def test_parse_forms():
    text = (
        "a()  # accelport: ignore\n"
        "b()  # accelport: ignore[torch-cuda-call, AP104]\n"
        "c()  #ignore-cuda\n"
        "d()  # noqa  # accelport:ignore[cuda-device-string]\n"
        's = "# accelport: ignore"\n'
    )
    found = suppress.parse(text)
    assert found.by_line == {
        1: suppress.ALL,
        2: frozenset({"torch-cuda-call", "cuda-device-string"}),  # codes are read as rule names
        3: suppress.ALL,
        4: frozenset({"cuda-device-string"}),
    }
    assert not found.whole_file


def test_marker_inside_a_string_does_not_count():
    text = 'import torch\nmsg = "x  # accelport: ignore-file"; torch.cuda.synchronize()  # a comment\n'
    assert not suppress.parse(text)
    assert lines_reported(text) == [2]


def test_bare_marker_silences_every_rule_on_its_line():
    text = "import torch\n\ntorch.cuda.synchronize()  # accelport: ignore\nx = torch.zeros(1).cuda()\n"
    assert lines_reported(text) == [4]


def test_rule_marker_silences_only_that_rule():
    text = (
        "import torch\n"
        'x = torch.zeros(1).to("cuda"); torch.cuda.synchronize()  # accelport: ignore[torch-cuda-call]\n'
        "torch.cuda.synchronize()  # accelport: ignore[AP101]\n"
        "torch.cuda.synchronize()  # accelport: ignore[cuda-device-string]\n"
    )
    result = transform_source(text, "m.py", Settings(), want_fixes=True)
    assert sorted((f.line, f.rule) for f in result.fixes) == [(2, "cuda-device-string"), (4, "torch-cuda-call")]


def test_deepspeed_marker():
    text = "import torch\n\ntorch.cuda.synchronize()  #ignore-cuda\ntorch.cuda.synchronize() # ignore-cuda\n"
    assert lines_reported(text) == []


def test_file_marker():
    text = "# accelport: ignore-file\nimport torch\n\ntorch.cuda.synchronize()\nx = torch.zeros(1).cuda()\n"
    assert lines_reported(text) == []


def test_marker_on_any_line_of_a_multi_line_site():
    text = "import torch\n\ny = torch.zeros(1).cuda(\n    0,\n)  # accelport: ignore\n"
    assert lines_reported(text) == []
    # The flagged expression of a torch.cuda call is its name: the marker goes on that line.
    text = "import torch\n\ny = torch.cuda.memory_allocated(  # accelport: ignore\n    0,\n)\n"
    assert lines_reported(text) == []


def test_suppressed_fix_is_not_rewritten_either():
    text = "import torch\n\ntorch.cuda.synchronize()  # accelport: ignore\n"
    assert transform_source(text, "m.py", Settings()).new_text == text


def test_suppressed_line_passes_check(project):
    (project / "m.py").write_text("import torch\n\ntorch.cuda.synchronize()  # accelport: ignore[torch-cuda-call]\n")
    result = check("m.py")
    assert (result.exit_code, result.stdout) == (0, "")


def test_report_unused_suppressions(project):
    (project / "m.py").write_text(
        "import torch\n"
        "\n"
        "torch.cuda.synchronize()  # accelport: ignore[torch-cuda-call, cuda-device-string]\n"
        "x = 1  # accelport: ignore\n"
        "torch.cuda.empty_cache()  #ignore-cuda\n"
    )
    assert check("m.py").exit_code == 0
    result = check("--report-unused-suppressions", "m.py")
    assert result.exit_code == 1
    assert result.stdout == (
        "m.py:3:1: unused-suppression suppression of 'cuda-device-string' silences nothing\n"
        "m.py:4:1: unused-suppression suppression of '*' silences nothing\n"
    )


def test_unused_suppression_in_a_file_no_rule_can_match(project):
    """The CUDA call was deleted; its marker stayed behind in a file that now has no CUDA at all."""
    (project / "m.py").write_text("def f():\n    return 1  # accelport: ignore\n")
    result = check("--report-unused-suppressions", "m.py")
    assert result.exit_code == 1
    assert result.stdout == "m.py:2:1: unused-suppression suppression of '*' silences nothing\n"


def test_markers_for_rules_that_are_not_running_are_not_reported_unused(project):
    (project / "m.py").write_text(
        "import torch\n"
        "\n"
        'x = torch.zeros(1).to("cuda")  # accelport: ignore[cuda-device-string, no-such-rule]\n'
    )
    result = check("--report-unused-suppressions", "--select", "torch-cuda-call", "m.py")
    assert result.stdout == "m.py:3:1: unused-suppression suppression of 'no-such-rule' silences nothing\n"
