"""Fixed radial kernels of the SOM head (paper Sec. IV, Eq. 1). They are never trained.

The kernel's amplitude is not fixed by the paper. ``norm="sum"`` divides by the kernel sum (a weighted
average), ``norm="peak"`` leaves the centre at 1, ``norm="neighbour"`` makes the centre exceed its nearest
neighbour by 1; ``gain`` multiplies any of them. ``neighbour`` keeps the logit gap that a unit of the
projection opens between a winner and the neurons next to it the same for every sigma of the Gaussian:
with ``sum`` that gap falls as sigma^-4 (peak 1/(2 pi sigma^2), curvature 1/sigma^2), so one gain that
trains a sigma-5 map well leaves a sigma-10 map too flat to sharpen in the same number of epochs. A
t-student kernel's cusp makes its gap a poor guide to its heavy tails (1/(1+r^2) at neighbour x 0.004
collapsed): keep those sum-normalised (book, map-edges page). Since the convolved map feeds
a Softmax, amplitude is an inverse temperature (see book/results-log.md, "Kernel amplitude").

The paper sets "the size of the fixed Gaussian kernel ... to 6-sigma instead of the standard 3-sigma used
for Gaussian image blurring" (Sec. III.B) without saying whether 6 sigma is the side or the half-width:
``extent="side"`` reads a side of 6 sigma (+-3 sigma), ``extent="radius"`` +-6 sigma (side 12 sigma).

Example:
    >>> k = gaussian_kernel(5.0)
    >>> k.shape            # odd side covering 6 sigma
    torch.Size([31, 31])
    >>> gaussian_kernel(5.0, extent="radius").shape   # +-6 sigma
    torch.Size([61, 61])
    >>> round(float(k.sum()), 6)
    1.0
"""

from __future__ import annotations

import math

import torch

from .config import FILTERS, GAUSSIAN_EXTENTS, KERNEL_NORMS, ConfigError


def gaussian_support(sigma: float, extent: str = "side") -> int:
    """Smallest odd side covering the paper's "6-sigma" kernel (Sec. III.B) in one of its two readings:
    ``side`` 6 sigma (3 sigma each way), ``2*ceil(3*sigma)+1``, or ``radius`` 6 sigma each way, ``2*ceil(6*sigma)+1``."""
    if extent not in GAUSSIAN_EXTENTS:
        raise ConfigError(f"gaussian extent {extent!r}: allowed is one of {', '.join(GAUSSIAN_EXTENTS)}")
    return 2 * math.ceil(GAUSSIAN_EXTENTS[extent] * sigma) + 1


def _radius2(size: int) -> torch.Tensor:
    c = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    return c[:, None] ** 2 + c[None, :] ** 2  # (size, size)


def _amplitude(k: torch.Tensor, norm: str, gain: float) -> torch.Tensor:
    c = k.shape[-1] // 2
    if norm == "sum":
        k = k / k.sum()
    elif norm == "peak":
        k = k / k.max()
    elif norm == "neighbour":  # centre minus nearest neighbour = 1: the logit gap a unit spike opens
        k = k / (k[c, c] - k[c, c + 1]) if k.shape[-1] > 1 else k / k.max()
    else:
        raise ConfigError(f"kernel norm {norm!r}: allowed is one of {', '.join(KERNEL_NORMS)}")
    return (k * gain).to(torch.float32)


def gaussian_kernel(sigma: float, size: int | None = None, norm: str = "sum", gain: float = 1.0,
                    extent: str = "side") -> torch.Tensor:
    """The fixed Gaussian neighbourhood filter ``exp(-r^2 / (2 sigma^2))`` (paper Sec. III.B; sigma, Sec. V.D).

    Parameters
    ----------
    sigma : float
        Standard deviation in map cells, > 0 (the paper: 5 on a 30x30 map).
    size : int, optional
        Odd side of the kernel; default ``gaussian_support(sigma, extent)``.
    norm : {"sum", "peak", "neighbour"}
        Scale to unit sum, to a peak of 1, or to a centre 1 above its nearest neighbour (the paper is silent
        on the amplitude); computed on this support.
    gain : float
        Extra factor on the normalised kernel.
    extent : {"side", "radius"}
        The two readings of the paper's "6-sigma" support: a side of 6 sigma (+-3 sigma) or +-6 sigma.

    Returns
    -------
    torch.Tensor
        float32 (size, size), centred on the middle cell.
    """
    if not (math.isfinite(sigma) and sigma > 0):
        raise ConfigError(f"sigma {sigma}: allowed is sigma > 0")
    size = gaussian_support(sigma, extent) if size is None else size
    if size < 1 or size % 2 == 0:
        raise ConfigError(f"kernel size {size}: allowed is an odd integer >= 1")
    return _amplitude(torch.exp(-_radius2(size) / (2.0 * sigma**2)), norm, gain)


