"""``[tool.accelport]`` in the nearest ``pyproject.toml`` upward; the command line overrides it."""

from __future__ import annotations

import glob as globlib
import re
import tomllib
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from accelport.codemod.settings import TARGETS
from accelport.rules import registry

# Added to a loaded table: the folder of the pyproject.toml it came from (exclude patterns and
# per-file-ignores globs are relative to it). Not a key a user can set: unknown keys are refused first.
ROOT = "(project root)"

# key -> (type, description for errors)
SCHEMA = {
    "exclude": (list, "a list of regular expressions"),
    "extend-exclude": (list, "a list of regular expressions"),
    "force-exclude": (bool, "true or false"),
    "select": (list, "a list of rule names or codes"),
    "ignore": (list, "a list of rule names or codes"),
    "per-file-ignores": (dict, "a table of glob = [rule names]"),
    "runtime": (str, '"accelport" or "deepspeed"'),
    "jobs": (int, "a whole number"),
    "target": (str, '"accelerator" or "torch"'),
    "mappings": (dict, 'a table of "qualified.name" = "accelerator method" or "unported"'),
    # Limits checked before LibCST sees a file (docs/safety.md).
    "max-file-size": (int, "a whole number of bytes, at least 1"),
    "max-line-length": (int, "a whole number of characters, at least 1"),
    "max-nesting": (int, "a whole number of syntax-tree levels, at least 1"),
}
LIMITS = ("max-file-size", "max-line-length", "max-nesting")


class ConfigError(ValueError):
    pass


def find_pyproject(start: Path) -> Optional[Path]:
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load(path: Optional[Path]) -> Dict[str, Any]:
    """The validated ``[tool.accelport]`` table of ``path`` ({} when absent), plus ``ROOT``.

    ``per-file-ignores`` globs come back anchored at the project root (a glob without ``/`` matches
    file names anywhere); rule names are checked here so that an error names the key."""
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8 (TOML files are UTF-8)") from None
    except (tomllib.TOMLDecodeError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    tool = document.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: [tool] must be a table")
    table = tool.get("accelport", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.accelport] must be a table, not {type(table).__name__}")
    for key, value in table.items():
        if key not in SCHEMA:
            raise ConfigError(f"{path}: [tool.accelport] unknown key {key!r}; known keys: {', '.join(SCHEMA)}")
        kind, described = SCHEMA[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: [tool.accelport] {key} must be {described}")
        if kind is list and not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{path}: [tool.accelport] {key} must be {described}")
        if key in ("select", "ignore"):
            _rules(path, key, value)
        if key in ("exclude", "extend-exclude"):
            for pattern in value:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(f"{path}: [tool.accelport] {key}: invalid regular expression {pattern!r}: {exc}") from None
        if key == "per-file-ignores":
            anchored = {}
            for glob, rules in value.items():
                if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
                    raise ConfigError(f"{path}: [tool.accelport] per-file-ignores.{glob!r} must be a list of rule names")
                _rules(path, f"per-file-ignores.{glob!r}", rules)
                anchored[anchor(glob, path.parent)] = rules
            table[key] = anchored
        if key in LIMITS and value < 1:
            raise ConfigError(f"{path}: [tool.accelport] {key} must be {described}")
        if key == "jobs" and value < 1:
            raise ConfigError(f"{path}: [tool.accelport] jobs must be at least 1")
        if key == "runtime" and value not in ("accelport", "deepspeed"):
            raise ConfigError(f"{path}: [tool.accelport] runtime must be {described}")
        if key == "target" and value not in TARGETS:
            raise ConfigError(f"{path}: [tool.accelport] target must be {described}")
        if key == "mappings":
            try:
                # Stored validated: a sorted tuple of (qualified name, method or "unported").
                # The rules (and LibCST) are imported only by a project that declares mappings.
                from accelport.rules.user_mapping import parse_mappings

                table[key] = parse_mappings(value)
            except ValueError as exc:
                raise ConfigError(f"{path}: [tool.accelport] {exc}") from None
    table[ROOT] = path.parent.resolve()
    return table


def _rules(path: Path, key: str, names: list) -> None:
    try:
        registry.resolve(names)
    except registry.UnknownRule as exc:
        raise ConfigError(f"{path}: [tool.accelport] {key}: {exc}") from None


def anchor(glob: str, root: Path) -> str:
    """A per-file-ignores glob as matched by the runner: absolute below ``root``; a bare file-name glob
    (no ``/``) is kept as it is and matched against file names."""
    glob = glob[2:] if glob.startswith("./") else glob
    if "/" not in glob:
        return glob
    return globlib.escape(root.resolve().as_posix()) + "/" + glob.lstrip("/")


def for_paths(paths: Sequence[str]) -> Dict[str, Any]:
    """The table that applies to every path given: that of the nearest ``pyproject.toml`` above each.

    Paths of projects configured differently in one run would make the findings depend on the order
    of the arguments; that is refused, naming the two files (run once per project, or pass --config).
    """
    starts = [Path(p) for p in paths] or [Path.cwd()]
    found: Dict[Optional[Path], Dict[str, Any]] = {}
    by_folder: Dict[Path, Optional[Path]] = {}
    for start in starts:
        folder = start if start.is_dir() else start.parent
        if folder not in by_folder:
            by_folder[folder] = find_pyproject(folder)
        pyproject = by_folder[folder]
        if pyproject not in found:
            found[pyproject] = load(pyproject)
    (first, table), *others = found.items()
    for other, other_table in others:
        if _effect(other_table) != _effect(table):
            names = " and ".join(str(p) if p else "(no pyproject.toml)" for p in (first, other))
            raise ConfigError(
                f"the paths belong to projects configured differently ({names}); "
                "run accelport once per project, or name the configuration with --config"
            )
    return table


def _effect(table: Dict[str, Any]) -> Dict[str, Any]:
    """What a table changes: its keys, and its folder where patterns are relative to it."""
    keys = {k: v for k, v in table.items() if k != ROOT}
    if any(k in keys for k in ("exclude", "extend-exclude")):
        keys[ROOT] = table.get(ROOT)
    return keys
