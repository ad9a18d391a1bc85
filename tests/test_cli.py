"""The command-line contract of ``accelport rewrite`` / ``rules`` / ``--version``, through the real
console script run from a temporary folder: exit codes, what goes to stdout and stderr, ``--diff``
output that ``git apply`` accepts, ``--check``, and ``--jobs`` not changing a byte of output."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple, Union

import pytest

from accelport import __version__
from accelport.rules import registry

# The console script installed next to this interpreter (the venv's), else ``python -m accelport``.
_SCRIPT = shutil.which("accelport", path=str(Path(sys.executable).parent))
COMMAND: List[str] = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "accelport"]

CUDA = "import torch\n\nx = torch.randn(3).cuda()\ntorch.cuda.synchronize()\n"
CUDA_PORTED = (
    "import torch\nfrom accelport.accelerator_runtime import get_accelerator\n\n"
    "x = torch.randn(3).to(get_accelerator().device_name())\nget_accelerator().synchronize()\n"
)
FINDING = "import torch\n\ncap = torch.cuda.get_device_capability()\n"  # nothing to rewrite, one site for a human
CLEAN = "import torch\n\nx = torch.randn(3)\n"


def accelport(*args: str, cwd: Path, command: Union[List[str], None] = None) -> subprocess.CompletedProcess:
    """Run the CLI in ``cwd``; stdout as bytes (diffs are the files' bytes), stderr as text."""
    env = dict(os.environ, ACCELPORT_CACHE_DIR=str(cwd.parent / f"{cwd.name}-cache"))
    proc = subprocess.run([*(command or COMMAND), *args], cwd=cwd, capture_output=True, env=env, timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


def write(root: Path, files: Dict[str, Union[bytes, str]]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def snapshot(root: Path) -> Dict[str, Tuple[bytes, int, int]]:
    """Every file below ``root``: bytes, mtime_ns, mode."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and ".git" not in path.relative_to(root).parts:
            st = path.stat()
            out[path.relative_to(root).as_posix()] = (path.read_bytes(), st.st_mtime_ns, st.st_mode)
    return out


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


# --- version and rules ---------------------------------------------------------------------------


def test_version_from_console_script_and_python_m(work: Path) -> None:
    for command in (COMMAND, [sys.executable, "-m", "accelport"]):
        proc = accelport("--version", cwd=work, command=command)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.decode().strip() == f"accelport {__version__}"


def test_rules_lists_every_rule_with_code_kind_and_summary(work: Path) -> None:
    proc = accelport("rules", cwd=work)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    for rule in registry.ALL_RULES:
        (line,) = [line for line in lines if line.split()[:2] == [rule.CODE, rule.NAME]]
        assert line.split()[2] == ("fix" if rule.FIXES else "report")
        assert rule.summary() in line
    assert len(lines) >= len(registry.ALL_RULES)


# --- exit codes ----------------------------------------------------------------------------------


def test_exit_0_when_there_is_nothing_to_do(work: Path) -> None:
    assert accelport("rewrite", cwd=work).returncode == 0  # no paths
    write(work, {"notes.txt": "torch.cuda.synchronize()\n", "clean.py": CLEAN, "empty.py": ""})
    before = snapshot(work)
    for args in (["rewrite", "notes.txt"], ["rewrite", "."], ["rewrite", "--diff", "."], ["rewrite", "--check", "."]):
        proc = accelport(*args, cwd=work)
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stdout == b"", args
    assert snapshot(work) == before


def test_exit_2_on_unknown_rule_naming_the_valid_ones(work: Path) -> None:
    write(work, {"a.py": CUDA})
    before = snapshot(work)
    proc = accelport("rewrite", "--select", "tensor-cuda-method,no-such-rule", "a.py", cwd=work)
    assert proc.returncode == 2
    assert "no-such-rule" in proc.stderr
    for rule in registry.ALL_RULES:
        assert rule.NAME in proc.stderr
    assert snapshot(work) == before


def test_exit_2_on_unknown_option(work: Path) -> None:
    write(work, {"a.py": CUDA})
    before = snapshot(work)
    proc = accelport("rewrite", "--no-such-option", "a.py", cwd=work)
    assert proc.returncode == 2
    assert "--no-such-option" in proc.stderr
    assert snapshot(work) == before


def test_diff_and_check_exit_1_and_write_nothing(work: Path) -> None:
    write(work, {"a.py": CUDA, "pkg/b.py": CUDA, "clean.py": CLEAN})
    before = snapshot(work)
    diff = accelport("rewrite", "--diff", ".", cwd=work)
    assert diff.returncode == 1, diff.stderr
    assert diff.stdout.startswith(b"--- a/a.py\n+++ b/a.py\n@@ ")
    assert b"--- a/pkg/b.py\n+++ b/pkg/b.py\n" in diff.stdout
    assert b"clean.py" not in diff.stdout
    check = accelport("rewrite", "--check", ".", cwd=work)
    assert check.returncode == 1, check.stderr
    assert check.stdout.decode().splitlines() == ["would rewrite a.py (2 sites)", "would rewrite pkg/b.py (2 sites)"]
    assert snapshot(work) == before
    assert "2 files would be rewritten, 1 unchanged" in check.stderr


def test_in_place_rewrite_prints_summary_on_stderr_only(work: Path) -> None:
    write(work, {"b.py": CUDA + FINDING, "a.py": CUDA + "\n" + FINDING, "clean.py": CLEAN})
    proc = accelport("rewrite", ".", cwd=work)
    assert proc.stdout == b""
    # Sites that need a human make the run exit 1 even though everything fixable was written.
    assert proc.returncode == 1, proc.stderr
    assert (work / "a.py").read_text().startswith(CUDA_PORTED)
    assert (work / "clean.py").read_text() == CLEAN
    lines = proc.stderr.splitlines()
    assert lines[0] == "2 files rewritten, 1 unchanged"
    assert "  tensor-cuda-method: 2 sites" in lines
    assert "  torch-cuda-call: 2 sites" in lines
    findings = [line for line in lines if ": unported-cuda-api " in line]
    # path:line:col: rule-name message, sorted by path then position, in the file as rewritten: the
    # import added under the second `import torch` moved the reported line down by one.
    assert [line.split(": ")[0] for line in findings] == ["a.py:9:7", "b.py:8:7"]
    for name, line in (("a.py", 9), ("b.py", 8)):
        assert (work / name).read_text().splitlines()[line - 1].startswith("cap = torch.cuda.get_device_capability")
    assert all("torch.cuda.get_device_capability" in line for line in findings)
    assert lines.index(findings[0]) > lines.index("  torch-cuda-call: 2 sites")


def test_in_place_rewrite_of_clean_tree_exits_0(work: Path) -> None:
    write(work, {"a.py": CUDA})
    first = accelport("rewrite", "a.py", cwd=work)
    assert first.returncode == 0, first.stderr
    assert (work / "a.py").read_text() == CUDA_PORTED
    before = snapshot(work)
    second = accelport("rewrite", "a.py", cwd=work)
    assert second.returncode == 0, second.stderr
    assert "0 files rewritten, 1 unchanged" in second.stderr
    assert snapshot(work) == before  # not even touched


# The current-device notes, where the port had to guess: an index handed on, and a device use of it.
HANDED_ON = (
    "import torch\n\n\ndef setup(model, helper):\n    dev = torch.cuda.current_device()\n"
    "    helper(dev)\n    model.to(dev)\n    torch.cuda.synchronize()\n    return model\n"
)


def _notes(text: str) -> List[Tuple[str, str]]:
    """(position, message) of each current-device finding line."""
    return [(where, rest) for where, _, rest in (line.partition(": current-device ") for line in text.splitlines()) if rest]


def _as_ported(notes: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
    """The notes on the CUDA spelling as they read on the index form the port wrote."""
    return [
        (where, message.replace("torch.cuda.current_device()", "get_accelerator().current_device()").replace("ported as", "kept as"))
        for where, message in notes
    ]


def test_current_device_notes_stay_findable_after_the_rewrite(work: Path) -> None:
    write(work, {"train.py": HANDED_ON})
    ported = accelport("rewrite", "train.py", cwd=work)
    assert ported.returncode == 1, ported.stderr
    rewritten = (work / "train.py").read_text()
    assert "    dev = get_accelerator().current_device()\n    helper(dev)\n    model.to(dev)\n" in rewritten
    notes = _notes(ported.stderr)
    assert [where for where, _ in notes] == ["train.py:7:12", "train.py:8:14"]  # where the uses now are
    assert rewritten.splitlines()[6] == "    helper(dev)" and rewritten.splitlines()[7] == "    model.to(dev)"
    # The code no longer spells torch.cuda; check still lists both, at the same places, same advice.
    checked = accelport("check", "train.py", cwd=work)
    assert checked.returncode == 1, checked.stderr
    assert _notes(checked.stdout.decode()) == _as_ported(notes) != notes
    assert "pass get_accelerator().device_name(dev)" in notes[1][1]
    # A second rewrite changes nothing and lists each note once.
    again = accelport("rewrite", "train.py", cwd=work)
    assert (work / "train.py").read_text() == rewritten
    assert again.returncode == 1 and _notes(again.stderr) == _as_ported(notes)
    # Following the advice clears the note.
    write(work, {"train.py": rewritten.replace("model.to(dev)", "model.to(get_accelerator().device_name(dev))")})
    assert [where for where, _ in _notes(accelport("check", "train.py", cwd=work).stdout.decode())] == ["train.py:7:12"]


def test_a_second_pass_does_not_report_a_current_device_note_twice(work: Path) -> None:
    # `(empty_cache.cuda())()` leaves CUDA code inside a produced line: the runner makes a second pass
    # over the rewritten text, which holds the index form the first pass wrote.
    program = HANDED_ON.replace("    torch.cuda.synchronize()\n", "    (empty_cache.cuda())()\n").replace(
        "import torch\n", "import torch\nfrom torch.cuda import empty_cache\n"
    )
    write(work, {"train.py": program})
    ported = accelport("rewrite", "--no-cache", "train.py", cwd=work)
    assert b"" == ported.stdout and ".cuda()" not in (work / "train.py").read_text()
    assert [where for where, _ in _notes(ported.stderr)] == ["train.py:7:12", "train.py:8:14"], ported.stderr


def test_exit_123_names_the_bad_file_and_still_processes_the_others(work: Path) -> None:
    write(work, {"a.py": CUDA, "bad.py": "import torch\nx = torch.randn(3).cuda(\n", "z.py": CUDA})
    bad_before = (work / "bad.py").read_bytes()
    proc = accelport("rewrite", ".", cwd=work)
    assert proc.returncode == 123, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "bad.py" in line]
    assert len(errors) == 1 and errors[0].startswith("error: bad.py: cannot parse")
    assert (work / "bad.py").read_bytes() == bad_before
    assert (work / "a.py").read_text() == CUDA_PORTED
    assert (work / "z.py").read_text() == CUDA_PORTED
    # --diff still shows the other files, and the error outranks "would change".
    write(work, {"a.py": CUDA})
    diff = accelport("rewrite", "--diff", ".", cwd=work)
    assert diff.returncode == 123
    assert b"--- a/a.py" in diff.stdout and b"bad.py" not in diff.stdout


def test_exit_2_for_a_path_that_does_not_exist(work: Path) -> None:
    write(work, {"a.py": CUDA})
    proc = accelport("rewrite", "missing.py", "a.py", cwd=work)
    assert proc.returncode == 2
    assert [line for line in proc.stderr.splitlines() if "missing.py" in line] == [
        "error: missing.py: no such file or folder"
    ]
    assert (work / "a.py").read_text() == CUDA_PORTED


# --- --diff that git applies ---------------------------------------------------------------------

TRICKY: Dict[str, bytes] = {
    "pkg/plain.py": CUDA.encode(),
    "pkg/sub/crlf.py": CUDA.replace("\n", "\r\n").encode(),
    "pkg/sub/no_newline.py": CUDA.rstrip("\n").encode(),
    "pkg/sub/crlf_no_newline.py": CUDA.replace("\n", "\r\n").rstrip("\r\n").encode(),
    "pkg/bom.py": b"\xef\xbb\xbf" + CUDA.encode(),
    "pkg/latin1.py": b"# -*- coding: latin-1 -*-\n" + CUDA.encode() + b'name = "caf\xe9"\n',
    "pkg/controls.py": b"import torch\n\x0c\nx = torch.randn(3).cuda()  # lone\r# carriage return\ny = 1\n",
    "pkg/with space.py": CUDA.encode(),
    "pkg/clean.py": CLEAN.encode(),
}


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "core.autocrlf=false", *args],
        cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("how", ["folder_from_repo_root", "absolute_paths", "files_in_subfolders"])
def test_diff_applies_with_git_apply_and_equals_rewrite(tmp_path: Path, how: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    assert _git(repo, "init", "-q").returncode == 0
    write(repo, TRICKY)
    assert _git(repo, "add", "-A").returncode == 0
    assert _git(repo, "commit", "-qm", "x").returncode == 0
    if how == "folder_from_repo_root":
        args = ["pkg"]
    elif how == "absolute_paths":
        args = [str(repo / "pkg")]
    else:
        args = sorted(name for name in TRICKY if name != "pkg/clean.py")
    expected_rewrite = tmp_path / "rewritten"
    shutil.copytree(repo, expected_rewrite)

    before = snapshot(repo)
    diff = accelport("rewrite", "--diff", *args, cwd=repo)
    assert diff.returncode == 1, diff.stderr
    assert snapshot(repo) == before
    patch = tmp_path / "change.patch"
    patch.write_bytes(diff.stdout)
    applied = _git(repo, "apply", "--whitespace=nowarn", str(patch))
    assert applied.returncode == 0, applied.stderr + diff.stdout.decode("latin-1")

    rewritten = accelport("rewrite", *[a.replace(str(repo), str(expected_rewrite)) for a in args], cwd=expected_rewrite)
    assert rewritten.returncode == 0, rewritten.stderr
    ours = {name: data for name, (data, _, _) in snapshot(repo).items()}
    theirs = {name: data for name, (data, _, _) in snapshot(expected_rewrite).items()}
    assert ours == theirs
    changed = {name for name in TRICKY if ours[name] != TRICKY[name]}
    assert changed == set(TRICKY) - {"pkg/clean.py"}
    # What is kept: BOM, latin-1 bytes, CRLF, the missing final newline.
    assert ours["pkg/bom.py"].startswith(b"\xef\xbb\xbfimport torch\n")
    assert ours["pkg/latin1.py"].endswith(b'name = "caf\xe9"\n')
    assert ours["pkg/sub/crlf.py"].count(b"\r\n") == ours["pkg/sub/crlf.py"].count(b"\n")
    assert not ours["pkg/sub/no_newline.py"].endswith(b"\n")
    assert b"  # lone\r# carriage return\n" in ours["pkg/controls.py"]


# --- --jobs ---------------------------------------------------------------------------------------


def test_jobs_2_output_is_byte_identical_to_jobs_1(tmp_path: Path) -> None:
    files: Dict[str, Union[bytes, str]] = {}
    for i in range(20):
        body = [CUDA, FINDING, CLEAN][i % 3]
        files[f"pkg{i % 4}/mod_{i:02d}.py"] = body + f"value_{i} = {i}\n"
    files["pkg1/broken.py"] = "def f(:\n    torch.cuda.synchronize()\n"
    results = []
    for jobs in ("1", "2"):
        work = tmp_path / f"jobs{jobs}"
        work.mkdir()
        write(work, files)
        for args in (["--diff"], ["--check"], []):
            proc = accelport("rewrite", "--no-cache", "--jobs", jobs, *args, ".", cwd=work)
            results.append((jobs, args, proc.returncode, proc.stdout, proc.stderr))
        results.append((jobs, "tree", {k: v[0] for k, v in snapshot(work).items()}))
    one, two = results[: len(results) // 2], results[len(results) // 2 :]
    assert [r[1:] for r in one] == [r[1:] for r in two]
    assert one[0][2] == 123 and b"--- a/pkg0/mod_00.py" in one[0][3]


# --- help text -----------------------------------------------------------------------------------


def _parsers():
    """Each command's argparse parser (what its ``--help`` prints), and the top-level one."""
    from accelport.codemod.frontends import cli

    return {"": cli.top_parser(), **{name: cli.command_parser(name, f"accelport {name}")[0] for name in cli.COMMANDS if name != "launch"}}


# `launch --help` is torchrun's own argparse help (the launcher passes every option through).
@pytest.mark.parametrize("name", list(_parsers()))
def test_help_has_no_type_tags_internal_paths_or_swallowed_brackets(work: Path, name: str) -> None:
    proc = accelport(*([name] if name else []), "--help", cwd=work)
    text = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr
    for tag in ("<bool>", "<list[", "<str>", "<int>", "<path>", "codemod/", ".py)", "{", "}"):
        assert tag not in text, (name, tag, text)
    if name in ("rewrite", "check"):
        assert "[tool.accelport]" in text  # rich markup used to swallow it, leaving a double space
    if name:
        assert text.startswith(f"usage: accelport {name} ")
    else:
        for command in ("rewrite", "check", "launch", "explain", "info", "rules"):
            assert f"\n    {command} " in text  # listed with its one-line help


def test_every_option_help_is_one_clear_sentence() -> None:
    from accelport.codemod.frontends import cli

    assert list(cli.COMMANDS) == ["rewrite", "check", "launch", "explain", "info", "rules"]
    for name, short in cli.COMMANDS.items():
        assert len(short) <= 70 and short.endswith(".") and "  " not in short, name
    for name, parser in _parsers().items():
        for action in parser._actions:
            text = action.help
            if isinstance(action, argparse._SubParsersAction) or text is None:
                continue
            assert text.endswith(".") and "  " not in text and text[0].isupper(), (name, action.dest, text)


def test_options_may_follow_the_paths_and_repeat(work: Path) -> None:
    write(work, {"a.py": CUDA, "b.py": FINDING})
    proc = accelport("check", "a.py", "--select", "tensor-cuda-method", "b.py", "--select", "unported-cuda-api", "--no-cache", cwd=work)
    assert proc.returncode == 1, proc.stderr
    assert [line.split(": ")[1].split()[0] for line in proc.stdout.decode().splitlines()] == [
        "tensor-cuda-method", "unported-cuda-api",
    ]  # fmt: skip


def test_no_command_prints_the_help_and_exits_2_and_unknown_command_names_the_commands(work: Path) -> None:
    bare = accelport(cwd=work)
    assert bare.returncode == 2 and bare.stdout == b"" and "rewrite" in bare.stderr and "check" in bare.stderr
    unknown = accelport("rewirte", "a.py", cwd=work)
    assert unknown.returncode == 2 and "'rewirte'" in unknown.stderr and "'rewrite'" in unknown.stderr


def test_launch_passes_every_argument_through(work: Path) -> None:
    proc = accelport("launch", "--dry-run", "--nproc-per-node", "2", "train.py", "--epochs", "3", "--help", cwd=work)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode() + proc.stderr
    assert "train.py --epochs 3 --help" in text, text
