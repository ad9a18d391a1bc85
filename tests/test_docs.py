"""The committed rule documentation matches the rule docstrings, and every rule is documented."""

from __future__ import annotations

import re

from accelport.codemod.frontends import docs
from accelport.rules import registry

from .conftest import REPO

SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "## Use instead", "## Fix safety")


def test_readme_rule_table_is_current() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert docs.readme_with_table(readme) == readme, "run: python -m accelport.codemod.frontends.docs"


def test_rules_page_is_current() -> None:
    page = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert page == docs.rules_page(), "run: python -m accelport.codemod.frontends.docs"


def test_every_rule_docstring_has_ruff_sections() -> None:
    for rule in registry.ALL_RULES:
        doc = rule.doc()
        missing = [s for s in SECTIONS if s not in doc]
        assert not missing, f"{rule.NAME}: missing {missing}"


def test_names_and_codes_are_unique_and_well_formed() -> None:
    names = [r.NAME for r in registry.ALL_RULES]
    codes = [r.CODE for r in registry.ALL_RULES]
    assert len(set(names)) == len(names)
    assert len(set(codes)) == len(codes)
    for rule in registry.ALL_RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.NAME), rule.NAME
        assert re.fullmatch(r"AP[19]\d\d", rule.CODE), rule.CODE
        assert rule.DEFAULT == rule.CODE.startswith("AP1"), f"{rule.NAME}: advisory codes are AP9xx and off by default"


def test_readme_first_command_ports_the_bundled_example() -> None:
    """`accelport rewrite --diff examples/` from the repository root shows the port (the README's promise)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "accelport", "rewrite", "--diff", "--no-cache", "examples/"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "+++ b/examples/train_cuda.py" in done.stdout and "get_accelerator()" in done.stdout
    assert "needs manual attention" in done.stderr


def test_catalog_is_the_rule_classes() -> None:
    """Names, codes and defaults are known without importing the rules: the table must say what they say."""
    from_classes = [(r.NAME, r.CODE, r.DEFAULT, r.__module__.rpartition(".")[2], r.__name__) for r in registry.ALL_RULES]
    assert list(registry.CATALOG) == from_classes
    assert registry.DEFAULT_NAMES == {r.NAME for r in registry.ALL_RULES if r.DEFAULT}


def test_trigger_table_is_the_rule_classes() -> None:
    """The prefilter that spares a trigger-free file from LibCST must know every rule's triggers."""
    assert registry.TRIGGERS == {r.NAME: tuple(r.TRIGGERS) for r in registry.ALL_RULES}
    mappings = (("mypkg.gpu.to_gpu", "get_accelerator().x"), ("mypkg.sync", "get_accelerator().synchronize"))
    configured = registry.BY_NAME["user-mapping"](mappings)
    assert registry.mapping_triggers(mappings) == configured.TRIGGERS == ("sync", "to_gpu")
