"""Batched augmentations on the device (paper Sec. V.A), per-sample randomness, no per-sample Python.

One call turns a uint8 batch (B, C, S, S) into a float batch (B, C, out, out) ready for the network:

1. random crop of side uniform in ``round(22/32*S) .. S`` (the paper's 22..32 of 32), resized to ``out``,
   with an optional horizontal flip (p = 0.5), as ONE ``affine_grid`` + ``grid_sample`` (bilinear);
2. colour jitter with p = 0.8: brightness, contrast, saturation in ``[0.6, 1.4]`` and hue shift in
   ``[-0.4, 0.4]`` of the colour circle (torchvision's ``ColorJitter(0.4, 0.4, 0.4, 0.4)`` ranges), applied
   in that fixed order (torchvision shuffles the order per call);
3. grayscale with p = 0.5 (kept as C channels);
4. per-channel standardisation with the dataset's mean and std.

Grayscale data (C = 1) gets brightness and contrast only. Example:
    >>> x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    >>> Augment(out_size=32, flip=True)(x, torch.Generator().manual_seed(0)).shape
    torch.Size([8, 3, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

_GRAY = (0.299, 0.587, 0.114)


def _u(n: int, lo: float, hi: float, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=device)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of an RGB batch (B, 3, H, W) -> (B, 1, H, W); identity for one channel."""
    if x.shape[1] == 1:
        return x
    w = torch.tensor(_GRAY, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """Batched RGB -> HSV for x in [0, 1] (B, 3, H, W); hue in [0, 1)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    dsafe = torch.where(delta > 0, delta, torch.ones_like(delta))
    rc, gc, bc = (maxc - r) / dsafe, (maxc - g) / dsafe, (maxc - b) / dsafe
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack((h, s, maxc), 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Batched HSV -> RGB (inverse of :func:`rgb_to_hsv`)."""
    h, s, v = x.unbind(1)
    k = torch.tensor([5.0, 3.0, 1.0], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    t = (k + h.unsqueeze(1) * 6.0) % 6.0
    return v.unsqueeze(1) - v.unsqueeze(1) * s.unsqueeze(1) * (torch.minimum(t, 4.0 - t).clamp(0.0, 1.0))


@dataclass(frozen=True)
class Augment:
    """The paper's augmentation pipeline as a callable on uint8 device batches."""

    out_size: int
    flip: bool = True
    crop_min: float = 22 / 32
    jitter_p: float = 0.8
    jitter: float = 0.4
    hue: float = 0.4
    gray_p: float = 0.5
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)

    def crop_flip(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Random crop (side uniform in crop_min*S..S, integer pixels) + flip + resize: one grid_sample."""
        B, C, S, _ = x.shape
        dev = x.device
        lo = max(1, round(self.crop_min * S))
        side = torch.randint(lo, S + 1, (B,), generator=g, device=dev).float() / S  # (B,) fraction of S
        tx = (torch.rand(B, generator=g, device=dev) * 2 - 1) * (1 - side)
        ty = (torch.rand(B, generator=g, device=dev) * 2 - 1) * (1 - side)
        sx = side
        if self.flip:
            sx = torch.where(torch.rand(B, generator=g, device=dev) < 0.5, -side, side)
        theta = torch.zeros(B, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, side, ty
        grid = F.affine_grid(theta, [B, C, self.out_size, self.out_size], align_corners=False)
        return F.grid_sample(x.float() / 255.0, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def color(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Colour jitter (p = jitter_p) then random grayscale (p = gray_p), per sample, x in [0, 1]."""
        B, C = x.shape[:2]
        dev = x.device
        on = (torch.rand(B, generator=g, device=dev) < self.jitter_p).float()
        j = self.jitter

        def factor(lo: float, hi: float, ident: float) -> torch.Tensor:
            f = _u(B, lo, hi, g, dev)
            return (on * f + (1 - on) * ident).view(B, 1, 1, 1)

        bright, contrast = factor(1 - j, 1 + j, 1.0), factor(1 - j, 1 + j, 1.0)
        sat, hue = factor(1 - j, 1 + j, 1.0), factor(-self.hue, self.hue, 0.0)
        x = (x * bright).clamp(0, 1)
        m = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - m) * contrast + m).clamp(0, 1)
        if C == 3:
            gray = grayscale(x)
            x = ((x - gray) * sat + gray).clamp(0, 1)
            hsv = rgb_to_hsv(x)
            hsv = torch.cat(((hsv[:, :1] + hue) % 1.0, hsv[:, 1:]), 1)
            x = hsv_to_rgb(hsv).clamp(0, 1)
            to_gray = (torch.rand(B, generator=g, device=dev) < self.gray_p).view(B, 1, 1, 1)
            x = torch.where(to_gray, grayscale(x).expand_as(x), x)
        return x

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        return (x - mean) / std

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """uint8 (B, C, S, S) -> augmented, standardised float32 (B, C, out, out)."""
        return self.normalize(self.color(self.crop_flip(x, g), g))

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        """The un-augmented view used for evaluation: resize to ``out_size`` and standardise."""
        x = x.float() / 255.0
        if x.shape[-1] != self.out_size:
            x = F.interpolate(x, size=(self.out_size, self.out_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.out_size)
        return self.normalize(x)
