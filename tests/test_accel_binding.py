"""The name rewrites call the accelerator by, and the import that binds it (codemod/engine/accel_binding.py).

The fixtures (torch-cuda-call/accelerator_import_*, _deepspeed/deepspeed_*) show whole files; these
tests pin what the fixtures cannot: the runner's safety check accepts the aliased import, and every
rule's replacement is spelled with the alias, not only torch-cuda-call's."""

from __future__ import annotations

from accelport.codemod.engine import accel_binding
from accelport.codemod.run import runner
from accelport.codemod.settings import Settings
from accelport.codemod.engine.pipeline import transform_source

SHADOWED = '''import torch
from trainerkit.hardware import get_accelerator


def step(model, batch, rank):
    model = model.cuda(rank)
    batch = batch.pin_memory().to("cuda")
    torch.distributed.init_process_group("nccl")
    if batch.is_cuda:
        torch.cuda.synchronize()
    return get_accelerator("auto")
'''


def test_every_rule_spells_the_alias_and_the_runner_accepts_it() -> None:
    result = transform_source(SHADOWED, "f.py", Settings())
    new = result.new_text
    assert "from accelport.accelerator_runtime import get_accelerator as _accelport_get_accelerator\n" in new
    # Only the file's own call is spelled get_accelerator(...) after the port.
    assert new.count("get_accelerator(") - new.count("_accelport_get_accelerator(") == 1
    assert new.count("_accelport_get_accelerator()") >= 4
    assert runner.verify(SHADOWED, new, result.allowed_lines) is None
    # Idempotent: the second run reuses the alias it imported.
    assert transform_source(new, "f.py", Settings()).new_text == new


def test_plan_prefers_the_runtime_asked_for_when_both_are_imported() -> None:
    text = (
        "from deepspeed.accelerator import get_accelerator as ds_accel\n"
        "from accelport.accelerator_runtime import get_accelerator as ap_accel\n"
    )
    assert accel_binding.plan(text, "accelport") == accel_binding.Binding("ap_accel", False)
    assert accel_binding.plan(text, "deepspeed") == accel_binding.Binding("ds_accel", False)


def test_a_rebound_runtime_alias_is_not_reused() -> None:
    text = "from accelport.accelerator_runtime import get_accelerator as accel\naccel = None\n"
    plan = accel_binding.plan(text, "accelport")
    assert plan == accel_binding.Binding("get_accelerator", True)


def test_guard_ignores_type_checking_and_reraising_handlers() -> None:
    assert accel_binding.guard("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n", "accelport.accelerator_runtime") is None
    reraise = "try:\n    import torch\nexcept ImportError:\n    raise SystemExit('needs torch')\n"
    assert accel_binding.guard(reraise, "accelport.accelerator_runtime") is None
    optional = "try:\n    import torch\nexcept (ImportError, OSError):\n    torch = None\n"
    assert "line 2" in (accel_binding.guard(optional, "accelport.accelerator_runtime") or "")
