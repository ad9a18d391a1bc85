"""Adversarial checks of the README's promises (issue 15): nothing lost, nothing stale, nothing hangs,
nothing of the analysed tree runs, exit codes CI can trust. One test per defect found; docs/safety.md
says which guarantee each one holds up."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelport.codemod.run import runner
from accelport.codemod.files import write as write_mod
from accelport.codemod.files.discovery import Source
from accelport.codemod.run.runner import Mode, process
from accelport.codemod.settings import Settings
from accelport.codemod.files.read import decode

from tests.test_cli import work, write  # noqa: F401 - work is a fixture

BIN = Path(sys.executable).parent
COMMAND = [str(BIN / "accelport")]
CUDA = "import torch\n\nx = torch.randn(3).cuda()\n"
PORTED = (
    "import torch\nfrom accelport.accelerator_runtime import get_accelerator\n\n"
    "x = torch.randn(3).to(get_accelerator().device_name())\n"
)
TRACEBACK = "Traceback (most recent call last)"


def accelport(*args: str, cwd: Path, timeout: float = 120, **extra) -> subprocess.CompletedProcess:
    env = dict(os.environ, ACCELPORT_CACHE_DIR=str(cwd.parent / f"{cwd.name}-cache"))
    env.update(extra.pop("env", {}))
    return subprocess.run([*COMMAND, *args], cwd=cwd, capture_output=True, env=env, timeout=timeout, **extra)


def text(proc: subprocess.CompletedProcess, stream: str = "stderr") -> str:
    return getattr(proc, stream).decode("utf-8", "backslashreplace")



def _source(path: Path) -> Source:
    return Source(path, path.name, path.parent)


def _temporaries(root: Path) -> List[Path]:
    return [p for p in root.rglob("*") if ".accelport-" in p.name and p.name.endswith(".tmp")]


# --- data --------------------------------------------------------------------------------------------


def test_an_edit_made_during_the_rewrite_wins(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user saves between the tool's read and its rename, same size, same mtime: the content check
    right before the rename sees it; the file is named and keeps the user's text."""
    target = work / "a.py"
    target.write_text(CUDA)
    edited = CUDA.replace("randn", "RANDN")
    real_fill = write_mod._fill

    def fill_then_edit(fd: int, data: bytes) -> None:
        real_fill(fd, data)
        st = target.stat()
        target.write_text(edited)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))

    monkeypatch.setattr(write_mod, "_fill", fill_then_edit)
    outcome = process(_source(target), Settings(), Mode.WRITE)
    assert outcome.error == "file changed while it was being processed; left as it is (run again)"
    assert not outcome.written and target.read_text() == edited
    assert _temporaries(work) == []


def test_baseline_symlink_out_of_the_project_is_refused_and_temporaries_are_unpredictable(work: Path) -> None:
    outside = work.parent / "other-project.json"
    recorded = '{"version": 1, "findings": []}\n'
    outside.write_text(recorded)
    victim = work.parent / "victim.py"
    victim.write_text("precious = 1\n")
    write(work, {"pyproject.toml": "[tool.accelport]\n", "a.py": CUDA})
    (work / "base.json").symlink_to(outside)
    proc = accelport("check", "--baseline", "base.json", "--update-baseline", "a.py", cwd=work)
    assert proc.returncode == 2 and "outside the project; not written through" in text(proc)
    assert outside.read_text() == recorded and TRACEBACK not in text(proc)
    # The old code wrote through a fixed "<baseline>.tmp": a planted link there must not be followed.
    (work / "base.json").unlink()
    (work / "base.json.tmp").symlink_to(victim)
    proc = accelport("check", "--baseline", "base.json", "--update-baseline", "a.py", cwd=work)
    assert proc.returncode == 0 and victim.read_text() == "precious = 1\n"
    assert not (work / "base.json").is_symlink() and json.loads((work / "base.json").read_text())["findings"]


