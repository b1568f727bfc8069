"""The map's lattice: where its neurons sit, how far apart they are and which of them are neighbours.

Not in the paper, whose map is a square grid (Sec. III, Fig. 1). Classical SOM software also offers a
hexagonal lattice, on which every neuron has six neighbours at the same distance. Neurons are numbered
row-major, ``j = r * W + c``, on both lattices (``ModelConfig.lattice``):

- ``square``: neuron (r, c) sits at (y, x) = (r, c); its neighbours are the 4 cells sharing a side, or 8 with
  the cells meeting it at a corner (the 8-neighbourhood of the topographic error and the contiguity).
- ``hex``: offset rows, "odd-r": odd rows are shifted right by half a cell and rows are sqrt(3)/2 apart, so
  neuron (r, c) sits at (y, x) = (r sqrt(3)/2, c + (r mod 2)/2) and its 6 neighbours (two in its row, two in
  the row above, two below) are all at distance 1. No two hexagons meet only at a corner, so the 6 are also
  the cells it touches.

On a torus (``boundary: circular``) the map's opposite edges meet: a distance is the one to the nearest
periodic image, the map repeated every W columns and every H rows. The hexagonal lattice repeats after an
even number of rows only (an odd shift of rows swaps the shifted and unshifted rows), so a hexagonal torus
needs an even H (:func:`check_lattice`).

Every function here is pure and works in numpy float64.

Example:
    >>> cell_centres((2, 2), "hex").round(3).tolist()  # (y, x) of neurons 0..3; row 1 is shifted right
    [[0.0, 0.0], [0.0, 1.0], [0.866, 0.5], [0.866, 1.5]]
    >>> neighbour_table((4, 4), "hex", torus=True)[0].tolist()  # left, right, up-left, up-right, down-left, down-right
    [3, 1, 15, 12, 7, 4]
"""

from __future__ import annotations

import math

import numpy as np

from .config import LATTICES, ConfigError

HEX_ROW = math.sqrt(3.0) / 2.0  # distance between two rows of the hexagonal lattice, in cell widths
ROW_STEP = {"square": 1.0, "hex": HEX_ROW}
TOL = 1e-9  # distances on either lattice are sqrt of multiples of 1/4: far coarser than this


def check_lattice(grid: tuple[int, int], lattice: str = "square", torus: bool = False) -> tuple[int, int]:
    """``grid`` as two ints, or a one-line ConfigError naming what is wrong with ``lattice`` on it.

    Example:
        >>> check_lattice((3, 4), "hex", torus=True)
        Traceback (most recent call last):
        ...
        urlsom_core.config.ConfigError: lattice hex with a torus on grid 3x4: allowed is an even number of rows (odd rows are shifted by half a cell, so the lattice repeats only every 2 rows)
    """
    if lattice not in LATTICES:
        raise ConfigError(f"lattice {lattice!r}: allowed is one of {', '.join(LATTICES)}")
    H, W = int(grid[0]), int(grid[1])
    if H < 1 or W < 1:
        raise ConfigError(f"grid {H}x{W}: allowed is at least 1x1")
    if lattice == "hex" and torus and H % 2:
        raise ConfigError(f"lattice hex with a torus on grid {H}x{W}: allowed is an even number of rows (odd rows "
                          "are shifted by half a cell, so the lattice repeats only every 2 rows)")
    return H, W


def cell_centres(grid: tuple[int, int], lattice: str = "square") -> np.ndarray:
    """Where each neuron sits, (n, 2) float64 (y, x), row-major, in cell widths: y grows down the map's rows.

    Square: (r, c). Hex: (r sqrt(3)/2, c + (r mod 2)/2), the odd rows shifted right by half a cell.
    """
    H, W = check_lattice(grid, lattice)
    r, c = np.divmod(np.arange(H * W), W)
    if lattice == "hex":
        return np.stack((r * HEX_ROW, c + 0.5 * (r % 2)), 1)
    return np.stack((r, c), 1).astype(np.float64)


def periods(grid: tuple[int, int], lattice: str = "square") -> np.ndarray:
    """The torus' periods (y, x): the map's height H times the row step, and its width W. (2,) float64."""
    H, W = check_lattice(grid, lattice)
    return np.array([H * ROW_STEP[lattice], float(W)])


def wrap(d: np.ndarray, grid: tuple[int, int], lattice: str = "square") -> np.ndarray:
    """Offsets ``d`` (..., 2) (y, x) moved to the nearest periodic image of a torus: each component into
    [-period / 2, period / 2]. The periods are a rectangle, so the nearest image is nearest on each axis."""
    p = periods(grid, lattice)
    return d - p * np.round(d / p)


def offsets(a: np.ndarray, b: np.ndarray, grid: tuple[int, int], lattice: str = "square",
            torus: bool = False) -> np.ndarray:
    """Offsets (y, x) from neurons ``a`` to neurons ``b`` (row-major indices, broadcast together), (..., 2)
    float64; on a torus (``torus``) to the nearest periodic image of ``b``."""
    check_lattice(grid, lattice, torus)
    xy = cell_centres(grid, lattice)
    d = xy[np.asarray(b, dtype=np.int64)] - xy[np.asarray(a, dtype=np.int64)]
    return wrap(d, grid, lattice) if torus else d


def lattice_distances(grid: tuple[int, int], lattice: str = "square", torus: bool = False) -> np.ndarray:
    """Euclidean distance between every two neurons' centres, (n, n) float64, in cell widths; on a torus
    (``torus``) to the nearest periodic image.

    Example:
        >>> d = lattice_distances((2, 3), "hex")
        >>> [round(float(v), 4) for v in d[0, [1, 3, 4]]]  # (0, 1) and (1, 0) touch (0, 0); (1, 1) does not
        [1.0, 1.0, 1.7321]
    """
    n = int(grid[0]) * int(grid[1])
    j = np.arange(n)
    d = offsets(j[:, None], j[None, :], grid, lattice, torus)  # (n, n, 2)
    return np.sqrt((d**2).sum(-1))


