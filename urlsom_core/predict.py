"""Un-augmented outputs of a trained map: winners, second choices and backbone features."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from .augment import Augment
from .data import ImageData
from .model import URLSOM


@torch.no_grad()
def predict(
    model: URLSOM, data: ImageData, aug: Augment, device: torch.device, batch: int = 1024, embed: bool = False,
    amp: bool = True, activations: bool = False,
) -> dict[str, np.ndarray]:
    """Un-augmented outputs of ``model`` on ``data``.

    Returns ``winner`` (N,) and ``top2`` (N, 2) neuron indices (ties go to the lower index; with
    ``model.prototype_readout`` the readout's, ``SOMHead.read_out``), ``spread`` (N,),
    the number of neurons each output spreads over (``metrics.participation_ratio`` of the Softmax), if
    ``embed`` the backbone features ``embedding`` (N, d), and if ``activations`` the Softmax itself,
    ``softmax`` (N, n) float32 (Eq. 1's output, usage bias included). On CUDA the images go up from pinned memory
    asynchronously and the results come back once, at the end."""
    was = model.training
    model.eval()
    src = data.images
    if device.type == "cuda" and not src.is_cuda:
        src = src.pin_memory()
    top2, spread, embs, probs = [], [], [], []
    for i in range(0, len(data), batch):
        x = aug.plain(src[i : i + batch].to(device, non_blocking=True))
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(device, amp):
            h = model.embed(x)
            p = model.head(h)
        top2.append(model.head.read_out(h, torch.sort(p, dim=1, descending=True, stable=True).indices[:, :2]))
        spread.append(1.0 / p.double().square().sum(1))  # (b,): metrics.participation_ratio
        if embed:
            embs.append(h.float())
        if activations:
            probs.append(p.float())
    model.train(was)
    t2 = torch.cat(top2).cpu()
    out = {"winner": t2[:, 0].numpy(), "top2": t2.numpy(), "spread": torch.cat(spread).cpu().numpy()}
    if embed:
        out["embedding"] = torch.cat(embs).cpu().numpy()
    if activations:
        out["softmax"] = torch.cat(probs).cpu().numpy()
    return out


def _autocast(device: torch.device, enabled: bool = True, cpu: bool = False) -> Any:
    """bf16 autocast on CUDA (``train.amp``), on a CPU only with ``cpu`` too (``train.amp_cpu``); else float32."""
    if enabled and (device.type == "cuda" or (device.type == "cpu" and cpu)):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX, as oneDNN reports it).

    Where it does, the ``cpu`` defaults rule trains under bf16 autocast (:data:`urlsom_core.defaults.CPU_BF16`
    says what that gained); where it does not, bf16 is emulated and slower than float32."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without the query
        return False