def test_symlinked_baseline_inside_the_project_keeps_its_link(work: Path) -> None:
    write(work, {"pyproject.toml": "[tool.accelport]\n", "a.py": CUDA, "ci/real-baseline.json": ""})
    (work / "ci/real-baseline.json").unlink()
    (work / "base.json").symlink_to("ci/real-baseline.json")
    proc = accelport("check", "--baseline", "base.json", "--update-baseline", "a.py", cwd=work)
    assert proc.returncode == 0, text(proc)
    assert (work / "base.json").is_symlink()
    assert json.loads((work / "ci/real-baseline.json").read_text())["findings"][0]["path"] == "a.py"


def test_hard_linked_file_is_refused_not_split(work: Path) -> None:
    write(work, {"a.py": CUDA, "b.py": CUDA})
    os.link(work / "a.py", work / "alias.txt")
    proc = accelport("rewrite", "a.py", "b.py", cwd=work)
    assert proc.returncode == 123
    assert "error: a.py: has 2 hard links: replacing it would leave the old text under the other names" in text(proc)
    assert (work / "a.py").read_text() == CUDA == (work / "alias.txt").read_text()
    # Counted as it is: one file written, not two.
    assert text(proc).startswith("1 file rewritten, 1 unchanged")
    assert (work / "b.py").read_text() == PORTED


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_owner_and_group_are_kept(work: Path) -> None:
    target = work / "a.py"
    target.write_text(CUDA)
    os.chown(target, 4321, 4322)
    assert accelport("rewrite", "a.py", cwd=work).returncode == 0
    st = target.stat()
    assert (st.st_uid, st.st_gid) == (4321, 4322) and target.read_text() == PORTED


def test_extended_attributes_are_kept(work: Path) -> None:
    target = work / "a.py"
    target.write_text(CUDA)
    try:
        os.setxattr(target, "user.origin", b"vendored")
    except OSError as exc:
        pytest.skip(f"this file system keeps no user xattrs: {exc}")
    assert accelport("rewrite", "a.py", cwd=work).returncode == 0
    assert target.read_text() == PORTED and os.getxattr(target, "user.origin") == b"vendored"


def test_stale_temporaries_of_killed_runs_are_removed_and_live_ones_kept(work: Path) -> None:
    write(work, {"a.py": CUDA})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = work / f".a.py.accelport-{dead}-0123456789abcdef.tmp"
    live = work / f".a.py.accelport-{os.getpid()}-0123456789abcdef.tmp"
    foreign = work / ".a.py.tmp"
    for path in (stale, live, foreign):
        path.write_text("partial")
    assert accelport("rewrite", ".", cwd=work).returncode == 0
    assert not stale.exists() and live.exists() and foreign.exists()


