"""``accelport rewrite`` never loses a byte: what it keeps exactly, and what it refuses to touch.

Every bad input gets one line naming the file and the reason, stays byte-identical, does not stop
the run, and makes it exit 123."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from accelport.codemod.engine import pipeline as transform_mod
from accelport.codemod.files import write as write_mod
from accelport.codemod.files.discovery import discover
from accelport.codemod.run.runner import Mode, process
from accelport.codemod.settings import Settings

from tests.test_cli import work, write  # noqa: F401 - work is a fixture

_SCRIPT = shutil.which("accelport", path=str(Path(sys.executable).parent))
COMMAND: List[str] = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "accelport"]

CUDA = "import torch\n\nx = torch.randn(3).cuda()\n"
CUDA_PORTED = (
    "import torch\nfrom accelport.accelerator_runtime import get_accelerator\n\n"
    "x = torch.randn(3).to(get_accelerator().device_name())\n"
)
IMPORT_LINE = b"from accelport.accelerator_runtime import get_accelerator"
TO_DEVICE = b"x = torch.randn(3).to(get_accelerator().device_name())"


def accelport(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ACCELPORT_CACHE_DIR=str(cwd.parent / f"{cwd.name}-cache"))
    return subprocess.run([*COMMAND, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)



# --- kept exactly --------------------------------------------------------------------------------

KEPT = {
    "crlf.py": (
        b"import torch\r\n\r\nx = torch.randn(3).cuda()\r\n",
        b"import torch\r\n" + IMPORT_LINE + b"\r\n\r\n" + TO_DEVICE + b"\r\n",
    ),
    "mixed.py": (
        b"import torch\n\r\nx = torch.randn(3).cuda()\r\ny = 1\n",
        b"import torch\n" + IMPORT_LINE + b"\n\r\n" + TO_DEVICE + b"\r\ny = 1\n",
    ),
    "no_final_newline.py": (
        b"import torch\n\nx = torch.randn(3).cuda()",
        b"import torch\n" + IMPORT_LINE + b"\n\n" + TO_DEVICE,
    ),
    "bom.py": (
        b"\xef\xbb\xbfimport torch\n\nx = torch.randn(3).cuda()\n",
        b"\xef\xbb\xbfimport torch\n" + IMPORT_LINE + b"\n\n" + TO_DEVICE + b"\n",
    ),
    "latin1.py": (
        b"# -*- coding: latin-1 -*-\nimport torch\nname = 'caf\xe9'\nx = torch.randn(3).cuda()\n",
        b"# -*- coding: latin-1 -*-\nimport torch\n" + IMPORT_LINE + b"\nname = 'caf\xe9'\n" + TO_DEVICE + b"\n",
    ),
    "tabs.py": (
        b"import torch\nif True:\n\tx = torch.randn(3).cuda()\t# tab\n",
        b"import torch\n" + IMPORT_LINE + b"\nif True:\n\t" + TO_DEVICE + b"\t# tab\n",
    ),
    "utf8.py": (
        "import torch\n# résumé: ünïcödé ✓\nx = torch.randn(3).cuda()\n".encode(),
        "import torch\n".encode() + IMPORT_LINE + "\n# résumé: ünïcödé ✓\n".encode() + TO_DEVICE + b"\n",
    ),
}


def test_rewrite_keeps_line_endings_encodings_bom_tabs(work: Path) -> None:
    write(work, {name: before for name, (before, _) in KEPT.items()})
    proc = accelport("rewrite", ".", cwd=work)
    assert proc.returncode == 0, proc.stderr
    for name, (_, after) in KEPT.items():
        assert (work / name).read_bytes() == after, name
    assert not [p.name for p in work.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_rewrite_keeps_mode_bits(work: Path) -> None:
    write(work, {"script.py": "#!/usr/bin/env python\n" + CUDA, "private.py": CUDA})
    os.chmod(work / "script.py", 0o755)
    os.chmod(work / "private.py", 0o600)
    proc = accelport("rewrite", ".", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (work / "script.py").read_text() == "#!/usr/bin/env python\n" + CUDA_PORTED
    assert (work / "script.py").stat().st_mode & 0o7777 == 0o755
    assert (work / "private.py").stat().st_mode & 0o7777 == 0o600


# --- bad input -----------------------------------------------------------------------------------

BAD: Dict[str, tuple] = {
    "syntax_error.py": (b"import torch\nx = torch.randn(3).cuda(\n", "cannot parse"),
    "not_utf8.py": (b"import torch\nname = 'caf\xe9'\nx = torch.randn(3).cuda()\n", "not valid utf-8"),
    "binary.py": (b"import torch\x00\nx = torch.randn(3).cuda()\n", "binary file"),
    "bad_cookie.py": (b"# -*- coding: no-such-codec -*-\nimport torch\n", "encoding"),
    # CPython refuses > 200 nested brackets; LibCST's native parser used to crash the whole run here.
    "nested_parens.py": (
        ("import torch\nx = torch.randn(3).cuda()\ny = " + "(" * 3000 + "1" + ")" * 3000 + "\n").encode(),
        "too many nested parentheses",
    ),
}


def test_bad_files_are_named_left_alone_and_the_run_continues(work: Path) -> None:
    write(work, {name: data for name, (data, _) in BAD.items()})
    write(work, {"a_good.py": CUDA, "z_good.py": CUDA, "empty.py": b""})
    proc = accelport("rewrite", ".", cwd=work)
    assert proc.returncode == 123, proc.stderr
    assert proc.stdout == ""
    for name, (data, reason) in BAD.items():
        lines = [line for line in proc.stderr.splitlines() if name in line]
        assert len(lines) == 1, (name, proc.stderr)
        assert lines[0].startswith(f"error: {name}: ") and reason in lines[0], lines[0]
        assert (work / name).read_bytes() == data, name
    assert (work / "a_good.py").read_text() == CUDA_PORTED
    assert (work / "z_good.py").read_text() == CUDA_PORTED
    assert (work / "empty.py").read_bytes() == b""
    assert "empty.py" not in proc.stderr


def test_empty_file_is_fine(work: Path) -> None:
    write(work, {"empty.py": b""})
    for args in (["--diff"], ["--check"], []):
        proc = accelport("rewrite", *args, "empty.py", cwd=work)
        assert proc.returncode == 0, proc.stderr
        assert (work / "empty.py").read_bytes() == b""


def test_deep_left_nested_expression_does_not_crash(work: Path) -> None:
    """A 3000-term ``a+a+...`` is legal Python nested 3000 levels deep in LibCST's tree; on the main
    thread's stack it killed the process (segfault). Over the default nesting limit it is named and
    left byte-identical; with the limit raised it is processed like any other file."""
    text = "import torch\nx = torch.randn(3).cuda()\ny = " + "+".join(["a"] * 3000) + "\n"
    write(work, {"deep.py": text, "other.py": CUDA})
    proc = accelport("rewrite", ".", cwd=work)
    assert proc.returncode == 123
    assert "error: deep.py: nested deeper than the limit (1000 syntax-tree levels: max-nesting)" in proc.stderr
    assert (work / "deep.py").read_text() == text
    assert (work / "other.py").read_text() == CUDA_PORTED
    write(work, {"pyproject.toml": "[tool.accelport]\nmax-nesting = 4000\n"})
    proc = accelport("rewrite", ".", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (work / "deep.py").read_text() == text.replace(
        "import torch\nx = torch.randn(3).cuda()",
        "import torch\nfrom accelport.accelerator_runtime import get_accelerator\n"
        "x = torch.randn(3).to(get_accelerator().device_name())",
    )


def _source(path: Path):
    (source,), missing = discover([str(path)])
    assert not missing
    return source


def test_unreadable_file_is_reported_and_left(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: as root, chmod 000 does not stop reads.
    write(work, {"locked.py": CUDA})
    target = work / "locked.py"
    real = os.open

    def open_(path, *args, **kwargs):
        if os.fspath(path).endswith("locked.py"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    outcome = process(_source(target), Settings(), Mode.WRITE)
    assert outcome.error == "cannot read: Permission denied"
    assert not outcome.written
    monkeypatch.undo()
    assert target.read_text() == CUDA


def test_read_only_file_is_not_replaced(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The atomic rename needs only the folder to be writable: a read-only file must be refused."""
    write(work, {"readonly.py": CUDA})
    target = work / "readonly.py"
    os.chmod(target, 0o444)
    if os.access(target, os.W_OK):  # root: make os.access answer as it would for a user
        real_access = os.access
        monkeypatch.setattr(
            write_mod.os, "access",
            lambda path, mode, **kw: False if Path(path).name == "readonly.py" and mode == os.W_OK else real_access(path, mode, **kw),
        )  # fmt: skip
    outcome = process(_source(target), Settings(), Mode.WRITE)
    assert outcome.error is not None and "permission denied" in outcome.error
    assert target.read_text() == CUDA
    assert target.stat().st_mode & 0o777 == 0o444


