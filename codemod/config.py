"""``[tool.accelport]`` in the nearest ``pyproject.toml`` upward; the command line overrides it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Dict, Optional

from accelport.codemod.settings import TARGETS
from accelport.rules.user_mapping import parse_mappings

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
}


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
    """The validated ``[tool.accelport]`` table of ``path`` ({} when absent)."""
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    table = document.get("tool", {}).get("accelport", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.accelport] must be a table")
    for key, value in table.items():
        if key not in SCHEMA:
            raise ConfigError(f"{path}: [tool.accelport] unknown key {key!r}; known keys: {', '.join(SCHEMA)}")
        kind, described = SCHEMA[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{path}: [tool.accelport] {key} must be {described}")
        if kind is list and not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{path}: [tool.accelport] {key} must be {described}")
        if key == "per-file-ignores":
            for glob, rules in value.items():
                if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
                    raise ConfigError(f"{path}: [tool.accelport] per-file-ignores.{glob!r} must be a list of rule names")
        if key == "runtime" and value not in ("accelport", "deepspeed"):
            raise ConfigError(f"{path}: [tool.accelport] runtime must be {described}")
        if key == "target" and value not in TARGETS:
            raise ConfigError(f"{path}: [tool.accelport] target must be {described}")
        if key == "mappings":
            try:
                # Stored validated: a sorted tuple of (qualified name, method or "unported").
                table[key] = parse_mappings(value)
            except ValueError as exc:
                raise ConfigError(f"{path}: [tool.accelport] {exc}") from None
    return table
