"""Which files a run reads: ``*.py`` below the given folders, minus what git ignores and excludes."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Pattern, Sequence, Set, Tuple

# Folder names that never hold code a user wants ported.
SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".ruff_cache",
        ".pytest_cache", "__pycache__", "node_modules", "site-packages", "build", "dist", ".eggs", ".ipynb_checkpoints",
    }
)  # fmt: skip
SUFFIXES = (".py", ".pyi", ".ipynb")  # notebooks: codemod/run/notebook.py


@dataclass(frozen=True)
class Source:
    path: Path
    display: str
    # The folder the user named: a symlink resolving outside it is never written through.
    root: Path


def compile_patterns(patterns: Iterable[str]) -> Optional[Pattern[str]]:
    """One regex from many; each matches against ``/relative/path`` (folders end with ``/``)."""
    parts = [p for p in patterns if p]
    if not parts:
        return None
    try:
        return re.compile("|".join(f"(?:{p})" for p in parts))
    except re.error as exc:
        raise ValueError(f"invalid exclude pattern: {exc}") from None


# git reads the analysed tree's own .git/config: settings there that run a program (fsmonitor hooks,
# hooksPath) must not, and listing must not write the index. Environment variables that point git
# at other configuration or programs are dropped.
GIT_SAFE = (
    "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.untrackedCache=false",
    "-c", "core.sshCommand=false", "-c", "protocol.allow=never",
)  # fmt: skip
_GIT_KEEP = {"GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM"}


def git_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _GIT_KEEP}
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")
    return env


def _git(args: List[str], timeout: int) -> "subprocess.CompletedProcess[bytes]":
    return subprocess.run(["git", *GIT_SAFE, *args], capture_output=True, timeout=timeout, check=False, env=git_env(), stdin=subprocess.DEVNULL)


def _git_ignored(folder: Path) -> Tuple[Optional[Path], Set[str]]:
    """(repository top, ignored paths relative to it) or (None, empty) outside a git checkout.

    The top is ``folder`` plus git's ``--show-cdup``, not git's resolved ``--show-toplevel``: a tree
    reached through a symlinked folder keeps the paths discovery walks, so they stay comparable.
    """
    try:
        cdup = _git(["-C", str(folder), "rev-parse", "--show-cdup"], timeout=30)
        if cdup.returncode != 0:
            return None, set()
        up = os.fsdecode(cdup.stdout.strip())
        toplevel = Path(os.path.normpath(folder / up)) if up else folder
        listed = _git(
            ["-C", str(toplevel), "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"], timeout=120
        )
    except (OSError, subprocess.SubprocessError):
        return None, set()
    if listed.returncode != 0:
        return None, set()
    entries = {e.rstrip("/") for e in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if e}
    return toplevel, entries


def _matches(pattern: Optional[Pattern[str]], text: str) -> bool:
    return pattern is not None and pattern.search(text) is not None


def _is_virtualenv(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file()


def _display(path: Path) -> str:
    """``path`` relative to the current folder where it lies below it (the names ``--diff`` prints)."""
    cwd = Path.cwd()
    try:
        return path.relative_to(cwd).as_posix()
    except ValueError:
        pass
    # The same folder reached another way (a symlinked cwd or prefix, such as macOS's /tmp).
    try:
        return (Path(os.path.realpath(path.parent)) / path.name).relative_to(os.path.realpath(cwd)).as_posix()
    except ValueError:
        return path.as_posix()


def _inside(path: Path, root: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
        return True
    except ValueError:
        return False


class _GitIgnore:
    """What git ignores, asked once per repository.

    Every folder looked at is cached with the repository holding it: the nearest folder upward with
    a ``.git`` entry. A nested checkout or submodule is its own repository with its own ignore rules,
    and a folder holding several checkouts honours each one's (one cache entry per walked root hid
    every repository below a folder that is not itself in git).
    """

    def __init__(self) -> None:
        self.cache: Dict[Path, Tuple[Optional[Path], Set[str]]] = {}

    def _repository(self, folder: Path) -> Tuple[Optional[Path], Set[str]]:
        visited = []
        for candidate in (folder, *folder.parents):
            if candidate in self.cache:
                answer = self.cache[candidate]
                break
            visited.append(candidate)
            if os.path.lexists(candidate / ".git"):
                answer = _git_ignored(candidate)
                break
        else:
            answer = _git_ignored(folder)  # no .git upward (GIT_DIR, or no checkout): git decides, once
        for candidate in visited:
            self.cache[candidate] = answer
        return answer

    def ignored(self, path: Path, below: Optional[Path] = None) -> bool:
        """Whether git ignores ``path``. With ``below`` (a folder the user named), only ignore rules
        for what lies under it count: naming an ignored folder (a virtualenv's site-packages, say)
        means to process it."""
        top, entries = self._repository(path if path.is_dir() and not path.is_symlink() else path.parent)
        if top is None or not entries:
            return False
        try:
            rel = path.relative_to(top).as_posix()
        except ValueError:
            return False
        floor = ""
        if below is not None:
            try:
                floor = below.relative_to(top).as_posix()
            except ValueError:
                floor = ""
            floor = "" if floor == "." else floor
        while rel and rel != "." and rel != floor:
            if rel in entries:
                return True
            rel = rel.rpartition("/")[0]
        return False


def discover(
    paths: Sequence[str],
    exclude: Optional[Pattern[str]] = None,
    force_exclude: bool = False,
    suffixes: Tuple[str, ...] = SUFFIXES,
    base: Optional[Path] = None,
) -> Tuple[List[Source], List[Tuple[str, str]]]:
    """Files to process, sorted, without duplicates; and (path, reason) for paths that do not exist.

    A file reached twice (named twice, or also through a symlink inside the tree) is processed once,
    so two workers never write the same file.

    Exclude patterns see ``/path/relative/to/base`` (the project root) for paths inside ``base``;
    otherwise the path relative to the folder given (or, for a file named, as displayed)."""
    found: Dict[str, Source] = {}
    missing: List[Tuple[str, str]] = []
    gitignore = _GitIgnore()
    base = Path(os.path.realpath(base)) if base is not None else None
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            missing.append((raw, "no such file or folder"))
            continue
        absolute = Path(os.path.abspath(path))
        if not path.is_dir():
            display = _display(absolute)
            if force_exclude and (_matches(exclude, _key(absolute, base, "/" + display)) or gitignore.ignored(absolute)):
                continue
            _add(found, Source(absolute, display, absolute.parent))
            continue
        for file in _walk(absolute, exclude, gitignore, suffixes, base):
            _add(found, Source(file, _display(file), absolute))
    return sorted(found.values(), key=lambda s: s.display), missing


def _add(found: Dict[str, Source], source: Source) -> None:
    """One Source per real file: the one not reached through a symlink, else the first by name."""
    key = os.path.realpath(source.path)
    other = found.get(key)
    if other is None or (other.path.is_symlink(), other.display) > (source.path.is_symlink(), source.display):
        found[key] = source


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True  # a dangling link or an unreadable file: the runner names the problem


def _key(path: Path, base: Optional[Path], fallback: str, folder: bool = False) -> str:
    """What exclude patterns are matched against: ``/`` + the path relative to ``base`` when inside it."""
    if base is not None:
        for candidate in (path, Path(os.path.realpath(path))):
            try:
                rel = candidate.relative_to(base).as_posix()
            except ValueError:
                continue
            return "/" + rel + ("/" if folder else "")
    return fallback


def _walk(
    root: Path, exclude: Optional[Pattern[str]], gitignore: _GitIgnore, suffixes: Tuple[str, ...], base: Optional[Path] = None
) -> List[Path]:
    out: List[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        rel_here = here.relative_to(root).as_posix()
        prefix = "/" if rel_here == "." else f"/{rel_here}/"
        keep = []
        for name in sorted(dirs):
            child = here / name
            if name in SKIPPED_DIRS or name.endswith(".egg-info") or _is_virtualenv(child):
                continue
            if _matches(exclude, _key(child, base, f"{prefix}{name}/", folder=True)):
                continue
            if gitignore.ignored(child, below=root):
                continue
            keep.append(name)
        dirs[:] = keep
        for name in sorted(files):
            if not name.endswith(suffixes):
                continue
            file = here / name
            if file.is_symlink() and not _inside(file, root):
                continue  # another tree's file: never read, never written through
            if not _regular(file):
                continue  # a FIFO, a device, a socket (or a link to one): reading could block or never end
            if _matches(exclude, _key(file, base, f"{prefix}{name}")):
                continue
            if gitignore.ignored(file, below=root):
                continue
            out.append(file)
    return out
