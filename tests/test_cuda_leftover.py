"""cuda-leftover against the selection: a kind whose rules the user turned off is the user's choice."""

from __future__ import annotations

from accelport.codemod.settings import Settings
from accelport.codemod.engine.pipeline import transform_source
from accelport.rules.registry import DEFAULT_NAMES

# No rule rewrites or reports these in a default run, except the torch.cuda call (torch-cuda-call).
TEXT = 'import torch\n\n\ndef go(x):\n    torch.cuda.synchronize()\n    return launch(x, "cuda:0", "nccl")\n'


def _leftovers(settings: Settings):
    return [(f.line, f.col) for f in transform_source(TEXT, "f.py", settings).findings if f.rule == "cuda-leftover"]


def test_default_run_reports_only_what_no_rule_handled() -> None:
    assert _leftovers(Settings()) == [(6, 22), (6, 32)]


def test_ignoring_the_rules_of_a_kind_quiets_that_kind_only() -> None:
    without_calls = Settings(rules=DEFAULT_NAMES - {"torch-cuda-call"})
    assert _leftovers(without_calls) == [(6, 22), (6, 32)]
    without_strings = Settings(rules=DEFAULT_NAMES - {"cuda-device-string"})
    assert _leftovers(without_strings) == [(6, 32)]


def test_alone_it_reports_every_kind() -> None:
    assert _leftovers(Settings(rules=frozenset({"cuda-leftover"}))) == [(5, 5), (6, 22), (6, 32)]
