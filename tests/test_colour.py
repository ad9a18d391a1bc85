"""Colour on a terminal, never in a pipe: ``--color``, ``NO_COLOR`` and ``FORCE_COLOR``."""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from accelport.codemod.frontends.colour import Painter, enabled

from tests.test_cli import COMMAND, CUDA, FINDING, write

ESC = "\x1b["
PLAIN = re.compile(r"\x1b\[[0-9;]*m")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "mode, env, tty, expected",
    [
        ("auto", {}, True, True),
        ("auto", {}, False, False),
        ("auto", {"NO_COLOR": "1"}, True, False),
        ("auto", {"NO_COLOR": ""}, True, True),  # the NO_COLOR convention: set and not empty
        ("auto", {"FORCE_COLOR": "1"}, False, True),
        ("auto", {"FORCE_COLOR": "1", "NO_COLOR": "1"}, True, False),
        ("always", {"NO_COLOR": "1"}, False, True),
        ("never", {"FORCE_COLOR": "1"}, True, False),
    ],
)
def test_when_to_colour(monkeypatch, mode: str, env: Dict[str, str], tty: bool, expected: bool) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert enabled(mode, _Tty() if tty else io.StringIO()) is expected


def test_painting_only_adds_escapes() -> None:
    paint = Painter(True)
    lines = [
        "a.py:3:7: unported-cuda-api `torch.cuda.x`: do this",
        "nb.ipynb:cell 2:1:5: tensor-cuda-method [*] `x.cuda()` -> `x.to(...)`",
        "error: b.py: cannot parse",
        "  tensor-cuda-method: 1 site",
    ]
    for line in lines:
        painted = paint.line(line)
        assert PLAIN.sub("", painted) == line
    assert ESC in paint.line(lines[0]) and ESC in paint.line(lines[1]) and ESC in paint.line(lines[2])
    assert paint.line(lines[3]) == lines[3]  # per-rule counts stay plain
    diff = b"--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n \xff\n"
    assert PLAIN.sub("", paint.diff(diff).decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape") == diff
    assert Painter(False).diff(diff) is diff and Painter(False).line(lines[0]) is lines[0]


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    clean["ACCELPORT_CACHE_DIR"] = str(cwd.parent / "cache")
    return subprocess.run([*COMMAND, *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    write(work, {"a.py": CUDA, "b.py": FINDING})
    return work


def test_piped_output_has_no_colour_by_default(project: Path) -> None:
    for args in (("check", "."), ("check", "--statistics", "."), ("rewrite", "--diff", "."), ("rules",)):
        proc = _run(project, *args)
        assert ESC not in proc.stdout + proc.stderr, args


@pytest.mark.parametrize("args", [("check", "."), ("check", "--statistics", "."), ("rewrite", "--diff", "."), ("rules",)])
def test_color_always_and_force_color_paint_findings_summary_diff_and_rules(project: Path, args) -> None:
    for extra, env in ((["--color", "always"], {}), ([], {"FORCE_COLOR": "1"})):
        proc = _run(project, *args[:1], *extra, *args[1:], **env)
        assert ESC in proc.stdout, (args, extra, env)
        if args[0] != "rules" and "--statistics" not in args:  # these two print nothing on stderr
            assert ESC in proc.stderr
        # The text under the colour is exactly the plain output.
        plain = _run(project, *args)
        assert PLAIN.sub("", proc.stdout) == plain.stdout and PLAIN.sub("", proc.stderr) == plain.stderr


def test_no_color_and_never_win_over_force_color(project: Path) -> None:
    assert ESC not in _run(project, "check", ".", NO_COLOR="1", FORCE_COLOR="1").stdout
    assert ESC not in _run(project, "check", "--color", "never", ".", FORCE_COLOR="1").stdout


def test_a_bad_color_value_is_a_usage_error(project: Path) -> None:
    proc = _run(project, "check", "--color", "sometimes", ".")
    assert proc.returncode == 2 and "--color must be one of auto, always, never" in proc.stderr
