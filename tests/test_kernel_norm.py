"""The kernel's amplitude normalisations."""

import pytest

from urlsom_core.config import ConfigError
from urlsom_core.filters import gaussian_kernel, student_t_kernel


def gap(k):
    c = k.shape[-1] // 2
    return float(k[c, c] - k[c, c + 1])


@pytest.mark.parametrize("sigma", [1.0, 3.0, 5.0, 10.0])
def test_neighbour_norm_opens_the_same_gap_for_every_sigma(sigma):
    assert gap(gaussian_kernel(sigma, norm="neighbour", gain=0.5)) == pytest.approx(0.5, rel=1e-5)


def test_sum_norm_gap_falls_as_sigma_to_the_fourth():
    ratio = gap(gaussian_kernel(5.0, norm="sum")) / gap(gaussian_kernel(10.0, norm="sum"))
    assert ratio == pytest.approx(16.0, rel=0.02)


def test_neighbour_norm_for_student_t_and_a_bad_norm():
    assert gap(student_t_kernel(18.0, 31, norm="neighbour", gain=2.0)) == pytest.approx(2.0, rel=1e-5)
    with pytest.raises(ConfigError, match="kernel norm 'area': allowed is one of sum, peak, neighbour"):
        gaussian_kernel(5.0, norm="area")
