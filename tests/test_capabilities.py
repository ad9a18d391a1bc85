"""The capability table (``accelport.rules.capabilities``) against the runtimes it describes: the real
DeepSpeed installed here (its abstract class, its CPU accelerator probed, its CUDA class read) and
``accelport.accelerator_runtime``. A fact that changes upstream fails here instead of in a user's port.

DeepSpeed is probed in a subprocess, with ``DS_ACCELERATOR=cpu``, so that its accelerator selection and
logging stay out of the test process.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from accelport.rules import capabilities
from accelport.rules.capabilities import ACCELPORT, DEEPSPEED_PINNED, MEMBERS, MISSING

REPO = Path(__file__).resolve().parent.parent

# How a member is probed on a CPU accelerator instance; the kinds are capabilities' constants.
PROBE = textwrap.dedent(
    """
    import inspect, json, os

    CALLS = {"device": (0,), "current_stream": (), "default_stream": (), "create_graph": (),
             "capture_to_graph": (None,), "replay_graph": (None,), "current_device": ()}

    def probe(accelerator, members):
        out = {}
        for name in members:
            if not hasattr(type(accelerator), name) and not hasattr(accelerator, name):
                out[name] = "missing"
                continue
            value = getattr(accelerator, name)
            if value is None:
                out[name] = "None"
                continue
            if name in CALLS:
                os.environ["LOCAL_RANK"] = "1"
                try:
                    result = value(*CALLS[name])
                except NotImplementedError:
                    out[name] = "raises"
                    continue
                finally:
                    os.environ.pop("LOCAL_RANK")
                if result is None and name != "replay_graph":  # the one call that returns nothing
                    out[name] = "returns None"
                elif name == "current_device" and not isinstance(result, int):
                    out[name] = "differs in type"
        return out
    """
)


def _documented(profile, backend):
    return {member: gap.kind for member, gap in profile.gaps[backend].items()}


def _run(code: str) -> dict:
    env = dict(os.environ, DS_ACCELERATOR="cpu", OMP_NUM_THREADS="1")
    env.pop("LOCAL_RANK", None)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pinned_deepspeed_is_the_one_installed():
    assert importlib.metadata.version("deepspeed") == DEEPSPEED_PINNED.version
    pins = (REPO / "constraints" / "ci.txt").read_text()
    assert f"deepspeed=={DEEPSPEED_PINNED.version}" in pins


@pytest.fixture(scope="module")
def deepspeed_facts() -> dict:
    code = PROBE + textwrap.dedent(
        f"""
        from deepspeed.accelerator.abstract_accelerator import DeepSpeedAccelerator
        from deepspeed.accelerator.cpu_accelerator import CPU_Accelerator
        from deepspeed.accelerator.cuda_accelerator import CUDA_Accelerator
        members = {list(MEMBERS)!r}
        sources = {{}}
        for name in members:
            attr = inspect.getattr_static(CUDA_Accelerator, name, None)
            fn = getattr(attr, "fget", attr)
            sources[name] = inspect.getsource(fn) if callable(fn) else ""
        cpu_sources = {{}}
        for name in members:
            attr = inspect.getattr_static(CPU_Accelerator, name, None)
            fn = getattr(attr, "fget", attr)
            cpu_sources[name] = inspect.getsource(fn) if callable(fn) else ""
        cpu = CPU_Accelerator()
        print(json.dumps({{
            "abstract": [m for m in members if hasattr(DeepSpeedAccelerator, m)],
            "cuda_missing": [m for m in members if not hasattr(CUDA_Accelerator, m)],
            "cuda_sources": sources,
            "cpu_sources": cpu_sources,
            "cpu": probe(cpu, members),
            "cpu_builders": sorted(n for n in dir(__import__("deepspeed.ops.op_builder.cpu", fromlist=["x"]))
                                   if n.endswith("Builder") and cpu.get_op_builder(n).__name__ == n),
        }}))
        """
    )
    return _run(code)


def test_deepspeed_cpu_accelerator_matches_the_table(deepspeed_facts):
    assert deepspeed_facts["cpu"] == _documented(DEEPSPEED_PINNED, "cpu")


def test_deepspeed_abstract_and_cuda_classes_match_the_table(deepspeed_facts):
    missing_on_cuda = {m for m, gap in DEEPSPEED_PINNED.gaps["cuda"].items() if gap.kind == MISSING}
    assert set(deepspeed_facts["cuda_missing"]) == missing_on_cuda
    # The abstract class declares every member the table does not call missing: none is a CUDA extra.
    assert set(deepspeed_facts["abstract"]) == set(MEMBERS) - missing_on_cuda


@pytest.mark.parametrize("backend", ["cuda", "cpu"])
def test_deepspeed_evidence_is_in_its_source(deepspeed_facts, backend):
    sources = deepspeed_facts[f"{backend}_sources"]
    for member, gap in DEEPSPEED_PINNED.gaps[backend].items():
        if gap.evidence:
            assert gap.evidence in sources[member], (member, sources[member])


def test_deepspeed_cpu_builders_match_the_table(deepspeed_facts):
    assert set(deepspeed_facts["cpu_builders"]) >= DEEPSPEED_PINNED.builders["cpu"]


def test_accelport_runtime_matches_the_table():
    code = PROBE + textwrap.dedent(
        f"""
        from accelport.accelerator_runtime.cpu import CpuAccelerator
        from accelport.accelerator_runtime.cuda import CudaAccelerator
        from accelport.accelerator_runtime import builders
        members = {list(MEMBERS)!r}
        print(json.dumps({{
            "cpu": probe(CpuAccelerator(), members),
            "cuda_missing": [m for m in members if not hasattr(CudaAccelerator, m)],
            "builders": {{b: sorted(names) for b, names in builders.BUILDERS.items()}},
        }}))
        """
    )
    facts = _run(code)
    assert facts["cpu"] == _documented(ACCELPORT, "cpu")
    assert facts["cuda_missing"] == []
    assert {b: set(n) for b, n in facts["builders"].items()} == {b: set(n) for b, n in ACCELPORT.builders.items()}


def test_every_member_the_codemod_emits_is_in_the_table():
    from accelport.rules.torch_native import ACCELERATOR_METHODS

    assert ACCELERATOR_METHODS <= set(MEMBERS)


def test_findings_name_backend_version_and_alternative():
    text = capabilities.caveat("deepspeed", "Stream")
    assert text.startswith("`get_accelerator().Stream`: Stream is None on deepspeed 0.19.8 and 0.16.0 (cpu)")
    assert "create streams only" in text
    assert capabilities.caveat("accelport", "Stream") is None
    assert capabilities.refused("deepspeed", "device") is not None
    assert capabilities.refused("accelport", "device") is None
