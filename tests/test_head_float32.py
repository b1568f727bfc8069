"""The SOM head computes in float32 inside a bf16 autocast region (winners are argmaxes of a smooth field)."""

import numpy as np
import pytest
import torch

from urlsom_core.config import ModelConfig
from urlsom_core.model import URLSOM, SOMHead, fixed_convolution


def _field(sigma: float) -> tuple[SOMHead, torch.Tensor]:
    """A paper-sized head (256 features, 30x30 map) and features whose convolved maps are smooth peaked fields."""
    torch.manual_seed(0)
    return SOMHead(256, ModelConfig(grid=(30, 30), sigma=sigma)).eval(), torch.randn(512, 256)


def _bf16_head(head: SOMHead, h: torch.Tensor) -> torch.Tensor:
    """What the head computed before it was kept in float32: projection and convolution in bf16."""
    y = head.proj(h)
    m = fixed_convolution(y.view(-1, 1, *head.grid), head.kernel.to(y.dtype), head.boundary)
    return torch.softmax(m.flatten(1).float(), dim=1)


@pytest.mark.parametrize("sigma", [3.0, 10.0])
@torch.no_grad()
def test_head_is_float32_under_bf16_autocast_and_keeps_the_float32_winners(sigma):
    head, h = _field(sigma)
    ref = head(h)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert head.proj(h).dtype == torch.bfloat16  # autocast is on: a plain Linear would run in bf16
        out = head(h)
        logits = head.logits(h)
        bf16 = _bf16_head(head, h)
    assert out.dtype == torch.float32 and logits.dtype == torch.float32
    # a bf16 head moves winners on this field (so the comparison below can fail) ...
    flipped = (bf16.argmax(1) != ref.argmax(1)).float().mean().item()
    assert flipped > 0.02, flipped
    # ... the float32 head does not: same winners, same outputs as a float32 forward
    assert torch.equal(out.argmax(1), ref.argmax(1))
    assert torch.equal(out, ref)


@torch.no_grad()
def test_head_takes_bf16_features_from_the_backbone():
    net = URLSOM(ModelConfig(grid=(6, 6), widths=(8, 16), blocks=1), in_channels=3).eval()
    x = torch.randn(4, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats = net.backbone(x)
        out = net(x)
    assert feats.dtype == torch.bfloat16  # the backbone may stay in bf16
    assert out.dtype == torch.float32
    assert torch.equal(out, net.head(feats.float()))


@pytest.mark.parametrize("amp_cpu", [False, True])
def test_amp_cpu_runs_the_training_step_in_bf16_and_evaluation_in_float32(amp_cpu):
    from urlsom_core.config import RunConfig
    from urlsom_core.data import resolve
    from urlsom_core.predict import predict
    from urlsom_core.train import Trainer

    cfg = RunConfig.from_dict({"model": {"grid": [4, 4], "widths": [8], "blocks": 1},
                               "data": {"dataset": "digits", "subset": 64},
                               "train": {"epochs": 1, "batch_size": 16, "amp_cpu": amp_cpu}})
    tr = Trainer(cfg, resolve(cfg.data), device="cpu", progress=False, log=lambda s: None)
    seen: list[torch.dtype] = []
    tr.model.backbone.stem.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    head_out: list[torch.dtype] = []
    tr.model.head.register_forward_hook(lambda m, i, o: head_out.append(o.dtype))
    terms = tr.step(torch.arange(16), epoch=0)
    assert seen == [torch.bfloat16 if amp_cpu else torch.float32] and head_out == [torch.float32]
    assert torch.isfinite(terms).all()
    predict(tr.model, tr.splits.train, tr.aug, tr.device, amp=tr.amp)  # evaluation's call: float32 on a CPU
    assert seen[1:] == [torch.float32]
    tr.monitor()  # the monitor: the training's precision
    assert seen[2:] == [torch.bfloat16 if amp_cpu else torch.float32]
    off = cfg.replace(**{"train.amp": False, "train.amp_cpu": True})  # amp off: float32 everywhere
    assert not Trainer(off, resolve(cfg.data), device="cpu", progress=False, log=lambda s: None).amp_cpu


def test_amp_cpu_keeps_every_stored_key_and_is_validated():
    from urlsom_core.config import ConfigError, RunConfig

    cfg = RunConfig.from_dict({"model": {"sigma": 5}, "train": {"amp_cpu": False, "channels_last": False}})
    d = cfg.to_dict()
    assert d["train"]["amp_cpu"] is False
    del d["train"]["amp_cpu"], d["train"]["channels_last"]  # a config written before the fields existed
    assert RunConfig.from_stored(d) == cfg and RunConfig.from_stored(d).key() == cfg.key()
    assert RunConfig.from_dict(d).train.amp_cpu == "auto"  # a new config: today's default
    assert len({cfg.key(), cfg.replace(**{"train.amp_cpu": True}).key(), cfg.replace(**{"train.amp_cpu": "auto"}).key()}) == 3
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"train": {"amp_cpu": "yes"}})
    assert str(e.value) == "amp_cpu 'yes': allowed are true, false or auto"


def test_predict_spread_is_the_participation_ratio_of_the_softmax():
    from urlsom_core.config import RunConfig
    from urlsom_core.data import resolve
    from urlsom_core.metrics import participation_ratio
    from urlsom_core.predict import predict
    from urlsom_core.train import Trainer

    cfg = RunConfig.from_dict({"model": {"grid": [4, 4], "widths": [8], "blocks": 1},
                               "data": {"dataset": "digits", "subset": 64}, "train": {"epochs": 1}})
    tr = Trainer(cfg, resolve(cfg.data), device="cpu", progress=False, log=lambda s: None)
    out = predict(tr.model, tr.splits.train, tr.aug, tr.device, batch=24)  # three batches
    tr.model.eval()
    with torch.no_grad():
        p = tr.model(tr.aug.plain(tr.splits.train.images)).numpy()  # (N, 16)
    np.testing.assert_allclose(out["spread"], participation_ratio(p), rtol=1e-5)
    assert out["spread"].shape == (len(tr.splits.train),) and (out["spread"] >= 1).all() and (out["spread"] <= 16).all()
