"""Atomic writes that keep the file's mode and refuse to clobber a file changed since it was read."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path


class WriteError(OSError):
    pass


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def write_atomic(path: Path, data: bytes, expected_digest: str) -> None:
    """Replace ``path`` with ``data`` through a temporary file in the same folder.

    ``expected_digest`` is the digest of the bytes the new text was made from: a file changed by
    someone else in between is left alone.
    """
    target = Path(os.path.realpath(path))
    try:
        current = target.read_bytes()
    except OSError as exc:
        raise WriteError(f"cannot re-read before writing: {exc.strerror or exc}") from None
    if digest(current) != expected_digest:
        raise WriteError("file changed while it was being processed; left as it is")
    # The temporary file is renamed over the original, which needs only the folder to be writable:
    # a file the user made read-only must be refused here, as opening it for writing would be.
    if not os.access(target, os.W_OK):
        raise WriteError("cannot write: permission denied; left as it is")
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".accelport", dir=target.parent)
    except OSError as exc:
        raise WriteError(f"cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write: {exc.strerror or exc}") from None
        raise
