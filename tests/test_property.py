"""Property: generated programs with CUDA snippets spliced in never crash the transform, the output
parses, and a second pass changes nothing. Bounded here; ``bench/property_long.py`` runs longer."""

from __future__ import annotations

import ast
import warnings

import hypothesmith
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelport.codemod.settings import Settings
from accelport.codemod.engine.pipeline import transform_source

SNIPPETS = [
    "import torch\ntorch.cuda.synchronize()\n",
    "import torch as th\nx = th.zeros(2).cuda()\n",
    "from torch import cuda\nif cuda.is_available():\n    cuda.set_device(0)\n",
    "import torch\ndev = torch.cuda.current_device()\ny = torch.ones(1).to(dev)\n",
    "import torch\nd = torch.device('cuda:0')\nok = d.type == 'cuda'\n",
    "import torch.distributed as dist\ndist.init_process_group('nccl')\n",
    "import torch\nm = torch.nn.parallel.DistributedDataParallel(m, device_ids=[rank])\n",
    "import torch\nif t.is_cuda:\n    t = t.pin_memory().half()\n",
    "import torch\nwith torch.cuda.amp.autocast():\n    pass\n",
    "import torch\nname = torch.cuda.get_device_name(0)\n",
]


def _parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def check_program(program: str, runtime: str = "accelport") -> None:
    """The property itself (also used by bench/property_long.py)."""
    s = Settings(runtime=runtime)
    first = transform_source(program, "gen.py", s, want_fixes=True)
    if first.error is not None:
        # Only a file our parser rejects may fail; never an internal error.
        assert first.error.startswith("cannot parse"), first.error
        assert first.new_text == program
        return
    if not first.changed:
        return
    assert _parses(first.new_text), first.new_text
    second = transform_source(first.new_text, "gen.py", s)
    assert second.error is None, second.error
    assert second.new_text == first.new_text


def spliced_programs(draw_program=hypothesmith.from_grammar()):
    @st.composite
    def build(draw):
        program = draw(draw_program)
        snippet = draw(st.sampled_from(SNIPPETS))
        where = draw(st.sampled_from(["before", "after", "both"]))
        if where == "before":
            return snippet + program
        body = program if program.endswith("\n") or not program else program + "\n"
        if where == "after":
            return body + snippet
        return snippet + body + draw(st.sampled_from(SNIPPETS))

    return build()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(spliced_programs(), st.sampled_from(["accelport", "deepspeed"]))
def test_spliced_programs_transform_safely(program: str, runtime: str) -> None:
    check_program(program, runtime)

