"""Prototype readout: the network picks the neighbourhood, the neurons' prototypes pick the neuron.

Not the paper's method. The paper's winner is the argmax of the Softmax of the convolved map (Sec. III). On
scikit-learn's digits (1,437 training digits on a 30x30 map) that argmax places a held-out digit within a step
of the neuron of its nearest training digit (nearest in the network's own embedding) three times in four, but
on that very neuron only one time in six; near the boundary between two classes' patches a step is a coin
toss, and that is most of the map's held-out errors (book, Measurements, "Digits on an idle machine, and where
the held-out errors are"). The convolved map is a Gaussian blur about 5 neurons wide of a linear projection, and
loss_similarity (Eq. 6) compares two such blurs, so nothing trains the position finer than a neuron.

The readout keeps the map's placement and refines it by at most one step. After training (and after the usage
bias, when there is one) each neuron j gets a prototype ``P_j``: the mean of the L2-normalised embeddings
``e = h / |h|`` of the un-augmented training images whose network winner it is (:func:`fit_prototypes`). An
image's winner is then, among the network's winner ``w`` and its 8 neighbours on the grid (6 on a hexagonal
lattice), the neuron whose prototype is nearest to the image's embedding,

.. math:: \\text{winner}(x) = \\arg\\min_{j \\in \\mathcal{N}_8(w(x)) \\cup \\{w(x)\\},\\; n_j > 0}
          \\lVert e(x) - P_j \\rVert^2,

with ``n_j`` the training images behind ``P_j`` (a neuron without any has no prototype and is passed over), and
the second-best is the next nearest there (:func:`local_top2`). The readout moves some training images to a
neighbour, so the prototypes are fitted once more from the readout's own winners, a Lloyd step of k-means
restricted to the windows (:func:`fit_readout_prototypes`): every neuron with a prototype then wins training
images, so has a label. One refit, not more: on the digits maps it takes all the gain (held-out NS 0.961 -> 0.971
over six maps; further refits until nothing moves: the same), and on an MNIST map, with 8.9 training images per
neuron, each further refit cost order (TE 0.028 without a refit, 0.075 after one, 0.119 after five;
``bench/readout_settings.py``; book, Measurements, "Digits: a prototype readout"). No label is used. A window with no prototype at
all keeps the network's own winners, so a map whose prototypes are not fitted (all ``n_j = 0``) reads out as
the paper's.
"""

from __future__ import annotations

import torch

WINDOW = 1  # Chebyshev radius of the window around the network's winner: the 3x3 block, the 8-neighbourhood
MAX_ROUNDS = 1  # refits of the prototypes from the readout's own winners (fit_readout_prototypes; module docstring)


def window_index(grid: tuple[int, int], torus: bool, radius: int = WINDOW, lattice: str = "square") -> torch.Tensor:
    """(n, (2 radius + 1)^2) indices of each neuron's window (itself first, then row-major offsets), -1 where
    the window leaves a flat map. ``torus``: the map wraps. On a hexagonal lattice (``lattice="hex"``,
    radius 1 only) the window is the neuron and its 6 neighbours, (n, 7) (``lattice.neighbour_table``).

    Examples
    --------
    >>> window_index((3, 3), torus=False)[0].tolist()  # the corner neuron's 3x3 block: 4 neurons on the map
    [0, -1, -1, -1, -1, 1, -1, 3, 4]
    >>> sorted(window_index((3, 3), torus=True)[0].tolist())  # on a 3x3 torus the block is the whole map
    [0, 1, 2, 3, 4, 5, 6, 7, 8]
    >>> window_index((2, 2), torus=True)[0].tolist()  # a neuron met twice on a small torus counts once
    [0, 3, 2, -1, 1, -1, -1, -1, -1]
    >>> window_index((4, 4), torus=True, lattice="hex")[0].tolist()
    [0, 3, 1, 15, 12, 7, 4]
    """
    if lattice == "hex":
        from .config import ConfigError
        from .lattice import neighbour_table

        if radius != 1:
            raise ConfigError(f"window radius {radius} on lattice hex: allowed is 1 (a neuron and its 6 neighbours)")
        nb = torch.from_numpy(neighbour_table(grid, "hex", torus))  # (n, 6)
        return torch.cat((torch.arange(len(nb))[:, None], nb), 1)
    H, W = grid
    offs = [(0, 0)] + [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
                       if (dy, dx) != (0, 0)]
    r, c = torch.arange(H * W) // W, torch.arange(H * W) % W
    cols = []
    for dy, dx in offs:
        y, x = r + dy, c + dx
        if torus:
            cols.append((y % H) * W + x % W)
        else:
            ok = (y >= 0) & (y < H) & (x >= 0) & (x < W)
            cols.append(torch.where(ok, y.clamp(0, H - 1) * W + x.clamp(0, W - 1), torch.full_like(y, -1)))
    win = torch.stack(cols, 1)  # (n, k)
    dup = torch.zeros_like(win, dtype=torch.bool)
    for k in range(1, win.shape[1]):  # on a torus smaller than the window a neuron can come back
        dup[:, k] = (win[:, k : k + 1] == win[:, :k]).any(1) & (win[:, k] >= 0)
    return torch.where(dup, torch.full_like(win, -1), win)


