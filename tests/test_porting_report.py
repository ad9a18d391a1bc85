"""``accelport rewrite --report``: ported / ported with a caveat / unported, per rule and per API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli_invoke import invoke as run_cli

from accelport.codemod.frontends import porting_report
from accelport.codemod.files.discovery import discover
from accelport.codemod.run.runner import Mode, run
from accelport.codemod.settings import Settings

REPO = Path(__file__).resolve().parent.parent

SMALL = """\
import torch


class Trainer:
    def __init__(self, model):
        self.device = torch.cuda.current_device()
        torch.cuda.synchronize()
        print(torch.cuda.get_device_name(0))
        print(torch.cuda.get_device_name(1))
        torch.backends.cuda.matmul.allow_tf32 = True
        x = torch.zeros(2).cuda()
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCELPORT_CACHE_DIR", str(tmp_path / ".cache"))
    (tmp_path / "pyproject.toml").write_text("[tool.accelport]\n")
    (tmp_path / "train.py").write_text(SMALL)
    return tmp_path


def invoke(*args):
    return run_cli(["rewrite", "-j", "1", *args])


def test_json_numbers_on_a_small_file(project):
    result = invoke("--diff", "--report", "report.json", "train.py")
    assert result.exit_code == 1
    assert (project / "train.py").read_text() == SMALL  # --diff writes only the report
    data = json.loads((project / "report.json").read_text())
    assert data["version"] == porting_report.SCHEMA_VERSION and data["dry_run"] is True
    assert data["files"] == {"read": 1, "changed": 1, "errors": []}
    rows = {row["rule"]: row for row in data["rules"]}
    assert rows["torch-cuda-call"] == {
        "rule": "torch-cuda-call", "code": "AP101", "ported": 1, "ported_with_caveat": 0, "unported": 0, "percent_ported": 100.0,
    }  # fmt: skip
    # Ported as an index, with a finding at the same call: a caveat, not an unported site.
    assert rows["current-device"]["ported"] == 1 and rows["current-device"]["ported_with_caveat"] == 1
    assert rows["current-device"]["unported"] == 0
    assert rows["unported-cuda-api"]["unported"] == 3 and rows["unported-cuda-api"]["percent_ported"] == 0.0
    assert data["totals"] == {"ported": 3, "ported_with_caveat": 1, "unported": 3, "percent_ported": 50.0}
    assert [(c["line"], c["rule"]) for c in data["caveats"]] == [(6, "current-device")]
    groups = [(g["api"], g["count"], [(s["path"], s["line"]) for s in g["sites"]]) for g in data["unported"]]
    assert groups == [
        ("torch.cuda.get_device_name", 2, [("train.py", 8), ("train.py", 9)]),
        ("torch.backends.cuda.matmul.allow_tf32", 1, [("train.py", 10)]),
    ]
    assert data["unported"][0]["advice"].startswith("the GPU model name has no portable equivalent")


def test_markdown_after_a_real_rewrite(project):
    result = invoke("--report", "report.md", "train.py")
    assert result.exit_code == 1  # sites still need a person
    assert "get_accelerator().synchronize()" in (project / "train.py").read_text()
    text = (project / "report.md").read_text()
    assert "**50% ported**: 3 of 6 sites (1 with a caveat); 3 left for a person." in text
    assert "| Rule | Code | Ported | With a caveat | Unported | Ported % |\n|---|---|---:|---:|---:|---:|\n" in text
    assert "| current-device | AP103 | 1 | 1 | 0 | 100 |" in text
    assert "| **total** | | 3 | 1 | 3 | 50 |" in text
    assert "### `torch.cuda.get_device_name` (2 sites, unported-cuda-api)" in text
    # Where the rewritten file now has them: the added import moved them down one line.
    assert "- `train.py:9:15`\n- `train.py:10:15`" in text
    assert (project / "train.py").read_text().splitlines()[8].startswith("        print(torch.cuda.get_device_name(0))")
    assert "1 file read, 1 rewritten" in text


def test_bad_suffix_is_a_usage_error(project):
    result = run_cli(["rewrite", "--report", "report.txt", "train.py"])
    assert result.exit_code == 2 and "--report must end in .json or .md" in result.output
    assert (project / "train.py").read_text() == SMALL


def test_nothing_to_port_is_100_percent():
    data = porting_report.build([])
    assert data["totals"] == {"ported": 0, "ported_with_caveat": 0, "unported": 0, "percent_ported": 100.0}
    assert "| **total** | | 0 | 0 | 0 | 100 |" in porting_report.to_markdown(data)


def test_bundled_examples():
    sources, _ = discover([str(p) for p in sorted((REPO / "examples").glob("*.py"))])
    outcomes = run(sources, Settings(collect_sites=True), Mode.DIFF)
    data = porting_report.build(outcomes, dry=True)
    totals = data["totals"]
    assert totals["ported"] == sum(sum(o.counts.values()) for o in outcomes) > 0
    assert totals["unported"] == sum(len(o.findings) for o in outcomes) - totals["ported_with_caveat"]
    assert totals["percent_ported"] == round(100 * totals["ported"] / (totals["ported"] + totals["unported"]), 1)
    apis = {g["api"] for g in data["unported"]}
    assert "torch.backends.cuda.matmul.allow_tf32" in apis
    assert all(s["path"].endswith(".py") for g in data["unported"] for s in g["sites"])