# (dr, dc) of the neighbours of a cell, by lattice and, on hex, by the parity of its row
_SQUARE_SIDES = ((-1, 0), (1, 0), (0, -1), (0, 1))  # up, down, left, right
_SQUARE_ALL = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
# left, right, up-left, up-right, down-left, down-right
_HEX_EVEN = ((0, -1), (0, 1), (-1, -1), (-1, 0), (1, -1), (1, 0))
_HEX_ODD = ((0, -1), (0, 1), (-1, 0), (-1, 1), (1, 0), (1, 1))


def neighbour_table(grid: tuple[int, int], lattice: str = "square", torus: bool = False,
                    corners: bool = False) -> np.ndarray:
    """Each neuron's neighbours, (n, k) row-major indices, -1 off the map or for a neighbour already listed.

    Square: the 4 cells sharing a side (up, down, left, right; ``metrics.square_neighbours``), or with
    ``corners`` the 8 around it (row-major). Hex: the 6 cells around it (left, right, up-left, up-right,
    down-left, down-right), with or without ``corners``. ``torus``: the map wraps; on a torus so small that
    two directions reach one neuron (a side of 2), it is listed once.

    Example:
        >>> neighbour_table((3, 3), "hex")[4].tolist()  # (1, 1), an odd row: up-left is (0, 1), up-right (0, 2)
        [3, 5, 1, 2, 7, 8]
        >>> neighbour_table((3, 3), "hex")[0].tolist()  # a corner: 3 neighbours on a flat map
        [-1, 1, -1, -1, -1, 3]
    """
    H, W = check_lattice(grid, lattice, torus)
    r, c = np.divmod(np.arange(H * W), W)
    if lattice == "hex":
        steps = np.where((r % 2 == 0)[:, None, None], np.array(_HEX_EVEN)[None], np.array(_HEX_ODD)[None])  # (n, 6, 2)
    else:
        steps = np.broadcast_to(np.array(_SQUARE_ALL if corners else _SQUARE_SIDES)[None], (H * W, 8 if corners else 4, 2))
    rr, cc = r[:, None] + steps[..., 0], c[:, None] + steps[..., 1]  # (n, k)
    if torus:
        rr, cc = rr % H, cc % W
        ok = np.ones(rr.shape, dtype=bool)
    else:
        ok = (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W)
    out = np.where(ok, rr * W + cc, -1)
    out[out == np.arange(H * W)[:, None]] = -1  # a 1-wide torus would wrap onto itself
    for k in range(1, out.shape[1]):  # a neighbour met twice (a side of 2 on a torus) counts once
        dup = (out[:, [k]] == out[:, :k]).any(1) & (out[:, k] >= 0)
        out[dup, k] = -1
    return out.astype(np.int64)


def neighbour_pairs(grid: tuple[int, int], lattice: str = "square", torus: bool = False,
                    corners: bool = False) -> np.ndarray:
    """Every unordered pair of neighbours (:func:`neighbour_table`) once, (P, 2) row-major indices, sorted."""
    nb = neighbour_table(grid, lattice, torus, corners)
    a = np.repeat(np.arange(len(nb)), nb.shape[1])
    b = nb.reshape(-1)
    keep = b >= 0
    p = np.sort(np.stack((a[keep], b[keep]), 1), 1)
    return np.unique(p, axis=0)


def are_neighbours(a: np.ndarray, b: np.ndarray, grid: tuple[int, int], lattice: str = "square",
                   torus: bool = False, corners: bool = False) -> np.ndarray:
    """Whether neurons ``a`` and ``b`` (row-major indices, same shape) are neighbours (:func:`neighbour_table`),
    a bool array of their shape."""
    nb = neighbour_table(grid, lattice, torus, corners)  # (n, k)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    return (nb[a] == b[..., None]).any(-1)


def kernel_offsets(half_width: float, lattice: str = "square") -> np.ndarray:
    """The offsets (y, x) from a cell to every cell of the unbounded lattice inside the box |y|, |x| <=
    ``half_width`` (the cell itself included), (m, 2) float64: the support of a kernel of that half side, over
    which the kernel is normalised. On the square lattice these are the (2h + 1)^2 integer offsets of a kernel
    of odd side 2h + 1; on the hexagonal one the cells of the same box of the plane.

    Example:
        >>> len(kernel_offsets(1, "square")), len(kernel_offsets(1, "hex"))  # the 3x3 block; a cell, 2 beside, 4 above and below
        (9, 7)
    """
    h = float(half_width)
    if not (math.isfinite(h) and h >= 0):
        raise ConfigError(f"kernel half width {half_width}: allowed is a number >= 0")
    if lattice not in LATTICES:
        raise ConfigError(f"lattice {lattice!r}: allowed is one of {', '.join(LATTICES)}")
    step = ROW_STEP[lattice]
    rows = np.arange(-math.floor(h / step + TOL), math.floor(h / step + TOL) + 1)
    cols = np.arange(-math.floor(h) - 1, math.floor(h) + 2)
    r, c = np.meshgrid(rows, cols, indexing="ij")
    x = c + (0.5 * (r % 2) if lattice == "hex" else 0.0)
    d = np.stack((r * step, x), -1).reshape(-1, 2).astype(np.float64)
    return d[(np.abs(d) <= h + TOL).all(1)]
