"""Write a synthetic CUDA-heavy corpus for the benchmark: N files of about 200 lines each.

Every file mixes plain PyTorch code (most lines) with sites from every rule family, reached
through varied import spellings (``import torch``, ``import torch as th``, ``from torch import
cuda``, ``from torch.cuda import ...``) and look-alikes that must stay unchanged. Deterministic:
the same ``--seed`` writes the same bytes.

    python bench/make_corpus.py OUT_DIR [--files 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Callable, List

HEADERS = [
    "import torch\nimport torch.nn as nn\nimport torch.distributed as dist\n",
    "import torch\nimport torch as th\nimport torch.nn as nn\nimport torch.distributed as dist\n",
    "import torch\nfrom torch import cuda\nimport torch.nn as nn\nimport torch.distributed as dist\n",
    "import torch\nimport torch.nn as nn\nfrom torch.cuda import synchronize, empty_cache\nimport torch.distributed as dist\n",
    "import argparse\nimport torch\nimport torch.cuda as tc\nimport torch.nn as nn\nimport torch.distributed as dist\n",
]

# The name each header makes ``torch.cuda`` reachable as (torch stays bound in every header).
CUDA_NS = ["torch.cuda", "th.cuda", "cuda", "torch.cuda", "tc"]


def _plain(rng: random.Random, i: int) -> List[str]:
    """A plain model/utility block with no CUDA in it (about 20 lines)."""
    width = rng.choice([64, 128, 256, 512])
    return [
        f"class Block{i}(nn.Module):",
        f'    """A residual block of width {width}; nothing device-specific here."""',
        "",
        "    def __init__(self, dim, dropout=0.1):",
        "        super().__init__()",
        "        self.norm = nn.LayerNorm(dim)",
        "        self.fc1 = nn.Linear(dim, dim * 4)",
        "        self.fc2 = nn.Linear(dim * 4, dim)",
        "        self.drop = nn.Dropout(dropout)",
        "",
        "    def forward(self, x):",
        "        h = self.norm(x)",
        "        h = torch.relu(self.fc1(h))",
        "        h = self.drop(self.fc2(h))",
        "        return x + h",
        "",
        "",
        f"def helper_{i}(values, scale={rng.randint(1, 9)}):",
        "    total = sum(v * scale for v in values if v > 0)",
        "    return {'total': total, 'count': len(values)}",
        "",
        "",
    ]


def _cuda_block(rng: random.Random, i: int, ns: str) -> List[str]:
    """Sites from every family (about 30 lines), plus look-alikes that stay."""
    return [
        f"def setup_{i}(args, model, batch, local_rank):",
        f'    """Move things to "cuda" (this docstring must stay)."""',
        f"    if {ns}.is_available():",
        f"        {ns}.set_device(local_rank)",
        f"    device = torch.device('cuda', local_rank)",
        f"    dev = {ns}.current_device()",
        "    model = model.cuda()",
        "    batch = batch.to(dev, non_blocking=True)",
        f"    x = torch.zeros(8, device='cuda:0')",
        "    y = batch.cuda(non_blocking=True).half()",
        "    if y.is_cuda:",
        "        y = y.pin_memory()",
        "    dist.init_process_group('nccl', rank=local_rank)",
        "    model = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank], output_device=local_rank)",
        f"    {ns}.synchronize()",
        f"    name = {ns}.get_device_name(0)",
        f"    scaler = {ns}.amp.GradScaler()",
        "    print('training on cuda with nccl')  # a log message: stays",
        f"    stream = {ns}.Stream()",
        f"    with {ns}.stream(stream):",
        "        z = x.float() * 2",
        "    mem = torch.cuda.memory_allocated() / 2**20",
        "    if batch.dtype == torch.float16:",
        "        z = z.half()",
        "    return model, device, name, scaler, mem, z",
        "",
        "",
    ]


def _shadow_block(rng: random.Random, i: int) -> List[str]:
    """Look-alikes: a local that shadows torch, attributes named cuda on other objects."""
    return [
        f"def lookalike_{i}(torch, cfg):",
        "    # `torch` is a parameter here: nothing below is the real torch.cuda",
        "    torch.cuda.synchronize()",
        "    cfg.cuda = False",
        "    label = 'cuda'",
        "    return label, cfg",
        "",
        "",
    ]


def _argparse_block(rng: random.Random, i: int) -> List[str]:
    return [
        f"def parse_{i}(argv=None):",
        "    import argparse",
        "    parser = argparse.ArgumentParser()",
        "    parser.add_argument('--device', default='cuda')",
        "    parser.add_argument('--dist-backend', default='nccl')",
        "    parser.add_argument('--lr', type=float, default=1e-3)",
        "    return parser.parse_args(argv)",
        "",
        "",
    ]


def make_file(rng: random.Random, index: int, target_lines: int = 200) -> str:
    kind = rng.randrange(len(HEADERS))
    lines = [f'"""Synthetic training module {index} for the accelport benchmark."""', ""]
    lines += HEADERS[kind].splitlines()
    lines += ["", ""]
    blocks: List[Callable[[random.Random, int], List[str]]] = [_plain, _plain, _plain, _shadow_block, _argparse_block]
    i = 0
    while len(lines) < target_lines - 12:
        i += 1
        if i % 3 == 1:
            lines += _cuda_block(rng, i, CUDA_NS[kind])
        else:
            lines += rng.choice(blocks)(rng, i)
    return "\n".join(lines).rstrip() + "\n"


def write_corpus(out: Path, files: int = 500, seed: int = 0) -> int:
    """Write ``files`` modules under ``out`` (in 10 packages); returns the number of lines written."""
    rng = random.Random(seed)
    total = 0
    for index in range(files):
        folder = out / f"pkg{index % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        text = make_file(rng, index)
        (folder / f"mod_{index:04d}.py").write_text(text, encoding="utf-8")
        total += text.count("\n")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lines = write_corpus(args.out, args.files, args.seed)
    print(f"{args.files} files, {lines} lines in {args.out}")


if __name__ == "__main__":
    main()
