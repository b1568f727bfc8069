"""The fixed convolution's boundary modes, on constructed logit fields."""

import pytest
import torch
import torch.nn.functional as F

from urlsom_core.config import ConfigError, ModelConfig
from urlsom_core.filters import gaussian_kernel
from urlsom_core.model import URLSOM, fixed_convolution

K3 = gaussian_kernel(3.0)[None, None]  # (1, 1, 19, 19): wider than the 10x12 field below


def field(seed: int = 0) -> torch.Tensor:
    return torch.randn(2, 1, 10, 12, generator=torch.Generator().manual_seed(seed))


def test_zeros_is_same_convolution_with_zero_padding():
    y = field()
    assert torch.equal(fixed_convolution(y, K3, "zeros"), F.conv2d(y, K3, padding=9))


def test_circular_is_shift_equivariant_even_with_a_kernel_wider_than_the_map():
    y = field()
    shifted = fixed_convolution(torch.roll(y, (3, 5), (2, 3)), K3, "circular")
    assert torch.allclose(torch.roll(fixed_convolution(y, K3, "circular"), (3, 5), (2, 3)), shifted, atol=1e-6)
    zeros = fixed_convolution(torch.roll(y, (3, 5), (2, 3)), K3, "zeros")
    assert not torch.allclose(torch.roll(fixed_convolution(y, K3, "zeros"), (3, 5), (2, 3)), zeros, atol=1e-3)


@pytest.mark.parametrize("mode", ["circular", "reflect"])
def test_small_kernels_match_torch_padding(mode):
    y, k = field(1), gaussian_kernel(1.0)[None, None]  # 7x7, pad 3 < map side
    assert torch.allclose(fixed_convolution(y, k, mode), F.conv2d(F.pad(y, (3, 3, 3, 3), mode=mode), k), atol=1e-6)


@pytest.mark.parametrize("mode", ["mass", "circular", "reflect"])
def test_a_constant_field_stays_constant(mode):
    c = torch.full((1, 1, 10, 12), 2.5)
    out = fixed_convolution(c, K3, mode)
    assert torch.allclose(out, torch.full_like(out, 2.5 * float(K3.sum())), atol=1e-5)


def test_zero_padding_darkens_corners_of_a_constant_field():
    out = fixed_convolution(torch.ones(1, 1, 10, 12), K3, "zeros")[0, 0]
    assert out[0, 0] < 0.5 * out[5, 6]  # a corner keeps about a quarter of the kernel


def test_reflect_mirrors_about_the_edge_neuron():
    y = torch.zeros(1, 1, 9, 9)
    y[0, 0, 4, 1] = 1.0  # one neuron next to the left edge: its mirror image sits at column -1
    k = gaussian_kernel(1.0)[None, None]
    out, zero = fixed_convolution(y, k, "reflect")[0, 0], fixed_convolution(y, k, "zeros")[0, 0]
    assert torch.allclose(out[4, 0], 2 * zero[4, 0])  # column 0 sees the spike and its mirror image
    assert torch.allclose(out[4, 4:], zero[4, 4:])  # far from the edge the mirror is out of reach


def test_model_uses_the_configured_boundary_and_rejects_others():
    torch.manual_seed(0)
    cfg = ModelConfig(grid=(6, 6), widths=(4,), blocks=1, sigma=1.0, boundary="circular")
    net = URLSOM(cfg, in_channels=1).eval()
    assert net.head.boundary == "circular"
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 36)
    with pytest.raises(ConfigError, match="boundary 'torus': allowed is one of zeros, circular, reflect, mass"):
        ModelConfig(boundary="torus").validate()


@pytest.mark.parametrize("mode", ["zeros", "circular", "reflect", "mass"])
def test_the_head_matrix_is_the_convolution(mode):
    from urlsom_core.model import convolution_matrix

    y = field(2)
    dense = y.flatten(1) @ convolution_matrix(K3, (10, 12), mode)
    assert torch.allclose(dense, fixed_convolution(y, K3, mode).flatten(1), atol=1e-5)


def test_large_maps_fall_back_to_conv2d_with_the_same_output():
    torch.manual_seed(0)
    cfg = ModelConfig(grid=(65, 64), widths=(4,), blocks=1, sigma=1.0)
    head = URLSOM(cfg, in_channels=1).head
    assert head.operator.numel() == 0 and "operator" not in head.state_dict()
    h = torch.randn(2, 4)
    ref = fixed_convolution(head.proj(h).view(-1, 1, 65, 64), head.kernel, "zeros").flatten(1)
    assert torch.allclose(head.logits(h), ref)