def normalised(h: torch.Tensor) -> torch.Tensor:
    """Rows of ``h`` (N, d) scaled to unit length, in float32 (a zero row stays zero)."""
    h = h.float()
    return h / h.norm(dim=1, keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def fit_prototypes(emb: torch.Tensor, winners: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each neuron's prototype and how many images it is the mean of.

    .. math:: P_j = \\frac{1}{n_j} \\sum_{i:\\, w_i = j} \\frac{h_i}{\\lVert h_i \\rVert}, \\qquad n_j = |\\{i: w_i = j\\}|

    Parameters
    ----------
    emb : torch.Tensor
        (N, d) backbone embeddings of the training images (un-augmented).
    winners : torch.Tensor
        (N,) the map's winners of those images (integer neuron indices in 0..n-1).
    n : int
        Number of neurons.

    Returns
    -------
    tuple of torch.Tensor
        ``P`` (n, d) float32, zero rows where ``n_j = 0``, and ``counts`` (n,) float32.

    Examples
    --------
    >>> P, c = fit_prototypes(torch.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, 0.0]]), torch.tensor([0, 0, 2]), 3)
    >>> P.tolist(), c.tolist()
    ([[0.5, 0.5], [0.0, 0.0], [1.0, 0.0]], [2.0, 0.0, 1.0])
    """
    e = normalised(emb)  # (N, d)
    w = winners.long().to(e.device)
    counts = torch.bincount(w, minlength=n).float()  # (n,)
    P = torch.zeros(n, e.shape[1], dtype=e.dtype, device=e.device).index_add_(0, w, e)  # (n, d)
    return P / counts.clamp_min(1)[:, None], counts


@torch.no_grad()
def local_top2(emb: torch.Tensor, top2: torch.Tensor, P: torch.Tensor, counts: torch.Tensor,
               window: torch.Tensor) -> torch.Tensor:
    """The readout's best and second-best neuron (N, 2) (module docstring).

    Parameters
    ----------
    emb : torch.Tensor
        (N, d) backbone embeddings of the images.
    top2 : torch.Tensor
        (N, 2) the network's own best and second-best neurons (the Softmax's two largest outputs).
    P, counts : torch.Tensor
        (n, d) prototypes and (n,) their image counts (:func:`fit_prototypes`).
    window : torch.Tensor
        (n, k) each neuron's window (:func:`window_index`), -1 off the map.

    Returns
    -------
    torch.Tensor
        (N, 2) int64. Ties go to the earlier neuron of the window (the network's winner first). Where the
        window holds fewer than two neurons with a prototype, the missing choices are the network's own
        (the best, or the best other than the readout's winner).

    Examples
    --------
    >>> P, c = fit_prototypes(torch.eye(4), torch.arange(4), 4)  # on a 1x4 strip, prototype j is e_j
    >>> win = window_index((1, 4), torus=False)
    >>> local_top2(torch.tensor([[0.1, 1.0, 0.0, 0.0]]), torch.tensor([[0, 3]]), P, c, win).tolist()
    [[1, 0]]
    """
    e = normalised(emb)  # (N, d)
    cand = window[top2[:, 0].long()].to(e.device)  # (N, k) neuron indices, -1 off the map
    ok = cand >= 0
    safe = cand.clamp_min(0)
    ok &= counts.to(e.device)[safe] > 0  # a neuron that won no training image has no prototype
    d = (e[:, None, :] - P.to(e)[safe]).square().sum(-1)  # (N, k)
    d = torch.where(ok, d, torch.full_like(d, float("inf")))
    order = torch.sort(d, dim=1, stable=True).indices[:, :2]  # (N, 2) positions in the window
    best = torch.gather(safe, 1, order)  # (N, 2)
    found = torch.gather(ok, 1, order)  # (N, 2)
    net = top2.long().to(e.device)
    first = torch.where(found[:, 0], best[:, 0], net[:, 0])
    other = torch.where(net[:, 0] != first, net[:, 0], net[:, 1])  # the network's best other than `first`
    second = torch.where(found[:, 1], best[:, 1], other)
    return torch.stack((first, second), 1)


@torch.no_grad()
def fit_readout_prototypes(emb: torch.Tensor, top2: torch.Tensor, n: int, window: torch.Tensor,
                           max_rounds: int = MAX_ROUNDS) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Prototypes fitted from the network's winners, then refitted from the readout's own winners, at most
    ``max_rounds`` times and only while the training images' winners still change.

    Parameters
    ----------
    emb : torch.Tensor
        (N, d) embeddings of the un-augmented training images.
    top2 : torch.Tensor
        (N, 2) the network's best and second-best neurons for them.
    n : int
        Number of neurons.
    window : torch.Tensor
        (n, k) :func:`window_index` of the map.
    max_rounds : int
        Most refits.

    Returns
    -------
    tuple
        ``P`` (n, d), ``counts`` (n,) (:func:`fit_prototypes`) and the number of refits made.

    Examples
    --------
    >>> emb = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])  # the network put all three on neuron 0
    >>> P, c, rounds = fit_readout_prototypes(emb, torch.tensor([[0, 1], [0, 1], [0, 1]]), 2,
    ...                                       window_index((1, 2), torus=False))
    >>> c.tolist(), rounds  # neuron 0 had no rival prototype: nothing moves
    ([3.0, 0.0], 0)
    """
    w = top2[:, 0]
    P, counts = fit_prototypes(emb, w, n)
    for r in range(max_rounds):
        new = local_top2(emb, top2, P, counts, window)[:, 0]
        if torch.equal(new, w.long()):
            return P, counts, r
        w = new
        P, counts = fit_prototypes(emb, w, n)
    return P, counts, max_rounds
