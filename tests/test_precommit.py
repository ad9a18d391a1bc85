"""The pre-commit hooks, run by the real pre-commit against this repository in temporary git repos.

The hook environment is installed from a snapshot of this working tree (tracked and untracked,
not ignored files, committed in a scratch repo), so what is tested is the code as it stands. One
``PRE_COMMIT_HOME`` serves the whole module: the environment is installed once for the config-based
tests (``repo:`` = the snapshot, ``rev:`` = its commit) and once more by ``try-repo``, which always
uses a store of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
CUDA = "import torch\n\n\ndef step():\n    torch.cuda.synchronize()\n"
CLEAN = "import torch\n\n\ndef step(x):\n    return x.to('cpu')\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    """Git and pre-commit isolated from the user's configuration, the hook store and caches in tmp."""
    base = tmp_path_factory.mktemp("precommit")
    gitconfig = base / "gitconfig"
    gitconfig.write_text("[init]\n\tdefaultBranch = main\n[user]\n\tname = Test\n\temail = test@example.com\n")
    out = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    out.update(
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        PRE_COMMIT_HOME=str(base / "home"),
        ACCELPORT_CACHE_DIR=str(base / "accelport-cache"),
        PRE_COMMIT_COLOR="never",
    )
    return out


def git(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory, env) -> tuple:
    """(path, commit) of a git repo holding this working tree as it is now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    )  # fmt: skip
    target = tmp_path_factory.mktemp("snapshot")
    for name in sorted(set(listed.stdout.decode().split("\0")) - {""}):
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert (target / ".pre-commit-hooks.yaml").is_file()
    git(env, target, "init", "-q")
    git(env, target, "add", "-A")
    git(env, target, "commit", "-q", "-m", "snapshot", "--no-verify")
    return target, git(env, target, "rev-parse", "HEAD").stdout.strip()


def config(snapshot: tuple, hooks: str = "check-torchcuda", args: str = "") -> str:
    path, rev = snapshot
    lines = ["repos:", f"-   repo: {path}", f"    rev: {rev}", "    hooks:"]
    for hook in hooks.split(","):
        lines.append(f"    -   id: {hook}")
        if args:
            lines.append(f"        args: {args}")
    return "\n".join(lines) + "\n"


def new_repo(tmp_path: Path, env: dict, snapshot: tuple, **kwargs) -> Path:
    """A git repo using the hooks, ``pre-commit install``-ed, with its config committed."""
    work = tmp_path / "work"
    work.mkdir()
    git(env, work, "init", "-q")
    (work / ".pre-commit-config.yaml").write_text(config(snapshot, **kwargs))
    subprocess.run([*PRE_COMMIT, "install"], cwd=work, env=env, capture_output=True, check=True)
    git(env, work, "add", ".pre-commit-config.yaml")
    first = commit(env, work, "config")
    assert first.returncode == 0, first.stdout + first.stderr  # no Python files: the hook is skipped
    return work


def commit(env: dict, work: Path, message: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "commit", "-m", message], cwd=work, env=env, capture_output=True, text=True)


def commits(env: dict, work: Path) -> int:
    return int(git(env, work, "rev-list", "--count", "HEAD").stdout)


def test_try_repo_blocks_a_cuda_call_and_names_file_and_line(tmp_path, env, snapshot):
    work = tmp_path / "work"
    work.mkdir()
    git(env, work, "init", "-q")
    (work / "train.py").write_text(CUDA)
    (work / "clean.py").write_text(CLEAN)
    git(env, work, "add", ".")
    run = subprocess.run(
        [*PRE_COMMIT, "try-repo", str(snapshot[0]), "check-torchcuda", "--files", "train.py", "clean.py"],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "check-torchcuda" in output and "Failed" in output
    assert "train.py:5:5: torch-cuda-call [*]" in output
    assert "clean.py" not in output.split("hook id: check-torchcuda")[1]


def test_commit_adding_a_cuda_call_is_blocked_and_clean_code_passes(tmp_path, env, snapshot):
    work = new_repo(tmp_path, env, snapshot)
    (work / "clean.py").write_text(CLEAN)
    git(env, work, "add", "clean.py")
    passed = commit(env, work, "clean code")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "check-torchcuda" in passed.stdout + passed.stderr and "Passed" in passed.stdout + passed.stderr

    (work / "train.py").write_text(CUDA)
    git(env, work, "add", "train.py")
    before = commits(env, work)
    blocked = commit(env, work, "adds a CUDA call")
    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0
    assert "train.py:5:5: torch-cuda-call [*]" in output
    assert commits(env, work) == before


def test_a_suppressed_line_passes(tmp_path, env, snapshot):
    work = new_repo(tmp_path, env, snapshot)
    (work / "train.py").write_text(CUDA.replace("synchronize()", "synchronize()  # accelport: ignore[torch-cuda-call]"))
    (work / "ds.py").write_text(CUDA.replace("synchronize()", "synchronize()  #ignore-cuda"))
    git(env, work, "add", ".")
    done = commit(env, work, "suppressed")
    assert done.returncode == 0, done.stdout + done.stderr


def test_with_a_baseline_old_findings_pass_and_a_new_one_fails(tmp_path, env, snapshot):
    work = new_repo(tmp_path, env, snapshot, args="[--baseline, .accelport-baseline.json]")
    legacy = CUDA + "\n\ndef to_gpu(x):\n    return x.cuda()\n"
    (work / "legacy.py").write_text(legacy)
    accelport = Path(sys.executable).with_name("accelport")
    subprocess.run(
        [str(accelport), "check", "--baseline", ".accelport-baseline.json", "--update-baseline", "legacy.py"],
        cwd=work, env=env, check=True, capture_output=True,
    )  # fmt: skip
    git(env, work, "add", ".")
    done = commit(env, work, "legacy code and its baseline")
    assert done.returncode == 0, done.stdout + done.stderr

    (work / "legacy.py").write_text("# moved down\n" + legacy + "\n\ndef free():\n    torch.cuda.empty_cache()\n")
    git(env, work, "add", ".")
    blocked = commit(env, work, "a new CUDA call")
    output = blocked.stdout + blocked.stderr
    assert blocked.returncode != 0
    assert "legacy.py:14:5: torch-cuda-call [*] `torch.cuda.empty_cache`" in output
    assert "synchronize" not in output and "x.cuda()" not in output


def test_rewrite_hook_ports_the_file(tmp_path, env, snapshot):
    work = new_repo(tmp_path, env, snapshot, hooks="check-torchcuda,accelport-rewrite")
    (work / "train.py").write_text(CUDA)
    git(env, work, "add", "train.py")
    run = subprocess.run(
        [*PRE_COMMIT, "run", "accelport-rewrite", "--files", "train.py"], cwd=work, env=env, capture_output=True, text=True
    )
    assert run.returncode == 1  # pre-commit fails a hook that modified files
    assert "files were modified by this hook" in run.stdout
    assert (work / "train.py").read_text() == (
        "import torch\nfrom accelport.accelerator_runtime import get_accelerator\n\n\n"
        "def step():\n    get_accelerator().synchronize()\n"
    )
    git(env, work, "add", "train.py")
    done = commit(env, work, "ported")
    assert done.returncode == 0, done.stdout + done.stderr


def test_hook_environment_has_no_torch(tmp_path, env, snapshot):
    new_repo(tmp_path, env, snapshot)  # the environment exists once a commit has run the hooks
    envs = sorted(Path(env["PRE_COMMIT_HOME"]).glob("repo*/py_env-*/lib/python*/site-packages"))
    assert envs, "no hook environment found"
    for site in envs:
        names = {p.name.lower() for p in site.iterdir()}
        assert "libcst" in names and "rich" in names
        # The CLI is argparse: no CLI framework (typer 0.29 brings pydantic) to import on every commit.
        assert not names & {"typer", "click", "pydantic"}, names
        assert "torch" not in names and not any(n.startswith("torch-") for n in names)
