"""Which files a run reads: ``.gitignore`` honoured (per repository), tool folders skipped, excludes,
``--force-exclude``, sorted and without duplicates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List

import pytest

from accelport.codemod.files.discovery import compile_patterns, discover

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def touch(root: Path, names: Iterable[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("import torch\n")


def found(paths: List[str], **kwargs) -> List[str]:
    sources, missing = discover(paths, **kwargs)
    assert not missing
    return [s.display for s in sources]


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_skips_tool_folders_and_virtualenvs(cwd: Path) -> None:
    touch(cwd, [
        "src/a.py", "src/b.pyi", "src/notes.txt", ".git/hooks/x.py", "build/lib/a.py", "dist/a.py",
        "lib/site-packages/torch/x.py", "__pycache__/a.py", ".tox/py/x.py", "pkg.egg-info/x.py",
        "env/lib/x.py", "node_modules/x.py",
    ])  # fmt: skip
    (cwd / "env/pyvenv.cfg").write_text("home = /usr\n")
    assert found(["."]) == ["src/a.py", "src/b.pyi"]


@needs_git
def test_honours_gitignore(cwd: Path) -> None:
    git(cwd, "init", "-q")
    (cwd / ".gitignore").write_text("generated/\n*_pb2.py\n")
    touch(cwd, ["a.py", "generated/x.py", "pkg/model_pb2.py", "pkg/model.py"])
    (cwd / "pkg/.gitignore").write_text("local.py\n")
    touch(cwd, ["pkg/local.py"])
    assert found(["."]) == ["a.py", "pkg/model.py"]
    assert found(["pkg"]) == ["pkg/model.py"]
    # A file named explicitly is read anyway, unless --force-exclude.
    assert found(["pkg/local.py"]) == ["pkg/local.py"]
    assert found(["pkg/local.py", "pkg/model.py"], force_exclude=True) == ["pkg/model.py"]


@needs_git
def test_each_nested_checkout_honours_its_own_gitignore(cwd: Path) -> None:
    """A folder (not in git) holding two checkouts: each one's ignore rules apply to its files."""
    for name in ("one", "two"):
        repo = cwd / "projects" / name
        repo.mkdir(parents=True)
        git(repo, "init", "-q")
        (repo / ".gitignore").write_text(f"skip_{name}.py\n")
        touch(repo, [f"skip_{name}.py", "keep.py", f"skip_{'two' if name == 'one' else 'one'}.py"])
    touch(cwd, ["projects/skip_one.py"])
    assert found(["."]) == [
        "projects/one/keep.py", "projects/one/skip_two.py", "projects/skip_one.py",
        "projects/two/keep.py", "projects/two/skip_one.py",
    ]  # fmt: skip


@needs_git
def test_gitignore_through_a_symlinked_folder(cwd: Path) -> None:
    real = cwd / "real"
    real.mkdir()
    git(real, "init", "-q")
    (real / ".gitignore").write_text("ignored.py\n")
    touch(real, ["ignored.py", "kept.py"])
    (cwd / "link").symlink_to(real)
    assert found(["link"]) == ["link/kept.py"]


def test_exclude_regex(cwd: Path) -> None:
    touch(cwd, ["pkg/a.py", "pkg/tests/fixtures/x.py", "pkg/tests/test_a.py", "migrations/0001.py"])
    pattern = compile_patterns(["fixtures/", "^/migrations/"])
    assert found(["."], exclude=pattern) == ["pkg/a.py", "pkg/tests/test_a.py"]
    # Named explicitly, excluded files are processed unless --force-exclude.
    named = ["pkg/tests/fixtures/x.py", "pkg/a.py"]
    assert found(named, exclude=pattern) == ["pkg/a.py", "pkg/tests/fixtures/x.py"]
    assert found(named, exclude=pattern, force_exclude=True) == ["pkg/a.py"]
    with pytest.raises(ValueError, match="invalid exclude pattern"):
        compile_patterns(["(unclosed"])


def test_sorted_and_duplicates_processed_once(cwd: Path) -> None:
    touch(cwd, ["b.py", "a.py", "sub/c.py", "sub/A.py"])
    (cwd / "alias.py").symlink_to("a.py")
    result = found(["sub", "b.py", "./b.py", str(cwd / "b.py"), ".", "sub/c.py"])
    assert result == ["a.py", "b.py", "sub/A.py", "sub/c.py"]
    assert result == sorted(result)


def test_symlink_outside_the_tree_is_not_discovered(cwd: Path) -> None:
    touch(cwd, ["elsewhere/x.py", "tree/a.py"])
    (cwd / "tree/escape.py").symlink_to(cwd / "elsewhere/x.py")
    (cwd / "tree/inner.py").symlink_to(cwd / "tree/a.py")
    os.symlink(cwd / "elsewhere", cwd / "tree/linked_dir")
    assert found(["tree"]) == ["tree/a.py"]


def test_nonexistent_path_is_reported(cwd: Path) -> None:
    touch(cwd, ["a.py"])
    sources, missing = discover(["nope.py", "a.py", "gone/"])
    assert [s.display for s in sources] == ["a.py"]
    assert missing == [("nope.py", "no such file or folder"), ("gone/", "no such file or folder")]


def test_nonexistent_path_is_a_usage_error_from_the_cli(cwd: Path) -> None:
    touch(cwd, ["a.py"])
    env = dict(os.environ, ACCELPORT_CACHE_DIR=str(cwd / ".cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "accelport", "rewrite", "nope.py", "a.py"], cwd=cwd, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2
    assert "error: nope.py: no such file or folder" in proc.stderr.splitlines()


def test_a_folder_named_explicitly_is_walked_even_when_git_ignores_it(tmp_path: Path) -> None:
    """`accelport rewrite .venv/lib/.../torch` must see torch's files although .venv is git-ignored."""
    import subprocess

    from accelport.codemod.files.discovery import discover

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("/vendored/\n")
    pkg = tmp_path / "vendored" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "b.py").write_text("x = 1\n")
    found, missing = discover([str(pkg)])
    assert [s.path.name for s in found] == ["a.py", "b.py"] and not missing
    assert discover([str(tmp_path)])[0] == []
