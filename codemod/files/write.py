"""Atomic writes that never lose a byte of anybody's: sources, baselines, caches and reports.

Every write goes to a fresh temporary file in the destination's folder (created with ``O_EXCL``, so a
planted symlink or file of that name is never written through; its name carries a random token, so it
cannot be predicted), is flushed to disk, and is renamed over the destination. A reader sees the old
file or the new one, never a part.

Temporary names are ``.<name prefix>.accelport-<pid>-<token>.tmp`` and at most 255 bytes whatever the
length of the destination's name. A run killed between the creation and the rename leaves one behind;
``remove_stale`` (called by the next run on the folders it writes) deletes those whose process is gone.

Sources get more care (``write_atomic``): the bytes on disk are compared with the bytes the rewrite was
made from right before the rename (an edit made meanwhile wins; the file is named and left alone), a
file with other hard links is refused (a rename would split them), and the owner, group (where this
user may set them), mode and extended attributes are carried over.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Iterable, Optional

_SUFFIX = ".tmp"
# A temporary file of ours: .<prefix>.accelport-<pid>-<token>.tmp
_TEMP = re.compile(r"^\..*\.accelport-(\d+)-[0-9a-f]{16}\.tmp$", re.DOTALL)
NAME_MAX = 255


class WriteError(OSError):
    pass


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def temp_name(name: str) -> str:
    """A temporary name for ``name`` in the same folder: recognisable as ours, unpredictable, short enough."""
    tail = f".accelport-{os.getpid()}-{secrets.token_hex(8)}{_SUFFIX}"
    # Counted in bytes, as the file system counts: a cut inside a character only makes the prefix odd.
    prefix = os.fsencode(name)[: min(40, NAME_MAX - len(os.fsencode(tail)) - 1)]
    return "." + os.fsdecode(prefix) + tail


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    try:  # a killed worker nobody reaped (a container without an init) is a zombie: dead
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def remove_stale(folders: Iterable[Path]) -> int:
    """Delete our temporary files left in ``folders`` by runs that were killed; returns how many."""
    removed = 0
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            found = _TEMP.match(entry.name)
            if found is None or _alive(int(found.group(1))):
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                pass
    return removed


def _create_temp(folder: Path, name: str) -> tuple:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / temp_name(name)
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise WriteError(errno.EEXIST, "cannot create a temporary file")


def _copy_xattrs(source: Path, fd: int) -> None:
    """Extended attributes (ACLs, SELinux labels, user tags) of ``source`` onto ``fd``, where allowed."""
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(source)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(fd, name, os.getxattr(source, name))
        except OSError:
            pass  # not permitted for this user (security.*), or not supported where the file lives


def _owner(st: os.stat_result, fd: int) -> None:
    """Give the new file the old one's owner and group, as far as this user may."""
    if (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid()) or not hasattr(os, "fchown"):
        return
    for uid, gid in ((st.st_uid, st.st_gid), (-1, st.st_gid)):
        try:
            os.fchown(fd, uid, gid)
            return
        except OSError:
            continue


def _fill(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def write_atomic(path: Path, data: bytes, expected_digest: str) -> None:
    """Replace the source file ``path`` with ``data``.

    ``expected_digest`` is the digest of the bytes the new text was made from: a file changed by
    someone else in between is left alone. The comparison is made after the new bytes are on disk,
    right before the rename.
    """
    target = Path(os.path.realpath(path))
    try:
        st = os.lstat(target)
    except OSError as exc:
        raise WriteError(f"cannot write: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise WriteError("not a regular file; left as it is")
    if st.st_nlink > 1:
        raise WriteError(
            f"has {st.st_nlink} hard links: replacing it would leave the old text under the other names; "
            "left as it is (rewrite a copy, or break the links first)"
        )
    # The temporary file is renamed over the original, which needs only the folder to be writable:
    # a file the user made read-only must be refused here, as opening it for writing would be.
    if not os.access(target, os.W_OK):
        raise WriteError("cannot write: permission denied; left as it is")

    def prepare(fd: int) -> None:
        _owner(st, fd)
        _copy_xattrs(target, fd)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        _fill(fd, data)

    _replace(target, prepare, lambda: _unchanged(target, st, expected_digest), "")


def _replace(target: Path, prepare, check, label: str) -> None:
    """Fill a fresh temporary file next to ``target`` (``prepare(fd)``), run ``check()``, rename it over
    ``target``; on any failure the temporary file is removed and a WriteError (prefixed ``label``) raised."""
    try:
        fd, tmp = _create_temp(target.parent, target.name)
    except OSError as exc:
        raise WriteError(f"{label}cannot write: {exc.strerror or exc}") from None
    try:
        try:
            prepare(fd)
        finally:
            os.close(fd)
        check()
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, WriteError):
            raise
        if isinstance(exc, OSError):
            raise WriteError(f"{label}cannot write: {exc.strerror or exc}") from None
        raise


def _unchanged(target: Path, before: os.stat_result, expected_digest: str) -> None:
    try:
        with open(target, "rb") as handle:
            now = os.fstat(handle.fileno())
            current = handle.read()
    except OSError as exc:
        raise WriteError(f"cannot re-read before writing: {exc.strerror or exc}") from None
    if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino) or digest(current) != expected_digest:
        raise WriteError("file changed while it was being processed; left as it is (run again)")


def write_file(path: Path, data: bytes, inside: Optional[Path] = None) -> Path:
    """Atomically replace (or create) a file of ours: a baseline, a cache, a report. Returns what was written.

    A symlinked ``path`` keeps its link: its target is written, if that target lies inside the folder
    ``inside`` (the project); otherwise the write is refused. A destination that exists but is not a
    regular file is refused too.
    """
    path = Path(os.path.abspath(path))
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if inside is None or not _below(target, Path(os.path.realpath(inside))):
            raise WriteError(f"{path}: is a symlink to {target}, outside the project; not written through")
        path = target
    try:
        st: Optional[os.stat_result] = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise WriteError(f"{path}: cannot write: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise WriteError(f"{path}: exists and is not a regular file; not written")
    if st is not None:
        mode = stat.S_IMODE(st.st_mode)
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask

    def prepare(fd: int) -> None:
        if st is not None:
            _owner(st, fd)
        os.fchmod(fd, mode)
        _fill(fd, data)

    _replace(path, prepare, lambda: None, f"{path}: ")
    return path


def _below(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def writable_destination(path: Path) -> Optional[str]:
    """Why ``write_file(path)`` would certainly fail, or None: checked before a run does its work."""
    path = Path(os.path.abspath(path))
    folder = Path(os.path.realpath(path)).parent if path.is_symlink() else path.parent
    if path.is_dir():
        return f"{path}: is a folder"
    if not folder.is_dir():
        return f"{path}: folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{path}: cannot write in {folder}: permission denied"
    return None
