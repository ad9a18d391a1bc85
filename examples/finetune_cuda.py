"""Fine-tune a small regressor with checkpoint and resume, data-parallel over GPUs.

CUDA-only the way real fine-tuning scripts are: the device is ``torch.device("cuda", local_rank)``,
``torch.cuda.current_device()`` is used both as a device and as a GPU index, batches are pinned and
copied with ``non_blocking``, the forward pass runs under ``torch.cuda.amp.autocast`` in bfloat16 with
a ``GradScaler``, steps are timed with CUDA events, GPU memory statistics are logged, and the
checkpoint is reloaded with ``map_location="cuda:N"``. Run it directly or under ``torchrun``.
``accelport rewrite examples/`` ports it so that it also runs on a CPU-only machine.
"""

import argparse
import os
import tempfile

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--resume-epochs", type=int, default=2, help="epochs to train after reloading the checkpoint")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    # Outside the working tree by default, so a walkthrough run leaves the repository clean.
    parser.add_argument("--checkpoint", default=os.path.join(tempfile.gettempdir(), "accelport-finetune.pt"))
    return parser.parse_args(argv)


def init_distributed():
    """Returns (rank, local_rank, world_size, device); joins NCCL when started by torchrun."""
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank)
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        dist.init_process_group(backend="nccl")
        return dist.get_rank(), local_rank, dist.get_world_size(), device
    return 0, local_rank, 1, device


class Regressor(nn.Module):
    def __init__(self, features=16):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(features, 64), nn.Tanh(), nn.Linear(64, 1))

    def forward(self, x):
        return self.body(x).squeeze(-1)


def make_data(samples=1024, features=16):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(samples, features, generator=generator)
    target = torch.sin(x[:, 0]) + 0.5 * x[:, 1] - 0.25 * x[:, 2] * x[:, 3]
    return TensorDataset(x, target)


def run_epochs(model, loader, sampler, optimizer, scaler, epochs, first_epoch, rank):
    """Train ``epochs`` epochs; returns the mean loss of each."""
    device = next(model.parameters()).device
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    losses = []
    for epoch in range(first_epoch, first_epoch + epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        torch.cuda.reset_peak_memory_stats()
        start.record()
        total, count = 0.0, 0
        for x, y in loader:
            x = x.pin_memory().to(device, non_blocking=True)
            y = y.cuda(non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.cuda.amp.autocast(dtype=torch.bfloat16):
                prediction = model(x)
            loss = F.mse_loss(prediction.float(), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.item() * len(x)
            count += len(x)
        end.record()
        torch.cuda.synchronize()
        losses.append(total / count)
        allocated = torch.cuda.memory_allocated(torch.cuda.current_device()) / 2**20
        peak = torch.cuda.max_memory_allocated() / 2**20
        if rank == 0:
            print(
                f"epoch {epoch} loss {losses[-1]:.4f} time {start.elapsed_time(end):.1f} ms "
                f"allocated {allocated:.1f} MiB peak {peak:.1f} MiB"
            )
    return losses


def main(argv=None):
    args = parse_args(argv)
    rank, local_rank, world_size, device = init_distributed()
    torch.manual_seed(0)
    torch.cuda.manual_seed(0)

    dataset = make_data()
    sampler = DistributedSampler(dataset) if world_size > 1 else None
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, shuffle=sampler is None)

    model = Regressor().to(device)
    assert next(model.parameters()).is_cuda, "the model must live on the GPU"
    if world_size > 1:
        model = DistributedDataParallel(model, device_ids=[torch.cuda.current_device()], output_device=local_rank)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    scaler = torch.cuda.amp.GradScaler()
    probe = torch.zeros(4, device=torch.cuda.current_device())  # a device: follows the current GPU

    losses = run_epochs(model, loader, sampler, optimizer, scaler, args.epochs, 0, rank)
    if rank == 0:
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict()}
        torch.save(state, args.checkpoint)
    if world_size > 1:
        dist.barrier()

    # Resume: every rank reloads rank 0's checkpoint onto its own GPU.
    state = torch.load(args.checkpoint, map_location="cuda:%d" % local_rank)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    losses += run_epochs(model, loader, sampler, optimizer, scaler, args.resume_epochs, args.epochs, rank)

    stats = torch.cuda.memory_stats()
    torch.cuda.empty_cache()
    if rank == 0:
        print(f"losses {' '.join(f'{loss:.4f}' for loss in losses)} probe on {probe.device} stats {len(stats)} keys")
    if world_size > 1:
        dist.barrier()  # let every rank finish before the group goes away
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
