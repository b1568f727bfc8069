r"""URL-SOM loss (paper Sec. III, Eqs. 2-8). Pure functions; cost linear in batch N and map size n.

With :math:`\hat P^{\pm}_i = P^{\pm}_i/\lVert P^{\pm}_i\rVert` the L2-normalised Softmax outputs of two
augmented views of sample i, :math:`a = \frac1N\sum_i (\hat P^+_i + \hat P^-_i)/2` (Eq. 3) and the uniform
unit vector :math:`U = \mathbf 1/\sqrt n` (Eq. 2):

- Eq. 4 ``loss_WTA = a . U``: small when each output is one-hot (winner takes all);
- Eq. 5 ``loss_collapse = 1 - (a/|a|) . U``: small when the winners spread evenly over the map;
- Eq. 6 ``loss_similarity = 1 - mean_i P+_i . P-_i``: the two views pick the same neuron;
- Eq. 8 ``loss = loss_WTA + loss_collapse + gamma * loss_similarity`` (gamma = 2).

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


class URLSOMLoss(NamedTuple):
    total: torch.Tensor
    wta: torch.Tensor
    collapse: torch.Tensor
    similarity: torch.Tensor


def mean_direction(p_hat: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """Eq. 3: a = mean over the batch of (P+_i + P-_i)/2, for normalised outputs (N, n) -> (n,)."""
    return 0.5 * (p_hat.mean(0) + z_hat.mean(0))


def wta_loss(a: torch.Tensor) -> torch.Tensor:
    """Eq. 4: loss_WTA = a . U with U = 1/sqrt(n)."""
    return a.sum() / a.numel() ** 0.5


def collapse_loss(a: torch.Tensor) -> torch.Tensor:
    """Eq. 5: loss_collapse = 1 - (a/|a|) . U."""
    return 1.0 - a.sum() / (a.norm() * a.numel() ** 0.5)


def similarity_loss(p_hat: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """Eq. 6: loss_similarity = 1 - mean_i P+_i . P-_i, for normalised (N, n) outputs."""
    return 1.0 - (p_hat * z_hat).sum(1).mean()


def urlsom_loss(
    p: torch.Tensor, z: torch.Tensor, gamma: float = 2.0, collapse_weight: float = 1.0, a: torch.Tensor | None = None
) -> URLSOMLoss:
    """Eq. 8 on the Softmax outputs ``p``, ``z`` (N, n) of two views of the same N samples.

    ``collapse_weight`` scales loss_collapse in ``total`` (1 in the paper; >1 during an optional
    warm-up, <1 with ``TrainConfig.collapse_weight``). ``a`` overrides the batch mean of Eq. 3, e.g. gathered across DDP ranks (see ``train``).
    """
    p_hat = F.normalize(p.float(), dim=1)  # (N, n)
    z_hat = F.normalize(z.float(), dim=1)  # (N, n)
    if a is None:
        a = mean_direction(p_hat, z_hat)  # (n,)
    wta = wta_loss(a)
    col = collapse_loss(a)
    sim = similarity_loss(p_hat, z_hat)
    total = wta + collapse_weight * col + gamma * sim
    return URLSOMLoss(total, wta, col, sim)
