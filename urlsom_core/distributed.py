"""Where training runs: the device (:func:`pick_device`) and several processes under ``torchrun``
(:func:`init_distributed`, :func:`distributed`), with batch norm over the global batch
(:func:`sync_batchnorm`, :class:`GlobalBatchNorm2d`).

Under DDP each rank takes its B/K rows of every global batch of B pairs; batch norm uses the statistics of
the global batch (torch's SyncBatchNorm on CUDA, :class:`GlobalBatchNorm2d` on the CPU) and the loss gathers
its batch mean over ranks itself (``loss.urlsom_loss``), so a run on K processes is the run on one with the
same global batch, step for step (``tests/test_ddp.py``).
"""

from __future__ import annotations

import os

import torch

from .config import ConfigError


def pick_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu. A device that is not there is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: no CUDA device here; allowed are auto, cpu")
        idx = torch.device(name).index
        if idx is not None and idx >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        return torch.device(name)
    raise ConfigError(f"device {name!r}: allowed are auto, cpu, cuda, cuda:N")



def distributed() -> tuple[int, int]:
    """(rank, world size) when started by torchrun with an initialised process group, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class GlobalBatchNorm2d(torch.nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch of all DDP ranks, for devices
    where torch's SyncBatchNorm does not run (it is CUDA-only; this one serves CPU/gloo). Per channel, the
    sums of x - c and (x - c)^2 (c: the running mean, the same on every rank, against cancellation) are
    all-reduced with gradient; running statistics are updated as BatchNorm2d does. Outside training, or in
    one process, it is plain BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, world = distributed()
        if not self.training or world == 1:
            return super().forward(x)
        import torch.distributed._functional_collectives as fc

        C = x.shape[1]
        xf = x.float()
        c = self.running_mean.detach().float().view(1, C, 1, 1) if self.running_mean is not None else 0.0
        d = xf - c
        sums = torch.cat((d.sum(dim=(0, 2, 3)), (d * d).sum(dim=(0, 2, 3))))
        sums = fc.all_reduce(sums, "sum", torch.distributed.group.WORLD)
        n = (x.numel() // C) * world
        mean_d = sums[:C] / n
        var = (sums[C:] / n - mean_d * mean_d).clamp_min(0.0)  # biased, used to normalise
        mean = mean_d + (c.view(C) if isinstance(c, torch.Tensor) else c)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)  # type: ignore[union-attr]
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / max(n - 1, 1)), alpha=m)
        y = (xf - mean.view(1, C, 1, 1)) * torch.rsqrt(var + self.eps).view(1, C, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, C, 1, 1) + self.bias.view(1, C, 1, 1)
        return y.to(x.dtype)


def convert_global_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Every BatchNorm2d of ``module`` replaced by a :class:`GlobalBatchNorm2d` with the same state."""
    out = module
    if isinstance(module, torch.nn.BatchNorm2d) and not isinstance(module, GlobalBatchNorm2d):
        out = GlobalBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats)
        out.load_state_dict(module.state_dict())
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, convert_global_batchnorm(child))
    return out


def sync_batchnorm(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Batch statistics over the global batch under DDP: torch's SyncBatchNorm on CUDA, ours elsewhere."""
    if device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return convert_global_batchnorm(model)


def max_over_ranks(value: int, device: torch.device) -> int:
    """The largest ``value`` over all DDP ranks (one all-reduce); ``value`` itself in one process."""
    if distributed()[1] == 1:
        return value
    t = torch.tensor([int(value)], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return int(t.item())


def init_distributed(device: str = "auto") -> tuple[int, int, str]:
    """Join the process group when started by ``torchrun`` (WORLD_SIZE > 1 in the environment).

    Returns (rank, world size, device for this rank): NCCL and ``cuda:LOCAL_RANK`` when CUDA is used, gloo
    and the CPU otherwise. Without torchrun: (0, 1, device) and nothing is initialised."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if not torch.distributed.is_available():
        raise ConfigError("WORLD_SIZE > 1 (torchrun) but this torch build has no torch.distributed")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: no CUDA device here; allowed are auto, cpu")
    if use_cuda:
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local}: only {torch.cuda.device_count()} CUDA device(s) here; "
                              "start at most that many processes per node")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    else:
        device = "cpu"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    return torch.distributed.get_rank(), torch.distributed.get_world_size(), device


__all__ = ["pick_device", "distributed", "max_over_ranks", "init_distributed", "GlobalBatchNorm2d", "convert_global_batchnorm",
           "sync_batchnorm"]
