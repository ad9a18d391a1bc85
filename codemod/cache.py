"""A cache of per-file outcomes, so a re-run over unchanged files costs almost nothing.

An entry is found by the file's path as shown and is valid only for the same file content (a
SHA-256 of its bytes), the same accelport code (version plus a fingerprint of the engine and rule
sources, so an edited rule never serves stale answers), the same settings and the same mode. A
file whose size and mtime are what they were when its entry was stored is not even read; any
other file is read and hashed, and its entry is used only if the hash matches.

One pickle per (code, settings, mode) under the user cache folder (``$ACCELPORT_CACHE_DIR``, else
``$XDG_CACHE_HOME/accelport``, else ``~/.cache/accelport``), read and written by the parent process
only, replaced atomically. Entries are never trusted for writing: ``rewrite`` reuses only an
"unchanged, no error" outcome, and re-transforms every file that would change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from accelport import __version__

# display -> (size, mtime_ns, sha256 of the bytes, outcome)
Entry = Tuple[int, int, str, Any]
_FORMAT = 1


def cache_dir() -> Path:
    explicit = os.environ.get("ACCELPORT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "accelport"


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """accelport's version plus the size and mtime of every source file of the engine and rules."""
    import accelport.codemod
    import accelport.rules

    digest = hashlib.sha256(f"{__version__}:{_FORMAT}".encode())
    for package in (accelport.codemod, accelport.rules):
        for folder in package.__path__:
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name.endswith(".py"):
                    st = entry.stat()
                    digest.update(f"{entry.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: repr(kv[0]))}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def run_key(settings: Any, mode: str) -> str:
    text = json.dumps([code_fingerprint(), _canonical(settings), mode], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Cache:
    """Outcomes of one (code, settings, mode); ``lookup`` before the run, ``store`` after, ``save`` once."""

    def __init__(self, settings: Any, mode: str, folder: Optional[Path] = None) -> None:
        self.folder = folder or cache_dir()
        self.path = self.folder / f"{run_key(settings, mode)}.pickle"
        self.entries: Dict[str, Entry] = self._load()
        self.dirty = False

    def _load(self) -> Dict[str, Entry]:
        try:
            with open(self.path, "rb") as handle:
                data = pickle.load(handle)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError):
            return {}
        return data if isinstance(data, dict) else {}

    def lookup(self, display: str, path: Path) -> Tuple[Any, Optional[Tuple[int, int, str]]]:
        """(cached outcome or None, the file's (size, mtime_ns, hash) if it was worked out)."""
        entry = self.entries.get(display)
        try:
            st = os.stat(path)
        except OSError:
            return None, None
        if entry is not None and entry[0] == st.st_size and entry[1] == st.st_mtime_ns:
            return entry[3], None
        if entry is None:
            return None, None
        try:
            digest = content_hash(Path(path).read_bytes())
        except OSError:
            return None, None
        stamp = (st.st_size, st.st_mtime_ns, digest)
        if digest == entry[2]:
            # Same bytes, new mtime (a checkout, a touch): refresh the stamp, keep the answer.
            self.entries[display] = (*stamp, entry[3])
            self.dirty = True
            return entry[3], stamp
        return None, stamp

    def store(self, display: str, stamp: Tuple[int, int, str], outcome: Any) -> None:
        """Remember ``outcome`` for the bytes whose (size, mtime_ns, hash) is ``stamp``.

        The worker takes the stat before it reads, so a file edited meanwhile gets a new mtime
        and is hashed again next time. A file modified in the last two seconds could be modified
        again within the same mtime tick, so its stat is not trusted: it will be hashed next time.
        """
        size, mtime_ns, digest = stamp
        if time.time_ns() - mtime_ns < 2_000_000_000:
            mtime_ns = -1
        self.entries[display] = (size, mtime_ns, digest, outcome)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".accelport-", dir=self.folder)
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(self.entries, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except OSError:
            # A cache that cannot be written only costs time on the next run.
            try:
                os.unlink(tmp)  # type: ignore[possibly-undefined]
            except (OSError, UnboundLocalError):
                pass
            return
        self.dirty = False
