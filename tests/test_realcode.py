"""bench/realcode.py, the real-code evaluation, on tiny projects generated here (never third-party code):
its counts, its classing of CUDA-looking lines, its output checks, and the hand-port comparison."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import realcode  # noqa: E402

TRAIN = '''import torch


# torch.cuda.synchronize() in a comment is prose
def step(x):
    """Moves x with torch.cuda, says the docstring."""
    torch.cuda.synchronize()
    nccl_start_alignment_factor = 2
    print("call torch.cuda.empty_cache() yourself")
    graph = torch.cuda.CUDAGraph()
    return x, graph
'''


def _project(root: Path) -> Path:
    proj = root / "proj"
    proj.mkdir()
    (proj / "train.py").write_text(TRAIN)
    (proj / "ignored.py").write_text("import torch\ntorch.cuda.synchronize()  # accelport: ignore\n")
    (proj / "plain.py").write_text("x = 1\n")
    (proj / "broken.py").write_text("def (:\n    torch.cuda.synchronize()\n")
    (proj / "__pycache__").mkdir()
    (proj / "__pycache__" / "skipped.py").write_text("import torch\ntorch.cuda.synchronize()\n")
    return proj


def _run(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "report.json"
    md = tmp_path / "report.md"
    assert realcode.main([*args, "--jobs", "1", "--json", str(out), "--markdown", str(md)]) == 0
    data = json.loads(out.read_text())
    data["markdown"] = md.read_text()
    return data


def test_counts_on_a_generated_project(tmp_path):
    proj = _project(tmp_path)
    data = _run(tmp_path, str(proj), "--sample", "5", "--seed", "3")
    [summary] = data["projects"]
    assert summary["project"] == "proj"
    assert summary["files"] == 4  # __pycache__ is skipped, as discovery skips it
    assert summary["changed"] == 1
    assert summary["sites"] == 1 and data["per_rule"]["torch-cuda-call"]["proj"] == [1, 0]
    assert data["per_rule"]["unported-cuda-api"]["proj"][1] == 1  # CUDAGraph reported
    # Code lines only: the comment, the docstring and the message are prose.
    assert summary["cuda_lines"] == 3
    assert (summary["rewritten"], summary["reported_only"], summary["silent"]) == (1, 1, 1)
    assert summary["ignored"] == 1
    assert summary["refused"] == 1 and summary["crashes"] == 0
    assert (summary["unparsable"], summary["non_idempotent"], summary["shadowed"]) == (0, 0, 0)
    [rewrite] = data["sample"]["rewrites"]
    assert rewrite["where"] == "proj/train.py:7" and rewrite["rule"] == "torch-cuda-call"
    assert any("get_accelerator().synchronize()" in line for line in rewrite["after"])
    [silent] = data["sample"]["silent"]
    assert silent["where"] == "proj/train.py:8"
    assert "| proj | 4 | 1 | 1 |" in data["markdown"]
    # The project itself is never written: the port happened in a copy.
    assert (proj / "train.py").read_text() == TRAIN


def test_output_checks_catch_a_bad_engine(tmp_path, monkeypatch):
    """Unparsable output, a second run that changes more, a call the interface lacks, and an import
    added over a ``get_accelerator`` the file already defines are each counted."""
    from accelport.codemod.engine import pipeline as transform

    real = transform.transform_source

    def bad(text, path, settings, want_fixes=False):
        result = real(text, path, settings, want_fixes)
        if path.endswith("unparsable.py"):
            result.new_text = text + "def (:\n"
        elif path.endswith("growing.py"):
            result.new_text = text + "torch.cuda.synchronize()\n"
        elif path.endswith("missing.py") and "no_such_method" not in text:
            result.new_text = text.replace("torch.cuda.synchronize()", "get_accelerator().no_such_method()")
        elif path.endswith("shadow.py") and "accelerator_runtime" not in text:
            result.new_text = "from accelport.accelerator_runtime import get_accelerator\n" + text
        return result

    monkeypatch.setattr(transform, "transform_source", bad)
    proj = tmp_path / "bad"
    proj.mkdir()
    for name in ("unparsable", "growing", "missing"):
        (proj / f"{name}.py").write_text("import torch\ntorch.cuda.synchronize()\n")
    (proj / "shadow.py").write_text("def get_accelerator():\n    return None\n")
    data = _run(tmp_path, str(proj), "--sample", "0")
    [summary] = data["projects"]
    assert summary["unparsable"] == 1
    assert data["unparsable"][0].startswith("bad/unparsable.py")
    assert data["non_idempotent"] == ["bad/growing.py"]
    assert any(item.startswith("`no_such_method` (accelport") and "bad/missing.py:2" in item for item in data["missing"])
    assert summary["shadowed"] == 1 and data["shadowed"][0].startswith("bad/shadow.py")


def test_hand_port_comparison(tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    (before / "m.py").write_text("import torch\ntorch.cuda.synchronize()\nbackend_nccl = 1\nkeep = 2\n")
    (after / "m.py").write_text("import torch\nget_accelerator().synchronize()\nbackend_ccl = 1\nkeep = 2\n")
    data = _run(tmp_path, "--hand-port", f"hp={before}:{after}", "--sample", "0")
    [port] = data["hand_ports"]
    assert port["human_sites"] == 2
    assert port["tool"] == {"rewritten": 1, "silent": 1}
    assert {(s["line"], s["tool"]) for s in port["sites"]} == {(2, "rewritten"), (3, "silent")}


@pytest.mark.parametrize(
    "line, cuda",
    [
        ("model.to(local_rank)", True),
        ("x = x.to(self.gpu_id)", True),
        ("dev = torch.device(0)", True),
        ('backend = "NCCL"', True),
        ('types = ["torch.cuda.HalfTensor"]', True),
        ("model.to(device)", False),
        ('log("moved to cuda: done")', False),
        ("x = 1  # torch.cuda.synchronize()", False),
    ],
)
def test_cuda_looking_lines(line, cuda):
    assert (realcode.cuda_lines(line + "\n") == [1]) is cuda


def test_rescore_a_judged_sample(tmp_path):
    """A judged rewrite keeps its verdict only where the run emits the same replacement; judged silent
    lines report what the run does with them now."""
    import hashlib

    proj = _project(tmp_path)
    first = _run(tmp_path, str(proj), "--sample", "5")
    [rewrite] = first["sample"]["rewrites"]
    sha = hashlib.sha1(rewrite["fix"].encode()).hexdigest()[:12]
    judged = tmp_path / "judged.json"
    items = [
        {"id": "R1", "kind": "rewrite", "where": "proj/train.py:7", "rule": "torch-cuda-call", "fix_sha1": sha, "verdict": "ok"},
        {"id": "R2", "kind": "rewrite", "where": "proj/train.py:7", "rule": "torch-cuda-call", "fix_sha1": "0" * 12, "verdict": "H-else"},
        {"id": "R3", "kind": "rewrite", "where": "proj/train.py:10", "rule": "torch-cuda-call", "fix_sha1": sha, "verdict": "H-else"},
        {"id": "S1", "kind": "silent", "where": "proj/train.py:8", "verdict": "ok"},
        {"id": "S2", "kind": "silent", "where": "proj/train.py:7", "verdict": "miss"},
        {"id": "S3", "kind": "silent", "where": "gone/x.py:1", "verdict": "miss"},
        {"id": "S4", "kind": "silent", "where": "proj/broken.py:2", "verdict": "miss"},
    ]
    judged.write_text(json.dumps({"seed": 11, "items": items}))
    data = _run(tmp_path, str(proj), "--sample", "0", "--rescore", str(judged))
    status = {row["id"]: row["status"] for row in data["rescore"]["rows"]}
    assert status.pop("S4").startswith("file refused: cannot parse")
    assert status == {
        "R1": "same rewrite",
        "R2": "rewritten differently (judge again): `get_accelerator().synchronize`",
        "R3": "left and reported",  # CUDAGraph is reported, not rewritten
        "S1": "silent",
        "S2": "rewritten",
        "S3": "not in this run",
    }
    assert "rescored" in data["markdown"]
