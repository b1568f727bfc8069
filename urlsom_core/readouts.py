"""Optional readouts, fitted after training: a usage-balancing bias and a prototype readout.

Neither is the paper's method. The paper's map is the argmax of the Softmax of the convolved map (Sec. III,
Eq. 1), what :class:`~urlsom_core.model.URLSOM` computes and :func:`~urlsom_core.predict.predict` reports as
``winner``; a readout reads the same trained network out differently, and its state lives here, never in the
model (the model does not import this module). A run with ``model.usage_balance`` or
``model.prototype_readout`` keeps the fitted state in its own file (``readout.pt``, :meth:`Readout.save`) and
reports the map as read out in a section of its own beside the network's figures
(:func:`urlsom_core.evaluation.evaluate`).

**Usage balance.** With few images per neuron (scikit-learn's 1,437 training digits on 900 neurons) a trained map
leaves a third of its neurons winning no training image, and about 12% of held-out digits land on those
neurons, where no label was learnt. The network knows the digits (a held-out digit's nearest training digit in
the 64-d embedding has its label 98-99% of the time); the map places a digit to within a neuron or two of its
neighbours, not on their neuron (book, Measurements, "Digits: a usage-balancing bias"). The cure is the
classical SOM's "conscience" (DeSieno, 1988): a neuron that wins too rarely is favoured. It is fitted once, on
the un-augmented training images, as a bias ``b`` added to the convolved map before the Softmax,
``p = softmax(K * z + b)`` (:func:`usage_bias`). It moves winners by a neuron or so at the fine scale the fixed
filter cannot resolve; the map's order comes from training.

**Prototype readout.** On the digits the Softmax's argmax places a held-out digit within a step of the neuron of
its nearest training digit three times in four, but on that very neuron only one time in six; near the
boundary between two classes' patches a step is a coin toss, and that is most of the map's held-out errors
(book, Measurements, "Digits on an idle machine, and where the held-out errors are"). The convolved map is a
Gaussian blur about 5 neurons wide of a linear projection, and loss_similarity (Eq. 6) compares two such blurs,
so nothing trains the position finer than a neuron. The readout keeps the map's placement and refines it by at
most one step. After the bias (when there is one) each neuron j gets a prototype ``P_j``: the mean of the
L2-normalised embeddings ``e = h / |h|`` of the un-augmented training images it wins (:func:`fit_prototypes`).
An image's winner is then, among the winner ``w`` and its 8 neighbours on the grid, the neuron whose prototype
is nearest to the image's embedding,

.. math:: \\text{winner}(x) = \\arg\\min_{j \\in \\mathcal{N}_8(w(x)) \\cup \\{w(x)\\},\\; n_j > 0}
          \\lVert e(x) - P_j \\rVert^2,

with ``n_j`` the training images behind ``P_j`` (a neuron without any has no prototype and is passed over), and
the second-best is the next nearest there (:func:`local_top2`). The prototypes can be fitted once more from
the readout's own winners, a Lloyd step of k-means restricted to the windows (:func:`fit_readout_prototypes`,
``model.readout_refits``). By default they are not: each refit moves more images to a neighbour, which costs
order for little selectivity. On the 18 maps with 1.6-2.7 training images a neuron of the defaults' threshold
study (six maps each of digits, 2,400 CIFAR-10 images, 2,400 ellipses) one refit changed held-out NS by -0.002
to +0.027 (digits 0.951 -> 0.965 on average) and raised TE from 0.002-0.048 to 0.015-0.092; on maps with 8.9 a
neuron (MNIST, CIFAR-10, ellipses, 8,000 images each) it raised TE from 0.036 / 0.059 / 0.079 to 0.087 / 0.136
/ 0.150 for held-out NS +0.001 / +0.019 / -0.008 (``bench/readout_settings.py``; book, Measurements, "The
readout at every size"). A window
with no prototype at all keeps the winners it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .augment import Augment
from .checkpoint import READOUT_STATE
from .config import ConfigError, RunConfig
from .data import ImageData
from .files import atomic_write
from .model import URLSOM, softmax
from .predict import _autocast, predict

BALANCE_ITERS = 100  # iterations of the conscience update
BALANCE_STEP = 0.3  # its first step, in units of the median winner-to-runner-up logit gap
WINDOW = 1  # Chebyshev radius of the window around the winner: the 3x3 block, the 8-neighbourhood
READOUT_FILE = "readout.pt"  # a run's fitted readout state, beside its checkpoint


# ------------------------------------------------------------------------------------------- usage balance
@torch.no_grad()
def usage_bias(logits: torch.Tensor, iters: int = BALANCE_ITERS, step: float = BALANCE_STEP) -> torch.Tensor:
    """The bias ``b`` (n,) that spreads the winners of ``logits`` (N, n) evenly over the n neurons.

    The conscience update, with ``c_j`` the number of rows whose ``argmax(logits + b)`` is neuron j and
    ``m = N / n`` the even share,

    .. math:: b_j \\leftarrow b_j - \\eta_t \\, g \\, (c_j - m) / \\max(m, 1), \\qquad
              \\eta_t = \\text{step} \\, (1 - t / \\text{iters}),

    for ``t = 0 .. iters - 1``, from ``b = 0``; ``g`` is the median gap between a row's largest and second
    largest logit, so the update does not depend on the logits' scale. The step decays to 0, so the bias
    settles; it does not reach an exactly even split (rows are indivisible) and need not.

    Parameters
    ----------
    logits : torch.Tensor
        (N, n) convolved maps (pre-Softmax) of the labelling images, N >= 2, n >= 2.
    iters : int
        Number of updates; 0 gives the zero bias.
    step : float
        First step, in median gaps.

    Returns
    -------
    torch.Tensor
        (n,) float32 bias, on the device of ``logits``.

    Examples
    --------
    >>> z = torch.tensor([[2.0, 1.0, 0.0], [2.0, 1.5, 0.0], [2.0, 0.0, 1.0]])  # neuron 0 wins all three rows
    >>> b = usage_bias(z, iters=50, step=1.0)
    >>> sorted((z + b).argmax(1).tolist())  # each neuron now wins one
    [0, 1, 2]
    """
    if logits.ndim != 2 or logits.shape[0] < 2 or logits.shape[1] < 2:
        raise ValueError(f"logits of shape {tuple(logits.shape)}: allowed is (N, n) with N >= 2 and n >= 2")
    z = logits.double()  # (N, n)
    N, n = z.shape
    top = torch.topk(z, 2, dim=1).values  # (N, 2)
    gap = float((top[:, 0] - top[:, 1]).median())
    if gap <= 0:  # ties everywhere: any positive unit will do
        gap = float(z.std()) or 1.0
    share = N / n
    b = torch.zeros(n, dtype=z.dtype, device=z.device)
    for t in range(iters):
        counts = torch.bincount((z + b).argmax(1), minlength=n).to(z.dtype)  # (n,)
        b -= step * (1 - t / iters) * gap * (counts - share) / max(share, 1.0)
    return b.float()


@torch.no_grad()
def map_logits(model: URLSOM, images: torch.Tensor, plain: Callable[[torch.Tensor], torch.Tensor],
               device: torch.device, batch: int = 1024, amp: bool = True) -> torch.Tensor:
    """The network's convolved maps (N, n), pre-Softmax and float32, of ``images`` un-augmented by ``plain``,
    as :func:`~urlsom_core.predict.predict` sees them (same batches, same autocast), in eval mode."""
    was = model.training
    model.eval()
    parts = []
    for i in range(0, len(images), batch):
        x = plain(images[i : i + batch].to(device))
        with _autocast(device, amp):
            parts.append(model.head.logits(model.embed(x)))  # (b, n) float32
    model.train(was)
    return torch.cat(parts)


# --------------------------------------------------------------------------------------- prototype readout
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
        (N, 2) the best and second-best neurons the prototypes refine (the Softmax's two largest outputs).
    P, counts : torch.Tensor
        (n, d) prototypes and (n,) their image counts (:func:`fit_prototypes`).
    window : torch.Tensor
        (n, k) each neuron's window (:func:`window_index`), -1 off the map.

    Returns
    -------
    torch.Tensor
        (N, 2) int64. Ties go to the earlier neuron of the window (the given winner first). Where the
        window holds fewer than two neurons with a prototype, the missing choices are those of ``top2``
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
    other = torch.where(net[:, 0] != first, net[:, 0], net[:, 1])  # the given best other than `first`
    second = torch.where(found[:, 1], best[:, 1], other)
    return torch.stack((first, second), 1)


@torch.no_grad()
def fit_readout_prototypes(emb: torch.Tensor, top2: torch.Tensor, n: int, window: torch.Tensor,
                           max_rounds: int = 0) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Prototypes fitted from the given winners, then refitted from the readout's own winners, at most
    ``max_rounds`` times and only while the training images' winners still change.

    Parameters
    ----------
    emb : torch.Tensor
        (N, d) embeddings of the un-augmented training images.
    top2 : torch.Tensor
        (N, 2) their best and second-best neurons before the readout (the network's, bias included).
    n : int
        Number of neurons.
    window : torch.Tensor
        (n, k) :func:`window_index` of the map.
    max_rounds : int
        Most refits (``model.readout_refits``; 0: the prototypes of the given winners).

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


# ------------------------------------------------------------------------------------------ the readout
@dataclass(frozen=True, eq=False)
class Readout:
    """A fitted readout of a map of ``grid``: a usage bias, prototypes, or both (at least one).

    Attributes
    ----------
    grid : tuple of int
        The map's (H, W).
    torus : bool
        Whether the map wraps (``boundary == "circular"``): the prototypes' windows wrap too.
    bias : torch.Tensor, optional
        (n,) float32 usage bias added to the convolved map before the Softmax (:func:`usage_bias`).
    prototypes, counts : torch.Tensor, optional
        (n, d) float32 prototypes and (n,) float32 the training images behind each (:func:`fit_prototypes`).
    rounds : int, optional
        Refits the prototypes took (:func:`fit_readout_prototypes`).
    lattice : str
        The map's lattice (``square`` or ``hex``): the prototypes' windows are its neighbourhoods.
    """

    grid: tuple[int, int]
    torus: bool
    bias: torch.Tensor | None = None
    prototypes: torch.Tensor | None = None
    counts: torch.Tensor | None = None
    rounds: int | None = None
    lattice: str = "square"
    window: torch.Tensor = field(init=False, repr=False)  # (n, k) the prototypes' windows (window_index)

    def __post_init__(self) -> None:
        n = int(self.grid[0]) * int(self.grid[1])
        if self.bias is None and self.prototypes is None:
            raise ValueError("Readout: neither a bias nor prototypes; allowed is at least one")
        if self.bias is not None and tuple(self.bias.shape) != (n,):
            raise ValueError(f"Readout bias of shape {tuple(self.bias.shape)}: allowed is ({n},) for grid {self.grid}")
        if (self.prototypes is None) != (self.counts is None):
            raise ValueError("Readout: prototypes and counts go together; allowed is both or neither")
        if self.prototypes is not None and (self.prototypes.ndim != 2 or self.prototypes.shape[0] != n
                                            or tuple(self.counts.shape) != (n,)):
            raise ValueError(f"Readout prototypes {tuple(self.prototypes.shape)} and counts "
                             f"{tuple(self.counts.shape)}: allowed is (n, d) and (n,) with n = {n}")
        object.__setattr__(self, "window", window_index(tuple(self.grid), self.torus, lattice=self.lattice))

    @property
    def usage_balance(self) -> bool:
        return self.bias is not None

    @property
    def prototype_readout(self) -> bool:
        return self.prototypes is not None

    def softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """The Softmax (N, n) of the convolved map ``logits`` (N, n) with the bias added (float32)."""
        if self.bias is not None:
            with torch.autocast(logits.device.type, enabled=False):
                logits = logits + self.bias.to(logits.device).float()
        return softmax(logits)

    def refine(self, h: torch.Tensor, top2: torch.Tensor) -> torch.Tensor:
        """The best and second-best neurons (N, 2) for embeddings ``h`` (N, d): ``top2`` refined by the
        prototypes (:func:`local_top2`), or ``top2`` itself without prototypes."""
        if self.prototypes is None:
            return top2
        return local_top2(h, top2, self.prototypes, self.counts, self.window)

    def state(self) -> dict[str, Any]:
        """The fitted tensors and the refit count, as :meth:`save` writes them."""
        out: dict[str, Any] = {"grid": list(self.grid), "torus": self.torus, "lattice": self.lattice}
        if self.bias is not None:
            out["usage_bias"] = self.bias.detach().cpu()
        if self.prototypes is not None:
            out.update(prototypes=self.prototypes.detach().cpu(), prototype_count=self.counts.detach().cpu(),
                       rounds=self.rounds)
        return out

    def save(self, path: str | Path) -> None:
        """Write :meth:`state` to ``path`` atomically (``torch.load(weights_only=True)`` reads it)."""
        st = self.state()
        atomic_write(path, lambda fh: torch.save(st, fh))

    @classmethod
    def load(cls, path: str | Path) -> Readout:
        """The readout :meth:`save` wrote to ``path``."""
        st = torch.load(path, map_location="cpu", weights_only=True)
        return cls(tuple(st["grid"]), bool(st["torus"]), st.get("usage_bias"), st.get("prototypes"),
                   st.get("prototype_count"), st.get("rounds"), st.get("lattice", "square"))


def balance_usage(cfg: RunConfig, model: URLSOM, train: ImageData, aug: Augment, device: torch.device,
                  log: Callable[[str], None] = print) -> torch.Tensor:
    """The usage bias (n,) of ``model``'s map, fitted on the un-augmented training images ``train``
    (:func:`usage_bias` of :func:`map_logits`); ``log`` gets how many neurons won a training image without it."""
    z = map_logits(model, train.images, aug.plain, device)  # (N, n)
    live = int(torch.unique(softmax(z).argmax(1)).numel())  # the network's own winners, as predict reports them
    bias = usage_bias(z)
    log(f"usage balance: a bias fitted on {len(train):,} training images; without it "
        f"{live} of {cfg.model.n_neurons} neurons won a training image")
    return bias


def fit_readout(cfg: RunConfig, model: URLSOM, train: ImageData, aug: Augment, device: torch.device,
                bias: torch.Tensor | None = None,
                log: Callable[[str], None] = print) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The prototypes (n, d), their counts (n,) and the refits made (:func:`fit_readout_prototypes`), fitted on
    the un-augmented training images ``train`` from ``model``'s winners with the usage ``bias`` (when given)."""
    n = cfg.model.n_neurons
    pre = Readout(tuple(cfg.model.grid), cfg.model.circular, bias=bias, lattice=cfg.model.lattice) if bias is not None else None
    tr = predict(model, train, aug, device, embed=True, readout=pre)
    top2 = tr["readout_top2"] if pre is not None else tr["top2"]
    window = window_index(tuple(cfg.model.grid), cfg.model.circular, lattice=cfg.model.lattice)
    P, counts, rounds = fit_readout_prototypes(torch.from_numpy(tr["embedding"]), torch.from_numpy(top2), n, window,
                                               cfg.model.readout_refits)
    log(f"prototype readout: {int((counts > 0).sum())} of {n} neurons got a prototype from {len(train):,} "
        f"training images ({rounds} rounds)")
    return P, counts, rounds


