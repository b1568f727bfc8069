"""Batched augmentations on the device (paper Sec. V.A), per-sample randomness, no per-sample Python.

One call turns a uint8 batch (B, C, S, S) into a float batch (B, C, out, out) ready for the network:

1. random crop of side uniform in ``round(22/32*S) .. S`` (the paper's 22..32 of 32), resized to ``out``,
   with an optional horizontal flip (p = 0.5), as ONE ``grid_sample`` (bilinear);
2. colour jitter with p = 0.8, strength 0.4 for brightness, contrast, saturation and hue (the paper's
   "[0.4, 0.4, 0.4, 0.4]", Sec. V.A), in one of two readings (``jitter_reading``; the paper does not say
   which library it means):

   - ``torchvision`` (default): torchvision's ``ColorJitter(0.4, 0.4, 0.4, 0.4)`` ranges: brightness,
     contrast and saturation factors in ``[0.6, 1.4]`` (contrast about the mean luma, saturation a blend
     with the luma), hue shifted by up to 0.4 of the colour circle, clipped to [0, 1] after each op, in that
     fixed order (torchvision shuffles the order per call): :func:`torchvision_jitter`;
   - ``simsiam``: ``color_jitter(x, strength)`` of the Keras SimSiam example (keras-io,
     examples/vision/simsiam.py), whose ``compute_loss(p, z)`` and comment the paper's loss snippet repeats:
     TensorFlow's ``random_brightness`` (additive delta up to 0.8 s), ``random_contrast`` and
     ``random_saturation`` (factors ``1 +- 0.8 s``; contrast about each channel's mean, saturation scaling
     HSV saturation), ``random_hue`` (delta up to 0.2 s), in that order: :func:`simsiam_jitter`;
3. grayscale with p = 0.5 (kept as C channels);
4. per-channel standardisation with the dataset's mean and std.

Grayscale data (C = 1) gets brightness and contrast only. Example:
    >>> x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    >>> Augment(out_size=32, flip=True)(x, torch.Generator().manual_seed(0)).shape
    torch.Size([8, 3, 32, 32])
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import JITTERS

LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma weights of (R, G, B): grayscale here and in data


def _const(values: tuple[float, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A small constant (1, C, 1, 1) on ``device``, made once: no host-to-device copy per batch."""
    key = (values, str(device), dtype)
    t = _CONSTS.get(key)
    if t is None:
        t = _CONSTS[key] = torch.tensor(values, dtype=dtype).view(1, -1, 1, 1).to(device)
    return t


_CONSTS: dict[tuple[tuple[float, ...], str, torch.dtype], torch.Tensor] = {}
_CPU_CHUNK_FLOATS = 1 << 17  # 512 KiB of float32 per chunk: a chunk's temporaries stay in the CPU caches


_POOLS: dict[int, ThreadPoolExecutor] = {}  # made on first use, one per thread count


@contextlib.contextmanager
def _one_intra_op_thread() -> Iterator[None]:
    """torch's intra-op threads set to one for the block (each chunk is too small to split), then restored."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _draw(total: int, rows: slice, sample: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """Random numbers for all ``total`` rows of the (global) batch, keeping this batch's ``rows``."""
    out = sample(total)
    return out if rows == slice(0, total) else out[rows]


