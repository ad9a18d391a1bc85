"""A cache of per-file outcomes, so a re-run over unchanged files costs almost nothing.

An entry is found by the file's path as shown and is used only for the same bytes (a SHA-256 of the
file, read and hashed on every run: size and mtime are never trusted, two checkouts can share both),
the same accelport code (version plus a fingerprint of the engine and rule sources, so an edited rule
never serves stale answers), the same settings and the same mode.

One JSON document per (code, settings, mode) under the user cache folder (``$ACCELPORT_CACHE_DIR``,
else ``$XDG_CACHE_HOME/accelport``, else ``~/.cache/accelport``), read and written by the parent
process only, replaced atomically (codemod/files/write.py). JSON cannot run code when loaded (a cache
restored from an untrusted CI branch is data, nothing more); anything unreadable, malformed or of the
wrong shape counts as no cache. Entries are never trusted for writing: ``rewrite`` reuses only an
"unchanged, no error" outcome, and re-transforms every file that would change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from accelport import __version__
from accelport.codemod.files.read import MAX_FILE_SIZE, SourceError, read_bounded
from accelport.codemod.files.write import WriteError, remove_stale, write_file

_FORMAT = 2
# A cache file larger than this is not read (it could only come from elsewhere).
MAX_CACHE_BYTES = 512 * 1024 * 1024


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
            # The codemod's layers are sub-packages (engine/, files/, run/, frontends/): all of them count.
            for where, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(files):
                    if name.endswith(".py"):
                        st = os.stat(os.path.join(where, name))
                        rel = os.path.relpath(os.path.join(where, name), folder)
                        digest.update(f"{rel}:{st.st_size}:{st.st_mtime_ns};".encode())
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
    """Outcomes of one (code, settings, mode) as JSON data; ``lookup`` before the run, ``store`` after,
    ``save`` once. The runner turns outcomes into data and back (``runner.outcome_data``)."""

    def __init__(self, settings: Any, mode: str, folder: Optional[Path] = None) -> None:
        self.folder = folder or cache_dir()
        self.path = self.folder / f"{run_key(settings, mode)}.json"
        self.limit = getattr(settings, "max_file_size", MAX_FILE_SIZE)
        self.entries: Dict[str, Tuple[str, Any]] = self._load()
        self.dirty = False

    def _load(self) -> Dict[str, Tuple[str, Any]]:
        try:
            _, raw = read_bounded(self.path, MAX_CACHE_BYTES)
            document = json.loads(raw)
        except (OSError, SourceError, ValueError, RecursionError, MemoryError):
            return {}
        if not isinstance(document, dict) or document.get("format") != _FORMAT or not isinstance(document.get("entries"), dict):
            return {}
        return {
            display: (entry[0], entry[1])
            for display, entry in document["entries"].items()
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], dict)
        }

    def lookup(self, display: str, path: Path) -> Tuple[Any, Optional[Tuple[int, int, str]]]:
        """(cached outcome data or None, the file's (size, mtime_ns, hash) if it was read)."""
        entry = self.entries.get(display)
        if entry is None:
            return None, None
        try:
            st, data = read_bounded(path, self.limit)
        except (OSError, SourceError):
            return None, None  # the worker reads it again and names the problem
        stamp = (st.st_size, st.st_mtime_ns, content_hash(data))
        return (entry[1] if entry[0] == stamp[2] else None), stamp

    def store(self, display: str, stamp: Tuple[int, int, str], data: Any) -> None:
        """Remember outcome ``data`` for the bytes whose hash is ``stamp[2]``."""
        self.entries[display] = (stamp[2], data)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        document = {"format": _FORMAT, "tool": "accelport", "entries": {k: list(v) for k, v in self.entries.items()}}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            remove_stale([self.folder])
            write_file(self.path, json.dumps(document, separators=(",", ":")).encode(), inside=self.folder)
        except (OSError, WriteError, ValueError):
            return  # a cache that cannot be written only costs time on the next run
        self.dirty = False
