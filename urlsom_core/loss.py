r"""URL-SOM loss (paper Sec. IV, Eqs. 2 and 4-8). Pure functions; cost linear in batch N and map size n.

With :math:`P^{\pm}_i = p^{\pm}_i/\lVert p^{\pm}_i\rVert` the L2-normalised Softmax outputs of two augmented
views of sample i (Eq. 2, Sec. IV.A), their average :math:`P_i = (P^+_i + P^-_i)/2` (Eq. 7, Sec. IV.D), the
batch mean :math:`a = \frac1N\sum_i P_i` and :math:`A = a/\lVert a\rVert` (Sec. IV.C), and the
equal-probability unit vector :math:`U = \mathbf 1/\sqrt n` (Sec. IV.A):

- Eq. 4 (Sec. IV.B) ``loss_WTA = a . U``: small when each output is one-hot (winner takes all);
- Eq. 5 (Sec. IV.C) ``loss_collapse = 1 - A . U``: small when the winners spread evenly over the map;
- Eq. 6 (Sec. IV.D) ``loss_similarity = 1 - mean_i P+_i . P-_i``: the two views pick the same neuron;
- Eq. 8 (Sec. IV.D) ``loss = loss_WTA + loss_collapse + gamma * loss_similarity`` (gamma = 2).

Under DDP (an initialised ``torch.distributed`` process group) :func:`urlsom_loss` all-reduces the batch
mean ``a`` over ranks itself, so every rank uses the ``a`` of the global batch: the paper's ``a`` is a mean
over its batch of 256, and with a per-rank ``a`` K processes would optimise a different loss (K small
batches) and results would change with K.

Example:
    >>> import torch
    >>> p = torch.eye(4)              # four samples, four neurons, each its own winner
    >>> out = urlsom_loss(p, p)
    >>> round(float(out.total), 4)    # WTA 0.5, collapse 0, similarity 0
    0.5
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .distributed import distributed


class URLSOMLoss(NamedTuple):
    """The total loss of Eq. 8 and its three terms, 0-d tensors of the computation's dtype."""

    total: torch.Tensor
    wta: torch.Tensor
    collapse: torch.Tensor
    similarity: torch.Tensor


def mean_direction(p_hat: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """Eq. 7 averaged over the batch: a = mean_i (P+_i + P-_i)/2, for normalised outputs (N, n) -> (n,)."""
    return 0.5 * (p_hat.mean(0) + z_hat.mean(0))


def global_mean_direction(p_hat: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """:func:`mean_direction` over the GLOBAL batch of all DDP ranks (each holding the same number of rows).

    The per-rank sums are all-reduced with a differentiable collective, so the backward pass sums the
    gradients of all ranks' losses with respect to ``a``; DDP then averages over ranks, which gives exactly
    the one-process gradient (``tests/test_ddp.py``). In one process it is :func:`mean_direction`."""
    _, world = distributed()
    if world == 1:
        return mean_direction(p_hat, z_hat)
    import torch.distributed._functional_collectives as fc

    s = p_hat.sum(0) + z_hat.sum(0)  # (n,)
    s = fc.all_reduce(s, "sum", torch.distributed.group.WORLD)  # differentiable, traceable by compile
    return s / (2.0 * p_hat.shape[0] * world)


def wta_loss(a: torch.Tensor) -> torch.Tensor:
    """Eq. 4: loss_WTA = a . U with U = 1/sqrt(n); ``a`` (n,) -> 0-d."""
    return a.sum() / a.numel() ** 0.5


def collapse_loss(a: torch.Tensor) -> torch.Tensor:
    """Eq. 5: loss_collapse = 1 - (a/|a|) . U; ``a`` (n,) -> 0-d."""
    return 1.0 - a.sum() / (a.norm() * a.numel() ** 0.5)


def similarity_loss(p_hat: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """Eq. 6: loss_similarity = 1 - mean_i P+_i . P-_i, for normalised (N, n) outputs -> 0-d."""
    return 1.0 - (p_hat * z_hat).sum(1).mean()


def urlsom_loss(p: torch.Tensor, z: torch.Tensor, gamma: float = 2.0, collapse_weight: float = 1.0,
                gather: bool = True) -> URLSOMLoss:
    """The URL-SOM loss of Eq. 8 on the Softmax outputs of two views of the same N samples.

    Parameters
    ----------
    p, z : torch.Tensor
        (N, n) Softmax outputs (rows non-negative, summing to 1; Eq. 1) of the two augmented views; row i of
        ``p`` and row i of ``z`` come from the same image. They are L2-normalised here (Eq. 2), once.
    gamma : float
        Weight of loss_similarity (the paper's gamma = 2, Sec. IV.D).
    collapse_weight : float
        Weight of loss_collapse in ``total`` (1 in the paper; >1 during an optional warm-up, <1 with
        ``TrainConfig.collapse_weight``; the paper is silent on either).
    gather : bool
        Under DDP, all-reduce the batch mean ``a`` over ranks (:func:`global_mean_direction`); ignored in
        one process.

    Returns
    -------
    URLSOMLoss
        ``total``, ``wta``, ``collapse``, ``similarity``: 0-d tensors. bf16 / fp16 inputs are computed in
        float32; float32 and float64 keep their precision.
    """
    dtype = torch.promote_types(p.dtype, torch.float32)
    p_hat = F.normalize(p.to(dtype), dim=1)  # (N, n)
    z_hat = F.normalize(z.to(dtype), dim=1)  # (N, n)
    a = global_mean_direction(p_hat, z_hat) if gather else mean_direction(p_hat, z_hat)  # (n,)
    wta = wta_loss(a)
    col = collapse_loss(a)
    sim = similarity_loss(p_hat, z_hat)
    total = wta + collapse_weight * col + gamma * sim
    return URLSOMLoss(total, wta, col, sim)
