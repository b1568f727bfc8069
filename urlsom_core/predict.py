"""Un-augmented outputs of a trained map: winners, second choices and backbone features, the network's own
(the paper's map) and, given a readout (:mod:`urlsom_core.readouts`), the map as read out beside them."""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

import numpy as np
import torch

from .augment import Augment
from .data import ImageData
from .metrics import participation_ratio
from .model import URLSOM, softmax

# On a CPU smaller batches predict faster: the training monitor's 2,048 CIFAR-sized images took 1.9 s in batches of
# 1,024 and 1.0 s in batches of 256 (0.9 and 0.5 s in bf16), the same winners (2 idle cores, the ``cpu`` rule's
# network; book, Measurements, "The CPU training mode"), most likely because a smaller batch's activations stay
# small enough for the allocator to reuse their memory rather than map fresh pages for every layer.
CPU_PREDICT_BATCH = 256


class ReadoutLike(Protocol):
    """What :func:`predict` applies of a readout fitted after training (:class:`urlsom_core.readouts.Readout`,
    which builds on this module)."""

    @property
    def usage_balance(self) -> bool: ...

    @property
    def prototype_readout(self) -> bool: ...

    def softmax(self, logits: torch.Tensor) -> torch.Tensor: ...

    def refine(self, h: torch.Tensor, top2: torch.Tensor) -> torch.Tensor: ...


@torch.no_grad()
def predict(
    model: URLSOM, data: ImageData, aug: Augment, device: torch.device, batch: int | None = None, embed: bool = False,
    amp: bool = True, readout: ReadoutLike | None = None, activations: bool = False, cpu_amp: bool = False,
) -> dict[str, np.ndarray]:
    """Un-augmented outputs of ``model`` on ``data``.

    Returns the network's own ``winner`` (N,) and ``top2`` (N, 2) neuron indices, the argmax and the two
    largest outputs of the Softmax of Eq. 1 (ties go to the lower index), ``spread`` (N,), the number of
    neurons each output spreads over (:func:`~urlsom_core.metrics.participation_ratio` of the Softmax), and,
    if ``embed``, the backbone features ``embedding`` (N, d). With a ``readout``, from the same forward pass,
    the map as read out: ``readout_winner``, ``readout_top2`` and ``readout_spread`` (the Softmax with the
    readout's bias, its top two refined by the prototypes), and where the readout has both a bias and
    prototypes ``bias_top2``, the top two with the bias before the prototypes refine them. If ``activations``,
    the network's Softmax itself, ``softmax`` (N, n) float32 (Eq. 1's output, no readout). On CUDA the images
    go up from pinned memory asynchronously and the results come back once, at the end. The backbone runs under
    bf16 autocast with ``amp`` on CUDA, on a CPU only with ``cpu_amp`` too (the training monitor of a run that
    trains in bf16); the head and the Softmax always in float32. ``batch``: images per forward pass, by default
    1024 on CUDA and :data:`CPU_PREDICT_BATCH` on a CPU."""
    batch = batch or (1024 if device.type == "cuda" else CPU_PREDICT_BATCH)
    was = model.training
    model.eval()
    src = data.images
    if device.type == "cuda" and not src.is_cuda:
        src = src.pin_memory()
    out: dict[str, list[torch.Tensor]] = {}

    def keep(key: str, value: torch.Tensor) -> None:
        out.setdefault(key, []).append(value)

    for i in range(0, len(data), batch):
        x = aug.plain(src[i : i + batch].to(device, non_blocking=True))
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(device, amp, cpu=cpu_amp):
            h = model.embed(x)
            logits = model.head.logits(h)  # (b, n) float32
        p = softmax(logits)  # (b, n): Eq. 1's output, as model.head(h)
        keep("top2", _top2(p))
        keep("spread", participation_ratio(p))  # (b,) float64
        if embed:
            keep("embedding", h.float())
        if activations:
            keep("softmax", p.float())
        if readout is not None:
            q = readout.softmax(logits) if readout.usage_balance else p  # (b, n)
            t2 = _top2(q) if readout.usage_balance else out["top2"][-1]
            if readout.usage_balance and readout.prototype_readout:
                keep("bias_top2", t2)
            keep("readout_top2", readout.refine(h, t2))
            keep("readout_spread", participation_ratio(q))
    model.train(was)
    res = {k: torch.cat(v).cpu().numpy() for k, v in out.items()}
    res["winner"] = res["top2"][:, 0]
    if readout is not None:
        res["readout_winner"] = res["readout_top2"][:, 0]
    return res


def _top2(p: torch.Tensor) -> torch.Tensor:
    """The two largest outputs of each row of ``p`` (N, n), ties to the lower index: (N, 2) int64."""
    return torch.sort(p, dim=1, descending=True, stable=True).indices[:, :2]


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