def fit(cfg: RunConfig, model: URLSOM, train: ImageData, aug: Augment, device: torch.device,
        log: Callable[[str], None] = print) -> Readout | None:
    """The readout ``cfg`` asks for (``model.usage_balance``, then ``model.prototype_readout`` on top of the
    bias), fitted on the training images; None when it asks for neither. Deterministic: fitting a resumed run
    again gives the same readout."""
    m = cfg.model
    if not (m.usage_balance or m.prototype_readout):
        return None
    bias = balance_usage(cfg, model, train, aug, device, log) if m.usage_balance else None
    P = counts = rounds = None
    if m.prototype_readout:
        P, counts, rounds = fit_readout(cfg, model, train, aug, device, bias, log)
    return Readout(tuple(m.grid), m.circular, bias, P, counts, rounds, m.lattice)


def from_model_state(cfg: RunConfig, state: dict[str, torch.Tensor], rounds: int | None = None) -> Readout | None:
    """The readout a model state dict carries under ``head.usage_bias``, ``head.prototypes`` and
    ``head.prototype_count`` (runs whose checkpoint held the readout with the model), or None."""
    bias, P, counts = (state.get(k) for k in READOUT_STATE)
    if bias is None and P is None:
        return None
    if P is not None and counts is None:
        raise ConfigError("model state: head.prototypes without head.prototype_count")
    return Readout(tuple(cfg.model.grid), cfg.model.circular, bias, P, counts, rounds, cfg.model.lattice)