def student_t_kernel(scale: float, size: int, norm: str = "sum", gain: float = 1.0) -> torch.Tensor:
    """The t-student radial filter ``1 / (1 + r^2 / scale)`` (paper Sec. V.E and Fig. 11: scale 1 and 18).

    Parameters
    ----------
    scale : float
        The r^2 divisor, > 0.
    size : int
        Odd side of the kernel, given explicitly since the tails are heavy (the model uses ``2*max(H,W)-1``,
        the whole map).
    norm : {"sum", "peak", "neighbour"}
        Scale to unit sum, to a peak of 1, or to a centre 1 above its nearest neighbour.
    gain : float
        Extra factor on the normalised kernel.

    Returns
    -------
    torch.Tensor
        float32 (size, size), centred on the middle cell.
    """
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"student scale {scale}: allowed is > 0")
    if size < 1 or size % 2 == 0:
        raise ConfigError(f"kernel size {size}: allowed is an odd integer >= 1")
    return _amplitude(1.0 / (1.0 + _radius2(size) / scale), norm, gain)


def crop_kernel(k: torch.Tensor, size: int) -> torch.Tensor:
    """Centre crop of an odd square kernel to ``size`` (no-op when already smaller)."""
    s = k.shape[-1]
    if s <= size:
        return k
    o = (s - size) // 2
    return k[o : o + size, o : o + size]


def radial(d2: torch.Tensor, filter: str = "gaussian", sigma: float = 5.0, scale: float = 1.0) -> torch.Tensor:
    """The fixed filters as functions of the squared distance ``d2`` between two cells (any shape, float64):
    the Gaussian ``exp(-d^2 / (2 sigma^2))`` (Sec. III.B) or the t-student ``1 / (1 + d^2 / scale)`` (Sec. V.E,
    Fig. 11), 1 at distance 0. What :func:`gaussian_kernel` and :func:`student_t_kernel` sample at the integer
    offsets of the square lattice, here at any distance (the hexagonal lattice's, ``model.hex_convolution_matrix``).

    Example:
        >>> radial(torch.tensor([0.0, 1.0, 4.0]), "student", scale=1.0).tolist()
        [1.0, 0.5, 0.2]
    """
    d2 = torch.as_tensor(d2, dtype=torch.float64)
    if filter == "gaussian":
        if not (math.isfinite(sigma) and sigma > 0):
            raise ConfigError(f"sigma {sigma}: allowed is sigma > 0")
        return torch.exp(-d2 / (2.0 * sigma**2))
    if filter == "student":
        if not (math.isfinite(scale) and scale > 0):
            raise ConfigError(f"student scale {scale}: allowed is > 0")
        return 1.0 / (1.0 + d2 / scale)
    raise ConfigError(f"filter {filter!r}: allowed is one of {', '.join(FILTERS)}")


def lattice_kernel(d2: torch.Tensor, support_d2: torch.Tensor, filter: str = "gaussian", sigma: float = 5.0,
                   scale: float = 1.0, norm: str = "sum", gain: float = 1.0) -> torch.Tensor:
    """The fixed kernel's weights at squared distances ``d2``, with the amplitude the square kernels get
    (:func:`gaussian_kernel`, :func:`student_t_kernel`; the module docstring), taken on any lattice.

    Parameters
    ----------
    d2 : torch.Tensor
        Squared distances between cell centres (any shape), in cell widths.
    support_d2 : torch.Tensor
        (m,) squared lengths of every offset of the lattice inside the kernel's support, the centre included
        (``lattice.kernel_offsets``): what ``sum`` normalises over.
    filter, sigma, scale
        The radial function (:func:`radial`).
    norm : {"sum", "peak", "neighbour"}
        Unit sum over the support, a peak of 1, or the centre 1 above its nearest neighbours (at distance 1, the
        4 neighbours of a square cell or the 6 of a hexagonal one; a peak of 1 when the support has none).
    gain : float
        Extra factor on the normalised kernel.

    Returns
    -------
    torch.Tensor
        float64, the shape of ``d2``.

    Example:
        >>> support = torch.tensor([0.0] + [1.0] * 6)  # a cell and its 6 hexagonal neighbours
        >>> round(float(lattice_kernel(torch.tensor(0.0), support, sigma=1.0, norm="neighbour")), 4)  # 1 / (1 - e^-0.5)
        2.5415
    """
    support_d2 = torch.as_tensor(support_d2, dtype=torch.float64)
    w = radial(d2, filter, sigma, scale)
    if norm == "sum":
        s = radial(support_d2, filter, sigma, scale).sum()
    elif norm == "peak":
        s = torch.tensor(1.0, dtype=torch.float64)
    elif norm == "neighbour":
        near = bool(((support_d2 - 1.0).abs() < 1e-9).any())
        s = 1.0 - radial(torch.tensor(1.0), filter, sigma, scale) if near else torch.tensor(1.0, dtype=torch.float64)
    else:
        raise ConfigError(f"kernel norm {norm!r}: allowed is one of {', '.join(KERNEL_NORMS)}")
    return w / s * gain
