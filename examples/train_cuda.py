"""Train a small classifier on synthetic data.

Written for CUDA only, the way many real training scripts are: it calls ``.cuda()``, picks the GPU
with ``torch.cuda.set_device``, talks NCCL, times epochs with CUDA events and uses CUDA mixed
precision. Run it directly for one process, or under ``torchrun`` for data-parallel training.
``accelport rewrite examples/`` ports it so that it also runs on a CPU-only machine.
"""

import argparse
import os
import tempfile

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="where to train")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    # Outside the working tree by default, so a walkthrough run leaves the repository clean.
    parser.add_argument("--checkpoint", default=os.path.join(tempfile.gettempdir(), "accelport-checkpoint.pt"))
    return parser.parse_args(argv)


def setup_distributed():
    """Join the process group when started by torchrun; returns (local_rank, world_size)."""
    if "RANK" not in os.environ:
        return 0, 1
    local_rank = int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl")
    return local_rank, dist.get_world_size()


class Classifier(nn.Module):
    def __init__(self, features=32, classes=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, classes))

    def forward(self, x):
        return self.net(x)


def synthetic_data(samples=2048, features=32, classes=4):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples, features, generator=generator)
    weights = torch.randn(features, classes, generator=generator)
    y = (x @ weights).argmax(dim=1)
    return TensorDataset(x, y)


def main(argv=None):
    args = parse_args(argv)
    local_rank, world_size = setup_distributed()
    if hasattr(os, "sched_getaffinity"):  # where a launcher pinned this rank, and how many threads it uses
        cores = sorted(os.sched_getaffinity(0))
        print(f"rank {local_rank} of {world_size}: cores {cores}, {torch.get_num_threads()} threads", flush=True)
    torch.manual_seed(0)
    torch.cuda.manual_seed_all(0)
    torch.backends.cuda.matmul.allow_tf32 = True  # TF32 matmuls on Ampere and newer

    dataset = synthetic_data()
    sampler = DistributedSampler(dataset) if world_size > 1 else None
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, shuffle=sampler is None, pin_memory=True)

    model = Classifier().cuda()
    if world_size > 1:
        model = DDP(model, device_ids=[local_rank], output_device=local_rank)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.cuda.amp.GradScaler()
    loss_fn = nn.CrossEntropyLoss()

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for epoch in range(args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        start.record()
        total, batches = 0.0, 0
        for x, y in loader:
            x = x.pin_memory().cuda(non_blocking=True)
            y = y.to(args.device, non_blocking=True)
            optimizer.zero_grad()
            with torch.cuda.amp.autocast():
                loss = loss_fn(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.item()
            batches += 1
        end.record()
        torch.cuda.synchronize()
        if local_rank == 0:
            peak = torch.cuda.max_memory_allocated() / 2**20
            print(f"epoch {epoch} loss {total / batches:.4f} time {start.elapsed_time(end):.1f} ms peak {peak:.1f} MiB")

    if local_rank == 0:
        torch.save(model.state_dict(), args.checkpoint)
        state = torch.load(args.checkpoint, map_location=f"cuda:{torch.cuda.current_device()}")
        print(f"saved {len(state)} tensors to {args.checkpoint}")
    if world_size > 1:
        dist.barrier()  # let every rank finish before the group goes away
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