@dataclass(frozen=True)
class Augment:
    """The paper's augmentation pipeline as a callable on uint8 device batches.

    Every random number is drawn for the whole (global) batch of ``total`` samples and the rows
    ``offset .. offset + B`` are kept, so a batch split over DDP ranks is augmented exactly as the same
    batch in one process (``total`` defaults to ``B``: a plain single-process batch).

    Only elementwise arithmetic, one ``grid_sample`` and per-image means are used: no ``where``,
    ``argmax`` or ``remainder``, which are many times slower than arithmetic on CPU.
    """

    out_size: int
    flip: bool = True
    crop_min: float = 22 / 32
    rotate: float = 0.0
    jitter_p: float = 0.8
    jitter: float = 0.4
    hue: float = 0.4
    gray_p: float = 0.5
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    jitter_reading: str = "torchvision"

    def __post_init__(self) -> None:
        if self.jitter_reading not in JITTERS:
            raise ValueError(f"jitter reading {self.jitter_reading!r}: allowed is one of {', '.join(JITTERS)}")

    # ------------------------------------------------------------------------------ random parameters
    def _crop_params(self, B: int, S: int, g: torch.Generator, dev: torch.device, T: int, rows: slice
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        lo = max(1, round(self.crop_min * S))
        side = _draw(T, rows, lambda n: torch.randint(lo, S + 1, (n,), generator=g, device=dev)).float() / S
        tx = (_draw(T, rows, lambda n: torch.rand(n, generator=g, device=dev)) * 2 - 1) * (1 - side)
        ty = (_draw(T, rows, lambda n: torch.rand(n, generator=g, device=dev)) * 2 - 1) * (1 - side)
        sx = side
        if self.flip:
            fl = _draw(T, rows, lambda n: torch.rand(n, generator=g, device=dev)) < 0.5
            sx = side * (1.0 - 2.0 * fl.float())
        angle = None
        if self.rotate > 0:  # drawn only when asked for, so that the paper's pipeline keeps its random stream
            u = _draw(T, rows, lambda n: torch.rand(n, generator=g, device=dev))
            angle = (u * 2 - 1) * (self.rotate * math.pi / 180.0)
        return sx, side, tx, ty, angle

    def _grid(self, sx: torch.Tensor, side: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor,
              angle: torch.Tensor | None = None) -> torch.Tensor:
        """The sampling grid of ``affine_grid(theta = [[sx, 0, tx], [0, side, ty]], align_corners=False)``,
        built as two outer products (affine_grid's batched matmul is ~10x slower on CPU). With ``angle``
        (radians, (B,)) the crop is turned about its centre: theta = [[c sx, -s side, tx], [s sx, c side, ty]]
        with c = cos(angle), s = sin(angle)."""
        B, O = sx.shape[0], self.out_size
        base = (torch.arange(O, device=sx.device, dtype=torch.float32) * 2 + 1) / O - 1  # pixel centres
        if angle is None:
            gx = (sx.view(B, 1, 1) * base.view(1, 1, O) + tx.view(B, 1, 1)).expand(B, O, O)
            gy = (side.view(B, 1, 1) * base.view(1, O, 1) + ty.view(B, 1, 1)).expand(B, O, O)
            return torch.stack((gx, gy), dim=-1)
        c, s = torch.cos(angle).view(B, 1, 1), torch.sin(angle).view(B, 1, 1)
        u = sx.view(B, 1, 1) * base.view(1, 1, O)  # (B, 1, O): output column -> crop x
        v = side.view(B, 1, 1) * base.view(1, O, 1)  # (B, O, 1): output row -> crop y
        gx = c * u - s * v + tx.view(B, 1, 1)  # (B, O, O)
        gy = s * u + c * v + ty.view(B, 1, 1)
        return torch.stack((gx, gy), dim=-1)

    def _color_params(self, B: int, C: int, g: torch.Generator, dev: torch.device, T: int, rows: slice
                      ) -> dict[str, torch.Tensor]:
        def rand() -> torch.Tensor:
            return _draw(T, rows, lambda n: torch.rand(n, generator=g, device=dev))

        on = (rand() < self.jitter_p).float()
        j = self.jitter

        def factor(lo: float, hi: float, ident: float) -> torch.Tensor:
            f = lo + (hi - lo) * rand()
            return (on * f + (1 - on) * ident).view(B, 1, 1, 1)

        if self.jitter_reading == "simsiam":  # additive brightness delta, factors 1 +- 0.8 s, hue delta 0.2 s
            p = {"bright": factor(-0.8 * j, 0.8 * j, 0.0), "contrast": factor(1 - 0.8 * j, 1 + 0.8 * j, 1.0)}
            p["sat"], p["hue"] = factor(1 - 0.8 * j, 1 + 0.8 * j, 1.0), factor(-0.2 * self.hue, 0.2 * self.hue, 0.0)
        else:
            p = {"bright": factor(1 - j, 1 + j, 1.0), "contrast": factor(1 - j, 1 + j, 1.0)}
            p["sat"], p["hue"] = factor(1 - j, 1 + j, 1.0), factor(-self.hue, self.hue, 0.0)
        if C == 3:
            p["to_gray"] = (rand() < self.gray_p).float().view(B, 1, 1, 1)
        return p

    # ----------------------------------------------------------------------------------------- stages
    def _apply_color(self, x: torch.Tensor, p: dict[str, torch.Tensor], scale: float = 1.0) -> torch.Tensor:
        """Colour jitter and grayscale with the drawn parameters ``p`` on ``scale * x``; returns a new tensor."""
        jitter = simsiam_jitter if self.jitter_reading == "simsiam" else torchvision_jitter
        x = jitter(x, p["bright"], p["contrast"], p["sat"], p["hue"], scale=scale)
        if x.shape[1] == 3:
            to_gray = p["to_gray"]
            x = torch.addcmul(x * (1 - to_gray), to_gray, _luma(x))  # exact: x or its luma
        return x

    def normalize(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(x - mean) / std per channel, as one multiply-add."""
        shift = _const(tuple(-m / s for m, s in zip(self.mean, self.std, strict=True)), x.device, x.dtype)
        return torch.addcmul(shift, x, _const(tuple(1 / s for s in self.std), x.device, x.dtype), out=out)

    def __call__(self, x: torch.Tensor, g: torch.Generator, offset: int = 0, total: int | None = None) -> torch.Tensor:
        """uint8 (B, C, S, S) -> augmented, standardised float32 (B, C, out, out).

        ``offset``/``total``: these B samples are rows ``offset..offset+B`` of a global batch of ``total``
        (DDP); the random draws are those of the whole global batch: first the crop's and flip's, then the
        colour's (``_crop_params``, ``_color_params``). On the CPU the work runs in chunks of images that fit
        the cache (about 2x faster than one pass over a large batch, whose every elementwise operation
        streams through memory). With k > 1 torch
        threads the chunks run on k Python threads, each with one intra-op thread: a chunk's operations
        are too small for torch to split across threads with profit (two intra-op threads ran 2x slower
        than one), while whole chunks side by side scale. The result is the same for any thread count."""
        B, C, S, _ = x.shape
        dev, T, rows = x.device, total or B, slice(offset, offset + B)
        grid = self._grid(*self._crop_params(B, S, g, dev, T, rows))
        params = self._color_params(B, C, g, dev, T, rows)
        O = self.out_size
        out = torch.empty(B, C, O, O, device=dev)
        step = B if dev.type != "cpu" else max(1, _CPU_CHUNK_FLOATS // (C * O * O))

        def chunk(i: int) -> None:
            sl = slice(i, i + step)
            y = F.grid_sample(x[sl].float(), grid[sl], mode="bilinear", padding_mode="border", align_corners=False)
            y = self._apply_color(y, {k: v[sl] for k, v in params.items()}, scale=1.0 / 255.0)
            self.normalize(y, out=out[sl])

        starts = range(0, B, step)
        k = torch.get_num_threads()
        if dev.type != "cpu" or k == 1 or len(starts) == 1:
            for i in starts:
                chunk(i)
            return out
        pool = _POOLS.get(k) or _POOLS.setdefault(k, ThreadPoolExecutor(k, thread_name_prefix="urlsom-augment"))
        with _one_intra_op_thread():
            list(pool.map(chunk, starts))  # list(): wait for all, re-raise a chunk's error
        return out

    def plain(self, x: torch.Tensor) -> torch.Tensor:
        """The un-augmented view used for evaluation: resize to ``out_size`` and standardise."""
        x = x.float() / 255.0
        if x.shape[-1] != self.out_size:
            x = F.interpolate(x, size=(self.out_size, self.out_size), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > self.out_size)
        return self.normalize(x)


def torchvision_jitter(x: torch.Tensor, bright: torch.Tensor, contrast: torch.Tensor, sat: torch.Tensor,
                       hue: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Colour jitter as torchvision's ``ColorJitter`` applies it, in a fixed order, on ``scale * x`` in [0, 1].

    ``bright``, ``contrast``, ``sat`` are factors and ``hue`` a shift in turns of the colour circle, each
    (B, 1, 1, 1): ``x * b``; ``(x - m) * c + m`` with ``m`` the image's mean luma; ``(x - l) * s + l`` with ``l``
    the pixel's luma; hue rotated by ``hue``; clipped to [0, 1] after each step. One channel: brightness and
    contrast only. Returns a new (B, C, H, W) tensor.
    """
    x = (x * (bright * scale)).clamp_(0, 1)
    m = _luma(x.mean(dim=(2, 3), keepdim=True))  # mean luma per image (B, 1, 1, 1)
    x = torch.addcmul(m * (1 - contrast), x, contrast).clamp_(0, 1)  # (x - m) * c + m
    if x.shape[1] == 3:
        x = torch.addcmul(_luma(x) * (1 - sat), x, sat).clamp_(0, 1)  # (x - gray) * s + gray
        x = hue_shift(x, hue)
    return x


def simsiam_jitter(x: torch.Tensor, bright: torch.Tensor, contrast: torch.Tensor, sat: torch.Tensor,
                   hue: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Colour jitter as ``color_jitter`` of the Keras SimSiam example computes it, on ``scale * x`` in [0, 1].

    The example feeds its uint8 CIFAR-10 images to TensorFlow's ``random_brightness``, ``random_contrast``,
    ``random_saturation`` and ``random_hue``; each op converts uint8 to floats in [0, 1], adjusts, and converts
    back with saturation, so every step below works on [0, 1] and is clipped to it (the example's rounding
    to 1/255 between steps is not reproduced). With ``bright`` an additive delta, ``contrast``/``sat``
    factors and ``hue`` a shift in turns, each (B, 1, 1, 1):

    - ``tf.image.adjust_brightness``: ``x + bright``;
    - ``tf.image.adjust_contrast``: ``(x - m_c) * contrast + m_c`` with ``m_c`` the mean of channel c;
    - ``tf.image.adjust_saturation``: HSV saturation ``s`` -> ``min(1, s * sat)`` at the same hue and value,
      i.e. ``x -> max - (max - x) * min(sat, max / chroma)``;
    - ``tf.image.adjust_hue``: hue rotated by ``hue``.

    One channel: brightness and contrast only. Returns a new (B, C, H, W) tensor.
    """
    x = (x * scale + bright).clamp_(0, 1)
    m = x.mean(dim=(2, 3), keepdim=True)  # per channel (B, C, 1, 1)
    x = torch.addcmul(m * (1 - contrast), x, contrast).clamp_(0, 1)
    if x.shape[1] == 3:
        maxc = x.max(dim=1, keepdim=True).values
        chroma = maxc - x.min(dim=1, keepdim=True).values
        ratio = torch.minimum(sat.expand_as(maxc), maxc / chroma.clamp_min(1e-12))  # s' / s, s' clipped to 1
        x = (maxc - (maxc - x) * ratio).clamp_(0, 1)
        x = hue_shift(x, hue).clamp_(0, 1)
    return x


def _luma(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma (B, 1, ...) of (B, 3, ...) by three multiply-adds; identity for one channel."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (r * LUMA_WEIGHTS[0]).add_(g, alpha=LUMA_WEIGHTS[1]).add_(b, alpha=LUMA_WEIGHTS[2])


def hue_shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue of RGB ``x`` in [0, 1] (B, 3, H, W) by ``shift`` (B, 1, 1, 1) of the colour circle.

    Equal to converting to HSV, adding ``shift`` to the hue (mod 1) and converting back (colorsys's HSV; the tests
    check it against that round trip): value (max) and chroma (max - min) are kept,
    and channel c becomes ``max - chroma * clamp(min(t, 4 - t), 0, 1)`` with ``t = (k_c + 6 h') mod 6``,
    ``k = (5, 3, 1)``. Written with arithmetic and float masks only (no where/argmax/remainder).
    """
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    chroma = maxc - minc
    inv = 1.0 / chroma.clamp_min(1e-12)  # chroma 0: the numerators below are 0, the output is max
    is_r = (maxc == r).to(x.dtype)  # ties resolve r, then g, then b (as colorsys.rgb_to_hsv)
    is_g = (maxc == g).to(x.dtype) * (1 - is_r)
    is_b = 1 - is_r - is_g
    h6 = ((g - b) * is_r + (b - r) * is_g + (r - g) * is_b) * inv + 2 * is_g + 4 * is_b  # hue * 6, in [-1, 5]
    h6 = h6 + 6.0 * shift
    h6 = h6 - 6.0 * torch.floor(h6 * (1 / 6.0))  # [0, 6)
    t = h6 + _const((5.0, 3.0, 1.0), x.device, x.dtype)  # (B, 3, H, W) in [1, 11)
    t = t - 6.0 * torch.floor(t * (1 / 6.0))
    f = torch.minimum(t, 4.0 - t).clamp_(0, 1)
    return maxc - chroma * f
