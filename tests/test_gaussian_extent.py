"""The two readings of the paper's "6-sigma" Gaussian kernel (Sec. III.B): a side of 6 sigma or +-6 sigma."""

import math

import pytest
import torch

from urlsom_core.config import ConfigError, ModelConfig, RunConfig
from urlsom_core.filters import gaussian_kernel, gaussian_support
from urlsom_core.model import build_kernel


@pytest.mark.parametrize("sigma,side,radius", [(1.0, 7, 13), (2.0, 13, 25), (2.5, 17, 31), (5.0, 31, 61)])
def test_support_of_each_reading(sigma, side, radius):
    assert gaussian_support(sigma) == gaussian_support(sigma, "side") == side  # 2*ceil(3 sigma) + 1
    assert gaussian_support(sigma, "radius") == radius  # 2*ceil(6 sigma) + 1


def test_radius_reading_reaches_six_sigma():
    k = gaussian_kernel(2.0, norm="peak", extent="radius")  # 25 x 25, centre 12
    assert k.shape == (25, 25) and float(k[12, 12]) == 1.0
    assert float(k[12, 0]) == pytest.approx(math.exp(-36 / 2), rel=1e-5)  # 12 neurons = 6 sigma from the centre
    assert float(gaussian_kernel(2.0, norm="peak")[6, 0]) == pytest.approx(math.exp(-9 / 2), rel=1e-5)  # 3 sigma


def test_sum_normalised_over_its_own_support():
    side, radius = gaussian_kernel(2.0), gaussian_kernel(2.0, extent="radius")
    assert float(side.sum()) == pytest.approx(1.0, abs=1e-6) and float(radius.sum()) == pytest.approx(1.0, abs=1e-6)
    # the wider support holds the tails, so its centre weight is smaller by the mass beyond +-3 sigma
    tails = 1 - float(radius[6:19, 6:19].sum())
    assert 0.0 < tails < 0.01
    assert float(radius[12, 12]) == pytest.approx(float(side[6, 6]) * (1 - tails), rel=1e-5)


def test_model_kernel_follows_the_config_and_is_cropped_to_the_map():
    small = ModelConfig(grid=(30, 30), sigma=2.0)
    assert build_kernel(small).shape == (13, 13)
    assert build_kernel(small.__class__(grid=(30, 30), sigma=2.0, gaussian_extent="radius")).shape == (25, 25)
    paper = ModelConfig(grid=(30, 30), sigma=5.0, gaussian_extent="radius")  # 61 > 2*30-1: cropped
    assert build_kernel(paper).shape == (59, 59)


def test_bad_extent_is_one_clear_error():
    with pytest.raises(ConfigError, match="gaussian_extent 'wide': allowed is one of side, radius"):
        RunConfig.from_dict({"model": {"gaussian_extent": "wide"}})
    with pytest.raises(ConfigError, match="gaussian extent 'wide': allowed is one of side, radius"):
        gaussian_support(2.0, "wide")
    assert torch.equal(gaussian_kernel(2.0, extent="side"), gaussian_kernel(2.0))
