"""The outcome cache: a warm run gives the same answers without processing, and never serves stale ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelport.codemod.files import cache as cache_mod
from accelport.codemod.run import runner
from accelport.codemod.files.discovery import discover
from accelport.codemod.run.runner import Mode, run
from accelport.codemod.settings import Settings

CUDA = "import torch\n\ntorch.cuda.synchronize()\nx = torch.zeros(3).cuda()\nname = torch.cuda.get_device_name(0)\n"
PLAIN = "import torch\n\nx = torch.zeros(3)\n"


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("ACCELPORT_CACHE_DIR", str(folder))
    return folder


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "a.py").write_text(CUDA)
    (root / "b.py").write_text(PLAIN)
    return root


def _counting(monkeypatch: pytest.MonkeyPatch) -> list:
    seen: list = []
    real = runner.process

    def spy(source, settings, mode):
        seen.append(source.display)
        return real(source, settings, mode)

    monkeypatch.setattr(runner, "process", spy)
    return seen


def _strip(outcomes):
    return [(o.display, o.changed, o.diff, o.counts, o.findings, o.fixes, o.error) for o in outcomes]


def test_cache_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ACCELPORT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_mod.cache_dir() == tmp_path / "xdg" / "accelport"


@pytest.mark.parametrize("mode", [Mode.CHECK, Mode.DIFF])
def test_warm_run_processes_nothing_and_answers_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: Mode) -> None:
    sources, _ = discover([str(_tree(tmp_path))])
    cold = run(sources, Settings(), mode, cache=True)
    seen = _counting(monkeypatch)
    warm = run(sources, Settings(), mode, cache=True)
    assert seen == []
    assert _strip(warm) == _strip(cold)
    assert any(o.findings for o in warm) and any(o.changed for o in warm)


def test_changed_content_is_processed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tree(tmp_path)
    sources, _ = discover([str(root)])
    run(sources, Settings(), Mode.CHECK, cache=True)
    (root / "b.py").write_text(CUDA)  # same moment, new size: must not be served from the cache
    seen = _counting(monkeypatch)
    warm = run(sources, Settings(), Mode.CHECK, cache=True)
    assert [Path(s).name for s in seen] == ["b.py"]
    assert warm[1].findings and warm[1].fixes


def test_same_size_same_mtime_new_content_is_not_trusted_when_recent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    root = _tree(tmp_path)
    target = root / "b.py"
    sources, _ = discover([str(root)])
    run(sources, Settings(), Mode.CHECK, cache=True)
    stat = target.stat()
    target.write_text(PLAIN.replace("zeros", "empty"))  # same length
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    seen = _counting(monkeypatch)
    run(sources, Settings(), Mode.CHECK, cache=True)
    assert [Path(s).name for s in seen] == ["b.py"]


def test_settings_and_mode_are_part_of_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources, _ = discover([str(_tree(tmp_path))])
    run(sources, Settings(), Mode.CHECK, cache=True)
    seen = _counting(monkeypatch)
    run(sources, Settings(runtime="deepspeed"), Mode.CHECK, cache=True)
    run(sources, Settings(), Mode.DIFF, cache=True)
    assert len(seen) == 4


def test_rewrite_never_writes_from_the_cache(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    sources, _ = discover([str(root)])
    run(sources, Settings(), Mode.DIFF, cache=True)
    run(sources, Settings(), Mode.WRITE, cache=True)
    assert "get_accelerator" in (root / "a.py").read_text()
    (root / "a.py").write_text(CUDA)
    again = run(sources, Settings(), Mode.WRITE, cache=True)
    assert again[0].written and "get_accelerator" in (root / "a.py").read_text()


def test_no_cache_writes_nothing(tmp_path: Path, _cache_dir: Path) -> None:
    sources, _ = discover([str(_tree(tmp_path))])
    run(sources, Settings(), Mode.CHECK, cache=False)
    assert not _cache_dir.exists()
    run(sources, Settings(), Mode.CHECK, cache=True)
    assert list(_cache_dir.glob("*.json"))


def test_corrupt_cache_is_ignored(tmp_path: Path, _cache_dir: Path) -> None:
    sources, _ = discover([str(_tree(tmp_path))])
    cold = run(sources, Settings(), Mode.CHECK, cache=True)
    for file in _cache_dir.glob("*.json"):
        file.write_bytes(b"not json")
    assert _strip(run(sources, Settings(), Mode.CHECK, cache=True)) == _strip(cold)


def test_warm_check_never_imports_libcst(tmp_path: Path, _cache_dir: Path) -> None:
    """Everything cached: the run answers from the cache without loading the parser at all."""
    import subprocess
    import sys

    root = _tree(tmp_path)
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('libcst loaded: %s\\n' % ('libcst' in sys.modules)))\n"
        "from accelport.__main__ import main\nmain()\n"
    )
    runs = [subprocess.run([sys.executable, "-c", probe, "check", "--jobs", "1", str(root)], capture_output=True, text=True) for _ in range(2)]
    assert [r.returncode for r in runs] == [1, 1]
    assert runs[0].stdout == runs[1].stdout and "a.py:3:1" in runs[0].stdout
    assert "libcst loaded: True" in runs[0].stderr and "libcst loaded: False" in runs[1].stderr


def test_check_after_a_diff_comes_from_the_cache_and_answers_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`rewrite --diff` in CI, then `check`: the check must not transform the same files again."""
    sources, _ = discover([str(_tree(tmp_path))])
    fresh = run(sources, Settings(), Mode.CHECK, cache=False)
    run(sources, Settings(), Mode.DIFF, cache=True)
    seen = _counting(monkeypatch)
    warm = run(sources, Settings(), Mode.CHECK, cache=True)
    assert seen == []
    assert [(o.display, o.changed, o.counts, o.findings, o.fixes, o.error) for o in warm] == [
        (o.display, o.changed, o.counts, o.findings, o.fixes, o.error) for o in fresh
    ]
    assert all(o.diff == b"" for o in warm)


def test_a_diff_that_needed_a_second_pass_is_not_served_to_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed-point pass finds sites in the rewritten text: check must see the file's own sites."""
    root = tmp_path / "src"
    root.mkdir()
    (root / "odd.py").write_text("from torch.cuda import empty_cache\n\n(empty_cache.cuda())()\n")
    sources, _ = discover([str(root)])
    [diff] = run(sources, Settings(), Mode.DIFF, cache=True)
    assert diff.changed
    seen = _counting(monkeypatch)
    run(sources, Settings(), Mode.CHECK, cache=True)
    assert seen == ["odd.py"] or seen == [sources[0].display]


def test_an_edit_inside_a_layer_of_the_codemod_invalidates_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine lives in codemod/engine/: an edited engine module must not be served old outcomes."""
    import accelport.codemod

    fake = tmp_path / "codemod"
    (fake / "engine").mkdir(parents=True)
    (fake / "engine" / "pipeline.py").write_text("X = 1\n")
    monkeypatch.setattr(accelport.codemod, "__path__", [str(fake)])
    cache_mod.code_fingerprint.cache_clear()
    before = cache_mod.code_fingerprint()
    (fake / "engine" / "pipeline.py").write_text("X = 22\n")
    cache_mod.code_fingerprint.cache_clear()
    after = cache_mod.code_fingerprint()
    cache_mod.code_fingerprint.cache_clear()
    assert before != after
