"""The SOM head computes in float32 inside a bf16 autocast region (winners are argmaxes of a smooth field)."""

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