def test_file_changed_between_read_and_write_is_not_clobbered(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(work, {"racy.py": CUDA})
    target = work / "racy.py"
    theirs = CUDA + "# someone else's edit\n"
    real_transform = transform_mod.transform_source

    def transform(text, *args, **kwargs):
        result = real_transform(text, *args, **kwargs)
        target.write_text(theirs)  # an editor saves while accelport works
        return result

    monkeypatch.setattr(transform_mod, "transform_source", transform)
    outcome = process(_source(target), Settings(), Mode.WRITE)
    assert outcome.error is not None and "changed while it was being processed" in outcome.error
    assert not outcome.written
    assert target.read_text() == theirs


def test_an_exception_inside_processing_becomes_an_error_not_a_crash(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(work, {"a.py": CUDA})

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(transform_mod, "transform_source", boom)
    outcome = process(_source(work / "a.py"), Settings(), Mode.WRITE)
    assert outcome.error == "internal error: RuntimeError: boom (a bug in accelport: please report it with the file)"
    assert (work / "a.py").read_text() == CUDA


# --- symlinks ------------------------------------------------------------------------------------


def test_symlink_pointing_outside_the_tree_is_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text(CUDA)
    tree = tmp_path / "tree"
    write(tree, {"inside.py": CUDA})
    (tree / "escape.py").symlink_to(outside)
    proc = accelport("rewrite", ".", cwd=tree)
    assert proc.returncode == 0, proc.stderr
    assert outside.read_text() == CUDA
    assert (tree / "escape.py").is_symlink()
    assert (tree / "inside.py").read_text() == CUDA_PORTED
    # Named explicitly, it is refused with a reason (and still not written).
    sub = tree / "sub"
    sub.mkdir()
    (sub / "escape.py").symlink_to(outside)
    proc = accelport("rewrite", "sub/escape.py", cwd=tree)
    assert proc.returncode == 123
    assert "error: sub/escape.py: symlink points outside the tree given; not written through" in proc.stderr
    assert outside.read_text() == CUDA


def test_symlink_inside_the_tree_is_fine_and_processed_once(work: Path) -> None:
    write(work, {"real.py": CUDA})
    (work / "alias.py").symlink_to("real.py")
    proc = accelport("rewrite", "--jobs", "2", ".", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "1 file rewritten, 0 unchanged" in proc.stderr
    assert (work / "real.py").read_text() == CUDA_PORTED
    assert (work / "alias.py").is_symlink() and os.readlink(work / "alias.py") == "real.py"


# --- never imports or runs the code it reads -----------------------------------------------------


def test_code_is_never_imported_or_executed(work: Path) -> None:
    marker = work / "IMPORTED"
    side_effect = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
    write(work, {
        "pkg/__init__.py": side_effect,
        "pkg/model.py": side_effect + CUDA,
        "conftest.py": side_effect,
        "setup.py": side_effect + CUDA,
        "__main__.py": side_effect,
    })  # fmt: skip
    for args in (["--diff"], ["--check"], []):
        proc = accelport("rewrite", *args, ".", cwd=work)
        assert proc.returncode in (0, 1), proc.stderr
    proc = subprocess.run([*COMMAND, "check", "."], cwd=work, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # everything was ported above
    assert (work / "pkg/model.py").read_text() == side_effect + CUDA_PORTED
    assert not marker.exists()
