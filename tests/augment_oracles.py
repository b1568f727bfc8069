"""Reference implementations the augmentation tests compare against; not used by the package.

``rgb_to_hsv`` / ``hsv_to_rgb`` are the textbook HSV conversions (checked against ``colorsys``), the oracle
for :func:`urlsom_core.augment.hue_shift`. ``crop_flip`` and ``color`` run one stage of
:class:`urlsom_core.augment.Augment` alone, with the same random draws as a whole call, so that each stage's
distribution can be tested by itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from urlsom_core.augment import Augment


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


def crop_flip(aug: Augment, x: torch.Tensor, g: torch.Generator, offset: int = 0,
              total: int | None = None) -> torch.Tensor:
    """``aug``'s random crop (side uniform in crop_min*S..S, integer pixels) + flip + resize alone: one
    grid_sample. uint8 (B, C, S, S) -> float (B, C, out, out) in [0, 1]."""
    B, _, S, _ = x.shape
    grid = aug._grid(*aug._crop_params(B, S, g, x.device, total or B, slice(offset, offset + B)))
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.mul_(1.0 / 255.0)


def color(aug: Augment, x: torch.Tensor, g: torch.Generator, offset: int = 0,
          total: int | None = None) -> torch.Tensor:
    """``aug``'s colour jitter (p = jitter_p) then random grayscale (p = gray_p) alone, per sample, x in [0, 1]
    (B, C, H, W)."""
    B, C = x.shape[:2]
    return aug._apply_color(x, aug._color_params(B, C, g, x.device, total or B, slice(offset, offset + B)))
