import pytest
import torch

from urlsom_core.config import ConfigError
from urlsom_core.filters import gaussian_kernel, gaussian_support, student_t_kernel


@pytest.mark.parametrize("sigma,side", [(0.5, 5), (1.0, 7), (3.0, 19), (5.0, 31), (10.0, 61)])
def test_gaussian_support_is_odd_and_covers_six_sigma(sigma, side):
    k = gaussian_kernel(sigma)
    assert k.shape == (side, side)
    assert side % 2 == 1 and side >= 6 * sigma
    assert gaussian_support(sigma) == side


def test_gaussian_shape_and_amplitude():
    k = gaussian_kernel(2.0)
    c = k.shape[0] // 2
    assert torch.argmax(k).item() == c * k.shape[1] + c  # peak at the centre
    assert torch.allclose(k, k.T) and torch.allclose(k, k.flip(0))
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-5)
    peak = gaussian_kernel(2.0, norm="peak", gain=3.0)
    assert float(peak.max()) == pytest.approx(3.0)
    # value one sigma away from the centre along an axis is exp(-1/2) of the peak
    assert float(peak[c, c + 2] / peak[c, c]) == pytest.approx(torch.exp(torch.tensor(-0.5)).item(), rel=1e-5)


def test_student_t_kernel_values():
    k = student_t_kernel(18.0, 9, norm="peak")
    c = 4
    assert float(k[c, c]) == pytest.approx(1.0)
    assert float(k[c, c + 3]) == pytest.approx(1 / (1 + 9 / 18), rel=1e-6)
    assert float(k[c + 4, c + 4]) == pytest.approx(1 / (1 + 32 / 18), rel=1e-6)


@pytest.mark.parametrize("call", [lambda: gaussian_kernel(0.0), lambda: gaussian_kernel(-1.0),
                                  lambda: gaussian_kernel(1.0, size=4), lambda: student_t_kernel(0.0, 5),
                                  lambda: student_t_kernel(1.0, 6), lambda: gaussian_kernel(1.0, norm="max")])
def test_bad_kernel_parameters(call):
    with pytest.raises(ConfigError):
        call()