def test_a_zombie_process_counts_as_gone(tmp_path: Path) -> None:
    """A killed worker that nobody reaps (a container's init may not) must not keep its temporary alive."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while _running(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # exited, not yet waited for: a zombie
    stale = tmp_path / f".a.py.accelport-{child.pid}-0123456789abcdef.tmp"
    stale.write_text("partial")
    assert write_mod.remove_stale([tmp_path]) == 1 and not stale.exists()
    child.wait()


def test_workers_stop_when_the_parent_is_killed(work: Path) -> None:
    """kill -9 of the parent alone (OOM killer, CI timeout): the workers end too, so the pipes close."""
    for i in range(40):
        write(work, {f"m{i:02d}.py": CUDA})
    pids = work.parent / "pids"
    script = (
        "import os, sys, time\n"
        "from accelport.codemod.run import runner\n"
        "real = runner._process\n"
        "def slow(*args):\n"
        f"    open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
        "    time.sleep(1.0)\n"
        "    return real(*args)\n"
        "runner._process = slow\n"
        "from accelport.codemod.frontends.cli import main\n"
        "sys.argv = ['accelport', 'rewrite', '--jobs', '2', '--no-cache', '.']\n"
        "main()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not pids.exists() or len(set(pids.read_text().split())) < 2):
        time.sleep(0.1)
    workers = {int(p) for p in pids.read_text().split()} - {parent.pid}
    assert workers, "no worker started"
    os.kill(parent.pid, signal.SIGKILL)
    parent.communicate(timeout=30)  # returns only once every holder of the pipes is gone
    time.sleep(0.2)
    assert not [pid for pid in workers if _running(pid)]
    assert sum((work / f"m{i:02d}.py").read_text() == PORTED for i in range(40)) < 40


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_form_feed_and_final_lone_cr_are_kept(work: Path) -> None:
    write(
        work,
        {
            "ff.py": "import os\n\x0cimport torch\nx = torch.randn(3).cuda()\n",
            "cr.py": "import torch\rx = torch.randn(3).cuda()\ry = 1\r",
        },
    )
    assert accelport("rewrite", ".", cwd=work).returncode == 0
    assert (work / "ff.py").read_bytes() == (
        b"import os\n\x0cimport torch\nfrom accelport.accelerator_runtime import get_accelerator\n"
        b"x = torch.randn(3).to(get_accelerator().device_name())\n"
    )
    assert (work / "cr.py").read_bytes() == (
        b"import torch\rfrom accelport.accelerator_runtime import get_accelerator\r"
        b"x = torch.randn(3).to(get_accelerator().device_name())\ry = 1\r"
    )


def test_a_240_byte_file_name_is_rewritten(work: Path) -> None:
    name = "m" * 237 + ".py"
    write(work, {name: CUDA})
    proc = accelport("rewrite", ".", cwd=work)
    assert proc.returncode == 0, text(proc)
    assert (work / name).read_text() == PORTED
    assert all(len(os.fsencode(write_mod.temp_name(n))) <= 255 for n in (name, "é" * 127))


def test_kill_9_at_random_moments_never_leaves_a_partial_file(work: Path) -> None:
    """A generated tree, rewritten and killed (the whole process group) at random moments, 20 times:
    every file is old or new, never a mix; the next complete run leaves no temporary behind."""
    rng = random.Random(15)
    old = {f"pkg{i % 4}/mod{i:02d}.py": CUDA + f"y{i} = torch.zeros({i}).cuda()\n" * (1 + i % 5) for i in range(32)}
    def reset() -> None:
        write(work, old)
    reset()
    start = time.monotonic()
    accelport("rewrite", "--no-cache", "--jobs", "2", ".", cwd=work)
    new = {name: (work / name).read_text() for name in old}
    duration = time.monotonic() - start
    assert all(new[name] != old[name] for name in old)
    kills = midway = 0
    for _ in range(20):
        reset()
        proc = subprocess.Popen(
            [*COMMAND, "rewrite", "--no-cache", "--jobs", "2", "."], cwd=work, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.1, 1.0) * duration)  # anywhere: start-up, reading, writing
        else:  # during the writes: once the first file is new
            while proc.poll() is None and not any((work / n).read_text() == new[n] for n in old):
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
        now = {name: (work / name).read_text() for name in old}
        for name in old:
            assert now[name] in (old[name], new[name]), name
        midway += 0 < sum(now[name] == new[name] for name in old) < len(old)
    assert kills >= 15 and midway >= 1  # some kills landed while files were being written
    time.sleep(0.5)  # the last group's workers finish dying
    assert accelport("rewrite", "--no-cache", ".", cwd=work).returncode == 0
    assert _temporaries(work) == []
    assert all((work / name).read_text() == new[name] for name in old)


# --- stale or wrong results ------------------------------------------------------------------------


def test_cache_never_answers_for_another_checkout(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    one, two = tmp_path / "one", tmp_path / "two"
    write(one, {"m.py": "import torch\nx = t.zero()\n"})
    write(two, {"m.py": "import torch\nx = t.cuda()\n"})
    assert (one / "m.py").stat().st_size == (two / "m.py").stat().st_size
    st = (one / "m.py").stat()
    os.utime(two / "m.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    env = {"ACCELPORT_CACHE_DIR": str(cache)}
    first = subprocess.run([*COMMAND, "check", "m.py"], cwd=one, capture_output=True, text=True, env={**os.environ, **env})
    second = subprocess.run([*COMMAND, "check", "m.py"], cwd=two, capture_output=True, text=True, env={**os.environ, **env})
    assert first.returncode == 0 and second.returncode == 1 and "m.py:2:" in second.stdout


def test_cache_is_data_and_any_damage_means_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelport.codemod.files import cache as cache_mod

    folder = tmp_path / "cache"
    monkeypatch.setenv("ACCELPORT_CACHE_DIR", str(folder))
    root = tmp_path / "src"
    write(root, {"a.py": CUDA})
    sources = [Source(root / "a.py", "a.py", root)]
    cold = runner.run(sources, Settings(), Mode.CHECK, cache=True)
    (path,) = folder.glob("*.json")
    marker = tmp_path / "pwned"
    pickle_payload = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    good = json.loads(path.read_text())
    entry = good["entries"]["a.py"]
    damaged = [
        pickle_payload, b"", b"{", b"\xff\xfe", b"[" * 100_000, b"NaN", json.dumps({"format": 2, "entries": []}).encode(),
        json.dumps({"format": 2, "entries": {"a.py": [entry[0], {"changed": "yes"}]}}).encode(),
        json.dumps({"format": 2, "entries": {"a.py": [entry[0], {**entry[1], "findings": [[1, 2]]}]}}).encode(),
        json.dumps({"format": 2, "entries": {"a.py": [entry[0], {**entry[1], "counts": {"x": "1"}}]}}).encode(),
    ]
    for payload in damaged:
        path.write_bytes(payload)
        again = runner.run(sources, Settings(), Mode.CHECK, cache=True)
        assert [o.findings + o.fixes for o in again] == [o.findings + o.fixes for o in cold], payload[:40]
    assert not marker.exists()
    assert cache_mod.Cache(Settings(), "check").path.suffix == ".json"


def test_projects_configured_differently_are_refused_in_either_order(tmp_path: Path) -> None:
    write(tmp_path, {
        "a/pyproject.toml": '[tool.accelport]\nignore = ["tensor-cuda-method"]\n', "a/m.py": CUDA,
        "b/pyproject.toml": "[tool.accelport]\n", "b/m.py": CUDA,
    })  # fmt: skip
    for order in (("a", "b"), ("b", "a")):
        proc = accelport("check", *order, cwd=tmp_path)
        assert proc.returncode == 2 and "projects configured differently" in text(proc)
        assert len(text(proc).splitlines()) == 1


# --- hangs and blow-ups -------------------------------------------------------------------------------


def test_fifo_and_device_links_never_hang(work: Path) -> None:
    write(work, {"a.py": CUDA})
    os.mkfifo(work / "pipe.py")
    (work / "zero.py").symlink_to("/dev/zero")
    proc = accelport("check", ".", cwd=work, timeout=60)
    assert proc.returncode == 1 and "a.py:3:" in text(proc, "stdout")
    proc = accelport("check", "pipe.py", "a.py", cwd=work, timeout=60)
    assert proc.returncode == 123 and "error: pipe.py: not a regular file (a FIFO); not read" in text(proc)
    proc = accelport("rewrite", "zero.py", cwd=work, timeout=60)
    assert proc.returncode == 123 and "not a regular file (a character device)" in text(proc)


def _limited(megabytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (megabytes << 20, megabytes << 20))

    return apply


def test_inputs_over_the_limits_are_named_quickly_in_bounded_memory(work: Path) -> None:
    """A 10 MB single line took 600 s and 14 GB; a 5,000-deep conditional 10 GB. Over a limit the file
    is named and left byte-identical, with the address space capped (the 512 MiB worker stack included)."""
    files = {
        "huge.py": "import torch\nx = [" + "1, " * 3_500_000 + "torch.cuda.current_device()]\n",
        "long.py": "import torch\nx = [" + "1, " * 10_000 + "torch.cuda.current_device()]\n",
        "deep.py": "import torch\nx = " + "a if b else \\\n" * 5000 + "torch.cuda.current_device()\n",
        "ok.py": CUDA,
    }
    write(work, files)
    proc = accelport("rewrite", "--jobs", "1", ".", cwd=work, timeout=120, preexec_fn=_limited(1536))
    err = text(proc)
    assert proc.returncode == 123, err
    assert "error: huge.py: file too large (" in err and "bytes, limit 8388608: max-file-size); left unchanged" in err
    assert "error: long.py: line 2 is longer than the limit (20000 characters: max-line-length)" in err
    assert "error: deep.py: nested deeper than the limit (1000 syntax-tree levels: max-nesting)" in err
    for name, content in files.items():
        assert (work / name).read_text() == (PORTED if name == "ok.py" else content)


# --- bad input: one line, exit 2 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pyproject, says",
    [
        (b"[tool]\naccelport = 3\n", "[tool.accelport] must be a table, not int"),
        (b'tool = "x"\n', "[tool] must be a table"),
        (b"[tool.accelport]\nselect = ['\xff']\n", "not valid UTF-8"),
        (b"[tool.accelport\n", "not valid TOML"),
        (b"[tool.accelport]\njobs = 0\n", "jobs must be at least 1"),
        (b"[tool.accelport]\nmax-nesting = 0\n", "max-nesting must be"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(work: Path, pyproject: bytes, says: str) -> None:
    write(work, {"pyproject.toml": pyproject, "a.py": CUDA})
    proc = accelport("check", "a.py", cwd=work)
    assert proc.returncode == 2 and says in text(proc) and len(text(proc).splitlines()) == 1, text(proc)


@pytest.mark.parametrize(
    "document",
    [
        '{"version": 1, "findings": [{"rule": "r", "path": "a.py", "fingerprint": "f", "count": Infinity}]}',
        '{"version": 1, "findings": [{"rule": "r", "path": "a.py", "fingerprint": "f", "count": NaN}]}',
        '{"version": 1, "findings": [{"rule": "r", "path": "a.py", "fingerprint": "f", "count": 1.5}]}',
        '{"version": 1, "findings": [{"rule": ["r"], "path": "a.py", "fingerprint": "f"}]}',
        '{"version": 1, "findings": {"rule": "r"}}',
        '{"version": 1, "findings": ["x"]}',
        "[" * 100_000,
        "\udcff",
    ],
)
def test_bad_baseline_is_one_line_and_exit_2(work: Path, document: str) -> None:
    write(work, {"a.py": CUDA, "base.json": document.encode("utf-8", "surrogateescape")})
    proc = accelport("check", "--baseline", "base.json", "a.py", cwd=work)
    assert proc.returncode == 2, text(proc)
    assert "not a valid accelport baseline" in text(proc) and TRACEBACK not in text(proc)


def test_launch_without_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli_invoke import invoke as run_cli

    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "accelport.launch", raising=False)
    result = run_cli(["launch", "train.py"])
    assert result.exit_code == 2
    assert "`accelport launch` needs torch, which is not installed: pip install 'accelport[runtime]'" in result.output


def test_unwritable_report_is_refused_before_any_work(work: Path) -> None:
    write(work, {"a.py": CUDA})
    proc = accelport("rewrite", "--report", "missing/report.md", "a.py", cwd=work)
    assert proc.returncode == 2 and "--report" in text(proc) and "does not exist" in text(proc)
    assert (work / "a.py").read_text() == CUDA


def test_syntax_errors_matter_only_where_a_cuda_site_can_be(work: Path) -> None:
    """Decision (README, docs/safety.md): a file without any CUDA trigger cannot hold a site and is not
    parsed, so its syntax is not judged (that is ruff's or black's job); one with a trigger is
    parsed, and a syntax error there is named, exit 123."""
    write(work, {"plain.py": "def broken(:\n", "gpu.py": "import torch\ntorch.cuda.synchronize(\n"})
    assert accelport("check", "plain.py", cwd=work).returncode == 0
    proc = accelport("check", "plain.py", "gpu.py", cwd=work)
    assert proc.returncode == 123 and "error: gpu.py: cannot parse" in text(proc) and "plain.py" not in text(proc)


# --- output and exit codes -----------------------------------------------------------------------------


def test_a_crash_has_its_own_exit_code_and_one_line(work: Path) -> None:
    write(work, {"a.py": CUDA})
    script = (
        "import sys\nfrom accelport.codemod.frontends import report\n"
        "def boom(*a, **k):\n    raise KeyError('surprise')\n"
        "report.rewrite_summary = boom\n"
        "from accelport.codemod.frontends.cli import main\nsys.argv = ['accelport', 'rewrite', '--diff', 'a.py']\nmain()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=work, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3
    assert proc.stderr.startswith("accelport: internal error: KeyError: 'surprise'\n")
    assert "please report it" in proc.stderr and TRACEBACK not in proc.stderr


def test_diff_headers_are_quoted_as_git_quotes_them(work: Path) -> None:
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    evil = "x\n+++ b/victim.py\n@@ -1 +1 @@"
    names = [f"{evil}/a.py", "tab\tname.py", "quote\"back\\slash.py", "caf\u00e9.py", os.fsdecode(b"raw\xff.py")]
    for name in names:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(CUDA.encode())
    write(work, {"victim.py": "precious = 1\n"})
    proc = accelport("rewrite", "--diff", ".", cwd=work)
    assert proc.returncode == 1
    assert b'--- "a/x\\n+++ b/victim.py\\n@@ -1 +1 @@/a.py"\n' in proc.stdout
    assert b'--- "a/tab\\tname.py"' in proc.stdout and b'"a/caf\\303\\251.py"' in proc.stdout
    assert b'"a/raw\\377.py"' in proc.stdout and b'"a/quote\\"back\\\\slash.py"' in proc.stdout
    applied = subprocess.run(["git", "apply", "-"], cwd=work, input=proc.stdout, capture_output=True)
    assert applied.returncode == 0, applied.stderr
    assert (work / "victim.py").read_text() == "precious = 1\n"
    assert all((work / name).read_bytes() == PORTED.encode() for name in names)


def test_diff_of_a_file_outside_the_current_folder_has_no_double_slash(work: Path) -> None:
    write(work, {"inner/a.py": CUDA})
    (work.parent / "elsewhere").mkdir()
    elsewhere = accelport("rewrite", "--diff", str(work / "inner" / "a.py"), cwd=work.parent / "elsewhere")
    header = f"--- {work}/inner/a.py\n".encode()
    assert header in elsewhere.stdout and b"a//" not in elsewhere.stdout


def test_sarif_and_text_survive_any_file_name_and_any_stdout_encoding(work: Path) -> None:
    raw = os.fsdecode(b"raw\xff.py")
    write(work, {raw: CUDA, "caf\u00e9.py": CUDA})
    sarif = accelport("check", "--output-format", "sarif", ".", cwd=work)
    assert sarif.returncode == 1, text(sarif)
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in json.loads(sarif.stdout)["runs"][0]["results"]]
    assert sorted(uris) == ["caf%C3%A9.py", "raw%FF.py"]
    ascii_out = accelport("check", ".", cwd=work, env={"PYTHONIOENCODING": "ascii"})
    assert ascii_out.returncode == 1 and TRACEBACK not in text(ascii_out)
    assert b"caf\\xe9.py:3:" in ascii_out.stdout


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_jobs_below_one_is_a_usage_error(work: Path, jobs: str) -> None:
    write(work, {"a.py": CUDA})
    proc = accelport("check", "--jobs", jobs, "a.py", cwd=work)
    assert proc.returncode == 2 and f"--jobs must be at least 1, not {jobs}" in text(proc)


def test_jobs_are_clamped_to_files_and_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: List[int] = []

    class Pool:
        def __init__(self, max_workers: int, **kwargs) -> None:
            started.append(max_workers)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            pass

        def map(self, fn, work, chunksize=1):
            return map(fn, work)

    import concurrent.futures

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(runner.workers, "cpus", lambda: 4)
    for count in (3, 9):
        write(tmp_path, {f"m{i}.py": CUDA for i in range(count)})
        list(runner.iterate([_source(tmp_path / f"m{i}.py") for i in range(count)], Settings(), Mode.CHECK, 1000))
    assert started == [3, 4]


@pytest.mark.parametrize(
    "program",
    [
        "from torch.cuda import empty_cache\n(empty_cache.cuda())()\n",
        "import torch\nfrom torch.cuda import current_device\nx.to((current_device.cuda())())\n",
    ],
)
def test_a_second_rewrite_changes_nothing(work: Path, program: str) -> None:
    """Fuzzing found programs whose rewrite left a site for a second pass: the runner carries the
    rewrite to its fixed point, so the second run is a no-op."""
    write(work, {"a.py": program})
    assert accelport("rewrite", "--no-cache", "a.py", cwd=work).returncode == 0
    once = (work / "a.py").read_bytes()
    assert once != program.encode() and b".cuda()" not in once
    again = accelport("rewrite", "--no-cache", "--diff", "a.py", cwd=work)
    assert again.returncode == 0 and again.stdout == b""


# --- never runs the tree's code ------------------------------------------------------------------------------


def test_git_config_of_the_tree_never_runs(work: Path) -> None:
    marker = work.parent / "fsmonitor-ran"
    hook = work.parent / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    hook.chmod(0o755)
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "config", "core.fsmonitor", str(hook)], check=True)
    write(work, {"a.py": CUDA, ".gitignore": "ignored.py\n", "ignored.py": CUDA})
    subprocess.run(["git", "-C", str(work), "add", "a.py"], check=True, capture_output=True)
    marker.unlink(missing_ok=True)
    subprocess.run(["git", "-C", str(work), "ls-files", "--others"], capture_output=True)
    assert marker.exists(), "this git does not run fsmonitor: the test would prove nothing"
    marker.unlink()
    proc = accelport("check", ".", cwd=work)
    assert proc.returncode == 1 and "ignored.py" not in text(proc, "stdout") and "a.py:3:" in text(proc, "stdout")
    assert not marker.exists()


def test_an_accelport_package_in_the_current_folder_never_runs(work: Path) -> None:
    marker = work.parent / "planted-ran"
    write(work, {"accelport/__init__.py": f"open({str(marker)!r}, 'w').write('ran')\n", "a.py": CUDA})
    write(work, {"accelport/__main__.py": f"open({str(marker)!r}, 'w').write('ran')\n"})
    for command in ([*COMMAND, "check", "a.py"], [str(BIN / "check-torchcuda"), "a.py"], [sys.executable, "-P", "-m", "accelport", "check", "a.py"]):
        proc = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "a.py:3:" in proc.stdout, proc.stderr
    assert not marker.exists()


# --- generated programs through the whole per-file path (bench/property_long.py runs it longer) -------------


def check_file(program: str, folder: Path) -> None:
    """``process`` never raises, never calls a failure an internal error, and writes only text that
    parses and keeps every byte outside the rewritten statements (``runner.verify``)."""
    path = folder / "gen.py"
    path.write_bytes(program.encode("utf-8", "surrogatepass"))
    outcome = process(_source(path), Settings(), Mode.WRITE)
    if outcome.error is not None:
        assert "internal error" not in outcome.error, outcome.error
        assert path.read_bytes() == program.encode("utf-8", "surrogatepass")
        return
    if outcome.written:
        new = decode(path.read_bytes()).text
        assert runner.verify(program, new) is None


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(hypothesmith.from_grammar(), st.sampled_from(["", "import torch\nx = y.cuda()\n", "\x0cimport torch\rtorch.cuda.synchronize()\r"]))
def test_generated_programs_through_the_runner(program: str, snippet: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        check_file(snippet + program, Path(folder))
