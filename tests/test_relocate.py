"""After ``rewrite`` writes a file, the findings it prints point at the file as it is on disk."""

from __future__ import annotations

from pathlib import Path

from accelport.codemod.run.relocate import relocate
from accelport.codemod.results import Finding

from tests.test_cli import accelport, write

SOURCE = """\
import torch

x = torch.randn(3).cuda()
cap = torch.cuda.get_device_capability()
y = x.cuda(); name = torch.cuda.get_device_name(0)
"""


def _located(text: str, line: int, col: int, snippet: str) -> bool:
    return text.splitlines()[line - 1][col - 1 :].startswith(snippet)


def test_printed_positions_point_at_the_rewritten_file(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write(work, {"m.py": SOURCE})
    proc = accelport("rewrite", "m.py", cwd=work)
    assert proc.returncode == 1, proc.stderr
    text = (work / "m.py").read_text()
    sites = [line.split(": ", 1)[0] for line in proc.stderr.splitlines() if line.startswith("m.py:")]
    snippets = ["torch.cuda.get_device_capability", "torch.cuda.get_device_name"]
    assert len(sites) == 2
    for site, snippet in zip(sites, snippets):
        _, line, col = site.split(":")
        assert _located(text, int(line), int(col), snippet), (site, text)


def test_diff_mode_keeps_the_original_positions(tmp_path: Path) -> None:
    work = tmp_path / "work"
    write(work, {"m.py": SOURCE})
    proc = accelport("rewrite", "--diff", "m.py", cwd=work)
    assert "m.py:4:7: unported-cuda-api" in proc.stderr
    assert (work / "m.py").read_text() == SOURCE


def _finding(line: int, col: int, snippet: str, end_line: int = 0, end_col: int = 0) -> Finding:
    return Finding("f.py", line, col, "r", "m", snippet=snippet, end_line=end_line, end_col=end_col)


def test_unchanged_lines_move_with_inserted_lines_and_keep_columns() -> None:
    old = "a\nb = f(1)\nc\n"
    new = "a\nimport x\n\nb = f(1)\nc\n"
    [moved] = relocate([_finding(2, 5, "f(1)", 2, 9)], old, new)
    assert (moved.line, moved.col, moved.end_line, moved.end_col) == (4, 5, 4, 9)


def test_a_changed_line_finds_the_snippet_nearest_the_old_column() -> None:
    old = "y = x.cuda(); z = g(0); w = g(0)\n"
    new = "y = x.to(get_accelerator().device_name()); z = g(0); w = g(0)\n"
    first, second = relocate([_finding(1, 19, "g(0)"), _finding(1, 29, "g(0)")], old, new)
    assert new[first.col - 1 :].startswith("g(0); w") and new[second.col - 1 :] == "g(0)\n"


def test_no_findings_or_no_change_returns_them_as_they_are() -> None:
    findings = [_finding(1, 1, "a")]
    assert relocate(findings, "a\n", "a\n") is findings
    assert relocate([], "a\n", "b\n") == []
