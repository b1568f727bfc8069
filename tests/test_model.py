import pytest
import torch
import torch.nn.functional as F

from urlsom_core.config import ModelConfig
from urlsom_core.model import URLSOM, build_kernel, count_parameters


def test_paper_network_parameter_count():
    counts = count_parameters(URLSOM(ModelConfig(), in_channels=3))
    assert abs(counts["total"] - 3.4e6) / 3.4e6 < 0.05, counts
    assert counts["projection"] == 256 * 900 + 900  # 0.23 M


def test_output_is_a_softmax_over_the_grid():
    net = URLSOM(ModelConfig(grid=(6, 7), widths=(8, 16), blocks=1), in_channels=1)
    out = net(torch.randn(5, 1, 16, 16))
    assert out.shape == (5, 42)
    assert torch.allclose(out.sum(1), torch.ones(5), atol=1e-5)


def test_head_is_linear_then_same_convolution():
    cfg = ModelConfig(grid=(6, 6), widths=(8,), blocks=1, sigma=1.0)
    net = URLSOM(cfg, in_channels=1).eval()
    h = torch.randn(3, 8)
    y = net.head.proj(h).view(3, 1, 6, 6)
    k = build_kernel(cfg)
    manual = F.conv2d(y, k[None, None], padding=k.shape[-1] // 2).flatten(1)
    assert torch.allclose(net.head.logits(h), manual, atol=1e-6)


def test_kernel_is_a_fixed_buffer_unchanged_by_training():
    net = URLSOM(ModelConfig(grid=(5, 5), widths=(8,), blocks=1), in_channels=3)
    assert all(p is not net.head.kernel for p in net.parameters())
    assert "head.kernel" in dict(net.named_buffers())
    # what the trainer optimises: the kernel is in no optimizer group and gets no gradient
    from urlsom_core.config import RunConfig
    from urlsom_core.data import ImageData, Splits
    from urlsom_core.train import Trainer

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=g)
    splits = Splits(ImageData(images, torch.arange(8) % 2, ["a", "b"], "synthetic"), None, 16, True)
    cfg = RunConfig.from_dict({"model": {"grid": [5, 5], "widths": [8], "blocks": 1},
                               "train": {"batch_size": 8, "monitor_samples": 8}})
    tr = Trainer(cfg, splits, "cpu", progress=False, log=lambda s: None)
    optimised = {id(p) for group in tr.opt.param_groups for p in group["params"]}
    assert id(tr.model.head.kernel) not in optimised and not tr.model.head.kernel.requires_grad
    before = tr.model.head.kernel.clone()
    w0 = tr.model.head.proj.weight.detach().clone()
    tr.step(torch.arange(8), epoch=0)
    assert torch.equal(before, tr.model.head.kernel)
    assert not torch.equal(w0, tr.model.head.proj.weight)  # the step did change the trained weights


def test_kernel_cropped_to_the_map_keeps_the_same_output():
    # sigma 10 needs 61 taps; on a 10x10 map only 19 reach it: crop is exact
    cfg = ModelConfig(grid=(10, 10), widths=(8,), blocks=1, sigma=10.0)
    k = build_kernel(cfg)
    assert k.shape == (19, 19)
    from urlsom_core.filters import gaussian_kernel

    full = gaussian_kernel(10.0, norm=cfg.kernel_norm, gain=cfg.kernel_gain)
    y = torch.randn(2, 1, 10, 10)
    a = F.conv2d(y, full[None, None], padding=30)
    b = F.conv2d(y, k[None, None], padding=9)
    assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("filt", ["gaussian", "student"])
def test_filters_build(filt):
    cfg = ModelConfig(grid=(8, 8), widths=(8,), blocks=1, filter=filt, student_scale=18.0)
    assert build_kernel(cfg).shape[0] % 2 == 1


def test_the_cpu_elu_is_torchs_elu_up_to_rounding():
    import torch.nn.functional as F

    from urlsom_core.model import elu

    g = torch.Generator().manual_seed(0)
    x = torch.cat((torch.randn(4000, generator=g) * 3, torch.tensor([0.0, -0.0, 1e-8, -1e-8, -30.0, 30.0])))
    for dtype, tol in ((torch.float32, 1e-7), (torch.bfloat16, 4e-3)):
        xa = x.to(dtype).requires_grad_()
        xb = x.to(dtype).requires_grad_()
        ya, yb = elu(xa), F.elu(xb)
        assert ya.dtype == dtype and (ya.float() - yb.float()).abs().max() <= tol
        grad = torch.randn(x.shape, generator=g).to(dtype)
        (ga,), (gb,) = torch.autograd.grad(ya, xa, grad), torch.autograd.grad(yb, xb, grad)
        assert (ga.float() - gb.float()).abs().max() <= 4 * tol * grad.float().abs().max()
    xd = torch.randn(12, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(elu, (xd,))
    assert torch.equal(elu(x), elu(x.clone()))  # the input is not written to
    y = x.clone()
    elu(y)
    assert torch.equal(y, x)
