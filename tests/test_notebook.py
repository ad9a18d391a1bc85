"""Jupyter notebooks: code cells ported, IPython lines kept, every other byte of the JSON untouched."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.cli_invoke import invoke as run_cli

from accelport.codemod.files.discovery import discover
from accelport.codemod.run.notebook import LAYOUT_ERROR, detect_layout, mask, transform_notebook, unmask
from accelport.codemod.settings import Settings

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "_notebooks" / "train.ipynb"
SETTINGS = Settings()


def code(source, count=None, outputs=None):
    return {"cell_type": "code", "execution_count": count, "metadata": {}, "outputs": outputs or [], "source": source}


def markdown(source):
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def notebook(*cells, language="python"):
    return {
        "cells": list(cells),
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": language, "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def nbformat_text(nb, indent=1) -> str:
    """What nbformat writes: indent=1, ensure_ascii=False, a final newline."""
    return json.dumps(nb, indent=indent, ensure_ascii=False) + "\n"


OUTPUT = {"name": "stdout", "output_type": "stream", "text": ["Tesla V100 — cuda:0\n"]}
NB = notebook(
    markdown(["# Training\n", "Runs on `torch.cuda`."]),
    code(["%matplotlib inline\n", "import torch\n", "!nvidia-smi"], count=1),
    code(
        ["x = torch.randn(3).cuda()\n", "torch.cuda.synchronize()\n", "print(torch.cuda.get_device_name(0))\n", "x?"],
        count=2,
        outputs=[OUTPUT],
    ),
    code("%%bash\necho torch.cuda.synchronize()\n", count=3),
    code("model = model.cuda()\n", count=4),
)


def port(nb_text: str, want_fixes: bool = False, path: str = "nb.ipynb"):
    return transform_notebook(nb_text, path, SETTINGS, want_fixes)


def test_ports_code_cells_and_keeps_everything_else():
    text = nbformat_text(NB)
    result = port(text)
    assert result.error is None and result.changed
    new = json.loads(result.new_text)
    # Re-serialised exactly as nbformat would: only the sources differ.
    assert result.new_text == nbformat_text(new)
    cells = new["cells"]
    assert cells[0] == NB["cells"][0]
    # The import lands in the imports cell, once, after `import torch`; IPython lines are kept.
    assert cells[1]["source"] == [
        "%matplotlib inline\n",
        "import torch\n",
        "from accelport.accelerator_runtime import get_accelerator\n",
        "!nvidia-smi",
    ]
    assert cells[2]["source"] == [
        "x = torch.randn(3).to(get_accelerator().device_name())\n",
        "get_accelerator().synchronize()\n",
        "print(torch.cuda.get_device_name(0))\n",
        "x?",
    ]
    assert cells[2]["outputs"] == [OUTPUT] and cells[2]["execution_count"] == 2
    # A cell magic cell is skipped whole; a string source stays a string.
    assert cells[3] == NB["cells"][3]
    assert cells[4]["source"] == "model = model.to(get_accelerator().device_name())\n"
    assert result.counts == {"tensor-cuda-method": 2, "torch-cuda-call": 1}
    # A second pass changes nothing.
    again = port(result.new_text)
    assert again.error is None and not again.changed


def test_findings_are_located_by_cell_counting_every_cell():
    result = port(nbformat_text(NB), want_fixes=True)
    assert [f.location() for f in result.findings] == ["nb.ipynb:cell 3:3:7"]
    assert result.findings[0].rule == "unported-cuda-api"
    assert [(f.location(), f.rule) for f in result.fixes] == [
        ("nb.ipynb:cell 3:1:5", "tensor-cuda-method"),
        ("nb.ipynb:cell 3:2:1", "torch-cuda-call"),
        ("nb.ipynb:cell 5:1:9", "tensor-cuda-method"),
    ]


def test_names_imported_in_an_earlier_cell_resolve_in_later_ones():
    nb = notebook(code("import torch as th\nfrom torch.cuda import amp\n"), code("with amp.autocast():\n    th.cuda.synchronize()\n"))
    result = port(nbformat_text(nb))
    cells = json.loads(result.new_text)["cells"]
    # torch.cuda's amp import is now unused in the whole notebook, so it goes.
    assert cells[0]["source"] == "import torch as th\nfrom accelport.accelerator_runtime import get_accelerator\n"
    assert cells[1]["source"] == "with th.amp.autocast(get_accelerator().device_name()):\n    get_accelerator().synchronize()\n"


@pytest.mark.parametrize(
    "line",
    ["%time y = f(x)", "!pip install torch", "files = !ls *.pt", "t = %timeit -o f()", "torch.cuda.synchronize?", "??torch.cuda", "f()?"],
)
def test_ipython_lines_are_masked_and_restored(line):
    cell = f"import torch\nif True:\n    {line}\n    torch.cuda.synchronize()\n"
    masked, placeholders = mask(cell, "tok", 0)
    assert masked == "import torch\nif True:\n    pass  # tok-0\n    torch.cuda.synchronize()\n"
    assert unmask(masked, placeholders) == cell
    result = port(nbformat_text(notebook(code(cell))))
    assert result.error is None
    assert json.loads(result.new_text)["cells"][0]["source"] == cell.replace(
        "import torch\n", "import torch\nfrom accelport.accelerator_runtime import get_accelerator\n"
    ).replace("    torch.cuda.synchronize()", "    get_accelerator().synchronize()")


@pytest.mark.parametrize(
    "cell",
    [
        's = ("%d"\n     % rank)\n',  # a continuation line that starts with the % operator
        'doc = """\n!not a shell line\n%not a magic\n"""\n',  # inside a triple-quoted string
        "x = 1 + \\\n    2\n",
        "# what is this?\n",
    ],
)
def test_python_lines_that_look_like_ipython_are_not_masked(cell):
    assert mask(cell, "tok", 0) == (cell, {})


def test_layout_of_indent_two_and_ascii_is_detected():
    nb = notebook(code(["import torch\n", "torch.cuda.synchronize()  # é\n"]))
    text = json.dumps(nb, indent=2, ensure_ascii=True)
    assert detect_layout(text, json.loads(text)) == (2, True, "")
    result = port(text)
    assert result.error is None
    assert result.new_text == json.dumps(json.loads(result.new_text), indent=2, ensure_ascii=True)
    assert "get_accelerator().synchronize()  # \\u00e9" in result.new_text


def test_unreproducible_json_is_an_error_only_when_it_would_change():
    text = nbformat_text(notebook(code("import torch\ntorch.cuda.synchronize()\n"))).replace('"nbformat": 4', '"nbformat":  4')
    result = port(text)
    assert result.error == LAYOUT_ERROR and result.new_text == text
    clean = nbformat_text(notebook(code("import torch\nprint(torch.__version__)  # no cuda here\n"))).replace(
        '"nbformat": 4', '"nbformat":  4'
    )
    assert port(clean).error is None


def test_cell_that_does_not_parse_is_named():
    result = port(nbformat_text(notebook(markdown("x"), code("import torch\ntorch.cuda.synchronize(\n"))))
    assert result.error is not None and result.error.startswith("cell 2: cannot parse")
    assert not result.changed


def test_other_kernel_languages_and_bad_json_are_left_alone():
    r_nb = nbformat_text(notebook(code("torch.cuda.synchronize()\n"), language="R"))
    assert port(r_nb).error is None and not port(r_nb).changed
    assert port('{"cells": [ "torch.cuda"').error.startswith("cannot parse notebook JSON")


# -- the command line ---------------------------------------------------------------------------------
@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCELPORT_CACHE_DIR", str(tmp_path / ".cache"))
    (tmp_path / "pyproject.toml").write_text("[tool.accelport]\n")
    return tmp_path


def invoke(*args):
    return run_cli([*args])


DEVICE_HUNK = r"""
-    "device = torch.device(\"cuda:0\")\n",
-    "torch.cuda.manual_seed_all(0)\n",
+    "device = torch.device(get_accelerator().device_name(0))\n",
+    "get_accelerator().manual_seed_all(0)\n",
     "model = nn.Linear(16, 4).to(device)"
