"""Every loss term against two slow float64 references: one written straight from the paper's Eqs. 2 and 4-8
(Sec. IV), one a line-by-line numpy copy of the paper's TensorFlow snippet (Sec. IV.D)."""

import math

import numpy as np
import pytest
import torch

from urlsom_core.loss import urlsom_loss


def reference(P, Z, gamma=2.0):
    """Eqs. 2 and 4-8 with Python loops, float64: P, Z lists of N softmax vectors of length n."""
    N, n = len(P), len(P[0])

    def unit(v):
        s = math.sqrt(sum(x * x for x in v))
        return [x / s for x in v]

    Ph, Zh = [unit(p) for p in P], [unit(z) for z in Z]  # Eq. 2
    a = [sum((Ph[i][j] + Zh[i][j]) / 2 for i in range(N)) / N for j in range(n)]  # Eq. 7, averaged (Sec. IV.C)
    U = [1 / math.sqrt(n)] * n  # Sec. IV.A
    wta = sum(a[j] * U[j] for j in range(n))  # Eq. 4
    norm_a = math.sqrt(sum(x * x for x in a))
    collapse = 1 - sum(a[j] / norm_a * U[j] for j in range(n))  # Eq. 5
    sim = 1 - sum(sum(Ph[i][j] * Zh[i][j] for j in range(n)) for i in range(N)) / N  # Eq. 6
    return wta + collapse + gamma * sim, wta, collapse, sim  # Eq. 8


def reference_tf(p, z, gamma=2.0):
    """The paper's TensorFlow ``compute_loss`` (Sec. IV.D) in numpy float64, line by line
    (``tf.math.l2_normalize(x) = x / sqrt(max(sum(x^2), 1e-12))``)."""

    def l2_normalize(x):
        return x / np.sqrt(np.maximum((x * x).sum(axis=1, keepdims=True), 1e-12))

    const_vector_u = l2_normalize(np.ones((1, p.shape[1])))
    p_l2, z_l2 = l2_normalize(p), l2_normalize(z)
    p_z_mean = np.mean((p_l2 + z_l2) / 2, axis=0, keepdims=True)
    p_z_mean_l2 = l2_normalize(p_z_mean)
    loss_collapse = 1 - np.mean(np.sum(p_z_mean_l2 * const_vector_u, axis=1))
    loss_wta = np.mean(np.sum(p_z_mean * const_vector_u, axis=1))
    loss_similarity = 1 - np.mean(np.sum(p_l2 * z_l2, axis=1))
    return loss_wta + loss_collapse + gamma * loss_similarity, loss_wta, loss_collapse, loss_similarity


def test_float64_stays_float64_and_matches_both_references_to_rounding():
    """In float64 the loss equals the loop reference and the TensorFlow snippet to ~1e-13 (the float32
    computation this replaced was off by ~6e-6 relative at n = 900)."""
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(3 * torch.randn(64, 900, generator=g, dtype=torch.float64), 1)
    z = torch.softmax(3 * torch.randn(64, 900, generator=g, dtype=torch.float64), 1)
    out = urlsom_loss(p, z, gamma=2.0)
    assert all(t.dtype == torch.float64 for t in out)
    loops = reference(p.tolist(), z.tolist(), 2.0)
    tf = reference_tf(p.numpy(), z.numpy(), 2.0)
    for got, a, b in zip(out, loops, tf, strict=True):
        assert float(got) == pytest.approx(a, rel=1e-12, abs=1e-14)
        assert float(got) == pytest.approx(b, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_are_computed_in_float32(dtype):
    p = torch.softmax(torch.randn(8, 25, generator=torch.Generator().manual_seed(1)), 1)
    out = urlsom_loss(p.to(dtype), p.flip(0).to(dtype))
    assert all(t.dtype == torch.float32 for t in out)
    want = reference(p.to(dtype).double().tolist(), p.flip(0).to(dtype).double().tolist())
    assert float(out.total) == pytest.approx(want[0], abs=1e-5)


def _check(p, z, gamma):
    out = urlsom_loss(p, z, gamma=gamma)
    ref = reference(p.double().tolist(), z.double().tolist(), gamma)
    for got, want in zip((out.total, out.wta, out.collapse, out.similarity), ref, strict=False):
        assert float(got) == pytest.approx(want, abs=2e-6)


@pytest.mark.parametrize("N,n,gamma", [(7, 5, 2.0), (16, 36, 1.5), (3, 100, 0.0)])
def test_random_softmax_matches_reference(N, n, gamma):
    g = torch.Generator().manual_seed(N * n)
    p = torch.softmax(3 * torch.randn(N, n, generator=g), 1)
    z = torch.softmax(3 * torch.randn(N, n, generator=g), 1)
    _check(p, z, gamma)


def test_one_hot_matches_reference_and_known_values():
    n = 8
    p = torch.eye(n)[[0, 1, 2, 3, 4, 5, 6, 7]]
    z = torch.eye(n)[[0, 1, 2, 3, 4, 5, 6, 0]]  # last pair disagrees
    _check(p, z, 2.0)
    # all samples spread one-hot over all neurons, views agree: WTA = 1/sqrt(n), collapse = 0, sim = 0
    out = urlsom_loss(torch.eye(n), torch.eye(n))
    assert float(out.wta) == pytest.approx(1 / math.sqrt(n), abs=1e-6)
    assert float(out.collapse) == pytest.approx(0.0, abs=1e-6)
    assert float(out.similarity) == pytest.approx(0.0, abs=1e-6)


def test_collapsed_and_uniform_cost_the_same():
    n = 9
    collapsed = urlsom_loss(torch.eye(n)[[0] * 5], torch.eye(n)[[0] * 5])
    uniform = urlsom_loss(torch.full((5, n), 1 / n), torch.full((5, n), 1 / n))
    assert float(collapsed.wta + collapsed.collapse) == pytest.approx(1.0, abs=1e-6)
    assert float(uniform.wta + uniform.collapse) == pytest.approx(1.0, abs=1e-6)


def toy_loss(x, q):
    """Fig. 3: n = 2, Softmax input (x, 0); a fraction q of samples selects p1, the rest p2."""
    p1 = torch.softmax(torch.tensor([x, 0.0]), 0)
    k = round(q * 100)  # 100 samples: k select p1, 100 - k select p2
    batch = torch.cat([p1.repeat(k, 1), p1.flip(0).repeat(100 - k, 1)])
    out = urlsom_loss(batch, batch)
    return float(out.wta + out.collapse)


def test_fig3_toy_minimum_at_saturation_and_half():
    xs = np.linspace(0, 6, 13)
    qs = np.linspace(0, 1, 11)
    grid = np.array([[toy_loss(x, q) for q in qs] for x in xs])
    i, j = np.unravel_index(grid.argmin(), grid.shape)
    assert xs[i] == pytest.approx(6.0)
    assert qs[j] == pytest.approx(0.5)
    assert grid.min() == pytest.approx(1 / math.sqrt(2), abs=0.01)


def test_gradient_matches_finite_differences_in_float64():
    """The analytic gradient of the total loss (through the Softmax) against central differences."""
    logits = torch.randn(6, 2, 9, generator=torch.Generator().manual_seed(2), dtype=torch.float64, requires_grad=True)

    def total(x):
        sm = torch.softmax(x, -1)
        return urlsom_loss(sm[:, 0], sm[:, 1], gamma=1.5, collapse_weight=0.7).total

    assert torch.autograd.gradcheck(total, (logits,), eps=1e-6, atol=1e-8)
