"""Parsing only what the rules can touch (codemod/engine/sparse.py) must give exactly what a full parse gives."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

import pytest

from accelport.codemod.engine import pipeline as transform
from accelport.codemod.settings import Settings
from accelport.codemod.engine.sparse import sparse
from accelport.codemod.engine.statements import layout
from accelport.codemod.engine.pipeline import transform_source

FIXTURES = sorted(p for p in Path(__file__).parent.joinpath("fixtures").rglob("*.in.py"))
sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from make_corpus import write_corpus  # noqa: E402

ACCEL = "from accelport.accelerator_runtime import get_accelerator\n"
HELPER = "def helper(values):\n    # nothing device-specific here\n    return [v * 2 for v in values]\n"


def _both(text: str, settings: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(transform, "SPARSE", True)
    fast = transform_source(text, "f.py", settings, want_fixes=True)
    monkeypatch.setattr(transform, "SPARSE", False)
    full = transform_source(text, "f.py", settings, want_fixes=True)
    monkeypatch.setattr(transform, "SPARSE", True)
    return fast, full


def _same(fast, full) -> None:
    fields = ("new_text", "findings", "fixes", "counts", "error", "unused_suppressions", "allowed_lines")
    assert [getattr(fast, f) for f in fields] == [getattr(full, f) for f in fields]
    assert "accelport-stub" not in fast.new_text or "accelport-stub" in fast.old_text


def _parsed(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """Every text LibCST is given from now on."""
    seen: List[str] = []
    real = transform.cst.parse_module

    def spy(text: str, *args, **kwargs):
        seen.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(transform.cst, "parse_module", spy)
    return seen


@pytest.mark.parametrize("settings", [Settings(), Settings(runtime="deepspeed", target="torch"), Settings(rules=frozenset({"nccl-backend"}))])
def test_fixtures_and_corpus_same_as_full_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    write_corpus(tmp_path, 12)
    inputs = FIXTURES + sorted(tmp_path.rglob("*.py"))
    for path in inputs:
        fast, full = _both(path.read_text(encoding="utf-8"), settings, monkeypatch)
        _same(fast, full)


def test_stubs_keep_every_line_in_place() -> None:
    text = f"import torch\n\n\n@decorator(\n    1)\n{HELPER}\nclass Plain:\n    x = 1\n\nasync def run(): return 2\n\ntorch.cuda.synchronize()\n"
    stmts = layout(text)
    reduced = sparse(stmts, stmts.without(["cuda"]))
    assert reduced is not None
    old, new = text.splitlines(), reduced.text.splitlines()
    assert len(old) == len(new)
    assert new[0] == "import torch" and new[-1] == "torch.cuda.synchronize()"
    assert new[3] == f"def helper(): '''{reduced.marker}" and new[4:7] == ["", "", ""] and new[7] == "'''"
    assert new[9] == f"class Plain: '''{reduced.marker}" and new[10] == "'''"
    assert new[12] == f"async def run(): '{reduced.marker}'"
    assert [new[i] for i in (1, 2, 8, 11, 13)] == [old[i] for i in (1, 2, 8, 11, 13)]
    assert "return" not in reduced.text and "decorator" not in reduced.text


def test_trigger_free_defs_are_not_given_to_libcst(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _parsed(monkeypatch)
    text = f"import torch\n\n\n{HELPER}\n\ndef main(x):\n    return x.cuda()\n"
    result = transform_source(text, "f.py", Settings())
    assert result.new_text.endswith("return x.to(get_accelerator().device_name())\n")
    assert HELPER in result.new_text
    assert len(seen) == 1 and "v * 2" not in seen[0] and "x.cuda()" in seen[0]


@pytest.mark.parametrize(
    # What LibCST is given, in turn: the stubbed text (False) or the file itself (True).
    "text, parses",
    [
        # The removed import's comment moves onto the stubbed def below it: the stub would be regenerated.
        (f"{ACCEL}from torch.cuda import synchronize  # sync\n{HELPER}\n\ndef main():\n    synchronize()\n", [False, True]),
        # A module-level name holding current_device() is read in statements without a trigger.
        (f"import torch\ndev = torch.cuda.current_device()\n{HELPER}\n\ndef main(x):\n    return x.to(dev)\n", [False, True]),
        # The file itself spells the marker: the stubs spell another.
        (f"import torch\nNOTE = 'accelport-stub'\n{HELPER}\n\ntorch.cuda.synchronize()\n", [False]),
        # No final newline, and CRLF line ends: stubs could not keep the lines, only the full parse runs.
        (f"import torch\n{HELPER}\ntorch.cuda.synchronize()", [True]),
        (f"import torch\r\n{HELPER}\r\ntorch.cuda.synchronize()\r\n", [True]),
    ],
)
def test_falls_back_to_a_full_parse(text: str, parses: List[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _parsed(monkeypatch)
    fast = transform_source(text, "f.py", Settings(), want_fixes=True)
    assert [seen_text == text for seen_text in seen] == parses
    _, full = _both(text, Settings(), monkeypatch)
    _same(fast, full)
    assert fast.changed


def test_syntax_errors_still_reported_with_their_line(monkeypatch: pytest.MonkeyPatch) -> None:
    text = f"import torch\n{HELPER}\ntorch.cuda.synchronize(\n"
    fast, full = _both(text, Settings(), monkeypatch)
    assert fast.error == full.error and fast.error is not None and "line" in fast.error
