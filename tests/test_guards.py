"""Guards (§11) where a fixture cannot show it: stubs, a file without ``torch`` bound, and checks of the
rewritten guard's answer on the CPU accelerator."""

from __future__ import annotations

from accelport.codemod.settings import Settings
from accelport.codemod.engine.pipeline import transform_source

STUB = '''\
import torch

class Prefetcher:
    stream: torch.cuda.Stream
    def current(self) -> torch.cuda.Stream: ...
    def wait(self, event: torch.cuda.Event | None = ...) -> None: ...
'''


def test_stub_annotations_stay_types_and_are_reported() -> None:
    result = transform_source(STUB, "prefetch.pyi", Settings())
    assert result.error is None
    assert result.new_text == STUB  # a call is never put into an annotation, in a stub either
    assert [(f.line, f.rule) for f in result.findings] == [
        (4, "torch-cuda-call"), (5, "torch-cuda-call"), (6, "torch-cuda-call"),
    ]  # fmt: skip


def test_device_type_without_torch_bound_is_reported_not_guessed() -> None:
    text = 'def autocast_type(device):\n    return "cuda" if "cuda" in device else "cpu"\n'
    result = transform_source(text, "f.py", Settings())
    assert result.new_text == text
    assert [f.rule for f in result.findings] == ["cuda-device-string"]


def _guard_answers_on_cpu(text: str) -> object:
    """Run the ported function ``f`` with the CPU accelerator selected."""
    from accelport.accelerator_runtime import selection
    from accelport.accelerator_runtime.cpu import CpuAccelerator

    ported = transform_source(text, "f.py", Settings()).new_text
    namespace: dict = {}
    selection.set_accelerator(CpuAccelerator())
    try:
        exec(compile(ported, "f.py", "exec"), namespace)
        return namespace["f"]()
    finally:
        selection.reset_accelerator()


def test_cuda_only_guard_is_false_on_the_cpu_accelerator() -> None:
    text = (
        "import torch\n\n\ndef f():\n"
        "    if torch.cuda.is_available():\n"
        "        return torch.cuda.get_device_capability()\n"
        "    return 'fallback'\n"
    )
    assert _guard_answers_on_cpu(text) == "fallback"


def test_portable_guard_is_true_on_the_cpu_accelerator() -> None:
    text = (
        "import torch\n\n\ndef f():\n"
        "    if torch.cuda.is_available():\n"
        "        torch.cuda.synchronize()\n"
        "        return 'ported'\n"
        "    return 'fallback'\n"
    )
    assert _guard_answers_on_cpu(text) == "ported"


def test_stored_question_over_portable_code_is_true_on_the_cpu_accelerator() -> None:
    text = (
        "import torch\n\n\ndef f():\n"
        "    use_gpu = torch.cuda.is_available()\n"
        "    if use_gpu:\n"
        "        torch.cuda.synchronize()\n"
        "        return 'ported'\n"
        "    return 'fallback'\n"
    )
    assert _guard_answers_on_cpu(text) == "ported"


def test_stored_question_over_a_helper_reaching_an_extension_is_false_on_the_cpu_accelerator() -> None:
    text = (
        "import torch\n\ntry:\n    from fused_norm_ext import rms_norm\nexcept ImportError:\n    rms_norm = None\n\n\n"
        "def _fused(x):\n    return rms_norm(x)\n\n\n"
        "def f():\n"
        "    use_gpu = torch.cuda.is_available()\n"
        "    if use_gpu:\n"
        "        return _fused(torch.ones(2))\n"
        "    return 'fallback'\n"
    )
    assert _guard_answers_on_cpu(text) == "fallback"
