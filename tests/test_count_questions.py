"""Device-count questions and test skips, run after the port with the CPU accelerator selected: what
a machine without CUDA did before the port, it still does (a fixture shows the text; this shows the
answer)."""

from __future__ import annotations

from .test_guards import _guard_answers_on_cpu

SKIPS = '''\
import unittest

import torch


def require_single_gpu(test_case):
    return unittest.skipUnless(torch.cuda.device_count() == 1, "test requires a GPU")(test_case)


class OffloadTest(unittest.TestCase):
    def test_moves_weights(self):
        if not torch.cuda.is_available() and not torch.xpu.is_available():
            self.skipTest("CUDA or XPU not available")
        torch.cuda.synchronize()

    @require_single_gpu
    def test_single(self):
        torch.cuda.synchronize()

    def test_sharded(self):
        if torch.cuda.device_count() < 2:
            self.skipTest("needs two GPUs")
        torch.cuda.synchronize()


def f():
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(OffloadTest).run(result)
    return sorted(test.id().rsplit(".", 1)[-1] for test, _ in result.skipped), result.testsRun
'''


def test_tests_written_for_cuda_stay_skipped_on_the_cpu_accelerator() -> None:
    skipped, ran = _guard_answers_on_cpu(SKIPS)  # type: ignore[misc]
    assert ran == 3
    assert skipped == ["test_moves_weights", "test_sharded", "test_single"]


def test_no_gpu_exit_still_taken_on_the_cpu_accelerator() -> None:
    text = (
        "import torch\n\n\ndef f():\n"
        "    if torch.cuda.device_count() == 0:\n"
        "        return [None]\n"
        "    devices = ['cpu', 'cuda:0']\n"
        "    if torch.cuda.device_count() > 1:\n"
        "        devices.append(f'cuda:{torch.cuda.device_count() - 1}')\n"
        "    return devices\n"
    )
    assert _guard_answers_on_cpu(text) == [None]


def test_count_guard_over_ported_code_asks_the_accelerator() -> None:
    text = (
        "import torch\n\n\ndef f():\n"
        "    if torch.cuda.device_count() > 0:\n"
        "        torch.cuda.synchronize()\n"
        "        return list(range(torch.cuda.device_count()))\n"
        "    return []\n"
    )
    assert _guard_answers_on_cpu(text) == [0]  # the CPU accelerator's one device
