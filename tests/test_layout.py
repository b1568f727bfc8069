"""The memory layout of training and prediction: channels_last (NHWC) on CUDA and on a oneDNN CPU, and the
layout changes nothing but float rounding (``model.channels_last``; ``urlsom bench --sections layout``)."""

from __future__ import annotations

import pytest
import torch

from urlsom_core.augment import Augment
from urlsom_core.config import RunConfig
from urlsom_core.data import ImageData, Splits
from urlsom_core.model import channels_last
from urlsom_core.predict import predict
from urlsom_core.train import Trainer

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch without oneDNN: NCHW only")


def _splits(n: int = 32) -> Splits:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=g)
    return Splits(ImageData(images, torch.arange(n) % 4, ["a", "b", "c", "d"], "synthetic"), None, 16, True)


def _trainer(layout: str) -> Trainer:
    cfg = RunConfig.from_dict({"model": {"grid": [6, 6], "widths": [8, 16], "blocks": 1},
                               "train": {"batch_size": 16, "monitor_samples": 16, "seed": 3}})
    tr = Trainer(cfg, _splits(), "cpu", progress=False, log=lambda s: None)
    if layout == "nchw":  # what training did before: plain NCHW weights and images
        tr.channels_last = False
        tr.model.to(memory_format=torch.contiguous_format)
    return tr


def test_cpu_training_is_channels_last():
    assert channels_last(torch.device("cpu")) and channels_last(torch.device("cuda"))
    tr = _trainer("nhwc")
    w = tr.model.backbone.stem[0].weight
    assert tr.channels_last and w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()


def test_layout_changes_only_rounding():
    runs = {layout: _trainer(layout) for layout in ("nhwc", "nchw")}
    idx = torch.arange(16)
    losses = {k: torch.stack([tr.step(idx + 16 * (i % 2), epoch=20) for i in range(4)]) for k, tr in runs.items()}
    torch.testing.assert_close(losses["nhwc"], losses["nchw"], rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(runs["nhwc"].model.state_dict().items(), runs["nchw"].model.state_dict().values(),
                            strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=name)
    aug = Augment(out_size=16, mean=(0.5,) * 3, std=(0.5,) * 3)
    data = _splits().train
    w_nhwc = predict(runs["nhwc"].model, data, aug, torch.device("cpu"))["winner"]
    nchw = runs["nhwc"].model.to(memory_format=torch.contiguous_format)
    assert not nchw.backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    # predict() puts the images channels_last; the same weights in NCHW layout give the same winners
    assert (w_nhwc == predict(nchw, data, aug, torch.device("cpu"))["winner"]).all()
