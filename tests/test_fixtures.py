"""Every fixture case: ``tests/fixtures/<rule>/<case>.in.py`` run through that folder's rule alone.

No ``.out.py`` means the input must come back byte-identical; no ``.findings.txt`` means no finding.
``_all`` runs every default rule together; ``_deepspeed`` does the same with ``--runtime deepspeed``,
``_torch_target`` with ``--target torch``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import List

import pytest

from accelport.codemod.frontends import config
from accelport.codemod.settings import Settings
from accelport.codemod.files.read import decode
from accelport.codemod.engine.pipeline import transform_source
from accelport.rules import registry

from .conftest import FIXTURES, regenerate

CASES = sorted(FIXTURES.glob("*/*.in.py"))


def _settings(folder: str) -> Settings:
    if folder == "_all":
        return Settings()
    if folder == "_deepspeed":
        return Settings(runtime="deepspeed")
    if folder == "_torch_target":
        return Settings(target="torch")
    assert folder in registry.BY_NAME, f"fixture folder {folder!r} names no rule"
    # A folder's accelport.toml holds a [tool.accelport] table for its cases (user-mapping's mappings,
    # op-builder's runtime).
    table = config.load(FIXTURES / folder / "accelport.toml") if (FIXTURES / folder / "accelport.toml").exists() else {}
    return Settings(rules=frozenset({folder}), mappings=table.get("mappings", ()), runtime=table.get("runtime", "accelport"))


def _findings_lines(result) -> List[str]:
    return [f"{f.line}:{f.col} {f.rule} {f.message}" for f in result.findings]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name[:-6]}" for c in CASES])
def test_fixture(case: Path) -> None:
    settings = _settings(case.parent.name)
    stem = case.name[: -len(".in.py")]
    out_path = case.with_name(stem + ".out.py")
    findings_path = case.with_name(stem + ".findings.txt")
    data = case.read_bytes()
    decoded = decode(data)
    result = transform_source(decoded.text, case.name, settings)
    assert result.error is None, result.error
    produced = decoded.encode(result.new_text)
    found = _findings_lines(result)

    if regenerate():
        if produced != data:
            out_path.write_bytes(produced)
        elif out_path.exists():
            out_path.unlink()
        if found:
            findings_path.write_text("".join(line + "\n" for line in found), encoding="utf-8")
        elif findings_path.exists():
            findings_path.unlink()

    expected = out_path.read_bytes() if out_path.exists() else data
    assert produced == expected
    if out_path.exists():
        assert produced != data, f"{out_path.name} exists but the rule changes nothing"
    ast.parse(result.new_text)

    second = transform_source(result.new_text, case.name, settings)
    assert second.new_text == result.new_text, "a second pass changed the output"

    expected_findings = findings_path.read_text(encoding="utf-8").splitlines() if findings_path.exists() else []
    assert found == expected_findings


def test_every_rule_has_fixtures() -> None:
    folders = {path.parent.name for path in CASES}
    missing = [name for name in registry.BY_NAME if name not in folders]
    assert not missing, f"rules without fixtures: {missing}"
