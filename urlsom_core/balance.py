"""Usage balance: a per-neuron bias, fitted after training, that lets every neuron win some training images.

Not the paper's method. The paper's map is the argmax of the Softmax of the convolved map (Sec. III); with
few images per neuron (scikit-learn's 1,437 training digits on 900 neurons) a trained map leaves a third of
its neurons winning no training image, and about 12% of held-out digits land on those neurons, where no
label was learnt. The network knows the digits (a held-out digit's nearest training digit in the 64-d
embedding has its label 98-99% of the time); the map places a digit to within a neuron or two of its
neighbours, not on their neuron (book, Measurements, "Digits: a usage-balancing bias").

The cure is the classical SOM's "conscience" (DeSieno, 1988): a neuron that wins too rarely is favoured.
Here it is fitted once, after training, on the un-augmented training images, and kept in the model as a
bias ``b`` added to the convolved map before the Softmax, ``p = softmax(K * z + b)``. It moves winners by a
neuron or so at the fine scale the fixed filter cannot resolve; the map's order comes from training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

BALANCE_ITERS = 100  # iterations of the conscience update
BALANCE_STEP = 0.3  # its first step, in units of the median winner-to-runner-up logit gap


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
def map_logits(model: torch.nn.Module, images: torch.Tensor, plain: Callable[[torch.Tensor], torch.Tensor],
               device: torch.device, batch: int = 1024, amp: bool = True) -> torch.Tensor:
    """The convolved maps (N, n), pre-Softmax and float32, of ``images`` un-augmented by ``plain``, as
    ``predict.predict`` sees them (same batches, same autocast), in eval mode; the bias in use included."""
    from .predict import _autocast

    was = model.training
    model.eval()
    parts = []
    for i in range(0, len(images), batch):
        x = plain(images[i : i + batch].to(device))
        with _autocast(device, amp):
            parts.append(model.head.logits(model.embed(x)))  # (b, n) float32
    model.train(was)
    return torch.cat(parts)


@torch.no_grad()
def fit_usage_bias(model: torch.nn.Module, images: torch.Tensor, plain: Callable[[torch.Tensor], torch.Tensor],
                   device: torch.device, batch: int = 1024, amp: bool = True) -> torch.Tensor:
    """Fit ``model.head.usage_bias`` in place on ``images`` (:func:`map_logits`) and return it. The bias is
    zeroed first, so fitting again (a resumed run) gives the same bias. ``model`` is a
    :class:`~urlsom_core.model.URLSOM` built with ``model.usage_balance`` true."""
    head = model.head
    if not hasattr(head, "usage_bias"):
        raise ValueError("fit_usage_bias: the model has no usage_bias (built with model.usage_balance false)")
    head.usage_bias.zero_()
    head.usage_bias.copy_(usage_bias(map_logits(model, images, plain, device, batch, amp)))
    return head.usage_bias