"""


def test_diff_of_a_notebook_applies_with_git(project):
    shutil.copy(FIXTURE, project / "train.ipynb")
    original = (project / "train.ipynb").read_bytes()
    diffed = invoke("rewrite", "--diff", "-j", "1", "train.ipynb")
    assert diffed.exit_code == 1
    patch = diffed.stdout
    assert '-    "        loss.backward()\\n",' not in patch  # one source line per JSON line: small hunks
    assert DEVICE_HUNK in patch
    assert (project / "train.ipynb").read_bytes() == original
    subprocess.run(["git", "init", "-q", "."], cwd=project, check=True)
    (project / "d.patch").write_text(patch)
    subprocess.run(["git", "apply", "d.patch"], cwd=project, check=True)
    applied = (project / "train.ipynb").read_bytes()
    (project / "train.ipynb").write_bytes(original)
    assert invoke("rewrite", "-j", "1", "train.ipynb").exit_code == 1  # one site still needs a person
    assert (project / "train.ipynb").read_bytes() == applied
    # Outputs and metadata are what they were.
    before, after = json.loads(original), json.loads(applied)
    assert [c.get("outputs") for c in before["cells"]] == [c.get("outputs") for c in after["cells"]]
    assert before["metadata"] == after["metadata"]


def test_check_reports_notebook_cells(project):
    shutil.copy(FIXTURE, project / "train.ipynb")
    checked = invoke("check", "-j", "1", ".")
    assert checked.exit_code == 1
    assert "train.ipynb:cell 4:3:7: unported-cuda-api `torch.cuda.get_device_name`" in checked.stdout
    assert "train.ipynb:cell 3:1:23: cuda-device-string [*]" in checked.stdout


def test_discovery_finds_notebooks_but_not_checkpoints(tmp_path):
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    sources, missing = discover([str(tmp_path)])
    assert [s.path.name for s in sources] == ["a.ipynb"] and not missing


def test_line_length_limit_applies_to_code_cells_not_to_outputs(project):
    """An embedded image output is one very long JSON line: the notebook is still ported. A code cell
    over the limit is named and the notebook left as it was."""
    image = {"output_type": "display_data", "data": {"image/png": "iVBOR" + "A" * 30_000}, "metadata": {}}
    (project / "plots.ipynb").write_text(nbformat_text(notebook(code("x = torch.zeros(3).cuda()\n", 1, [image]))))
    long_code = "y = [" + "1, " * 8_000 + "torch.cuda.current_device()]\n"
    generated = nbformat_text(notebook(code(long_code, 1)))
    (project / "generated.ipynb").write_text(generated)
    result = invoke("rewrite", "plots.ipynb", "generated.ipynb")
    assert result.exit_code == 123
    assert "get_accelerator().device_name()" in (project / "plots.ipynb").read_text()
    assert "generated.ipynb: cell 1: line 1 is longer than the limit (20000 characters" in result.output
    assert (project / "generated.ipynb").read_text() == generated
