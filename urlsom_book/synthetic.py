"""Image sets made here, with known latent factors, for the transfer suite (``bench/transfer_suite.py``).

Every generator is deterministic (a seeded numpy ``default_rng``) and returns a :class:`SyntheticSet`;
:func:`write_npz` stores it in the layout of the ``npz:PATH`` dataset spec (``images`` uint8 N x H x W [x C],
``labels`` N integers), which :func:`urlsom_core.sources.read_npz` reads while ignoring every other array, so the
latents travel in the same file: ``latents`` (N, k) float64, the factors the map is scored against
(:func:`urlsom_core.metrics.latent_order`), ``latent_names``, ``raw_latents`` / ``raw_latent_names`` (the factors
as drawn), ``class_names`` and ``about``. :func:`read_latents` reads them back.

=================  ===================================================================================================
``shapes``         32x32 RGB: an ellipse, a square, an equilateral triangle or a plus (the label) of random position,
                   size, rotation and hue on a dark background (4x supersampled, so edges are anti-aliased)
``ellipses``       32x32 gray: one filled ellipse of random orientation and elongation (the latents), position, size,
                   brightness and background (nuisances); labels: 3 orientation x 3 elongation bins
``textures``       32x32 gray: oriented band-pass noise (a random-phase texture whose spectrum is a Gaussian blob at
                   orientation theta and spatial frequency f); labels: 3 orientation x 3 frequency bins
``digits-noisy``   scikit-learn's digits (8x8) with Gaussian pixel noise (sd ``noise`` of the 0..255 range)
``digits-inverted``  scikit-learn's digits, contrast inverted (255 - x): light background, dark strokes
=================  ===================================================================================================

Which latents are scored, and why they survive the training's augmentations (random square crops of 22-32 of
32 pixels resized back, horizontal flips, colour jitter with a hue shift up to 0.4 of the colour circle, and
grayscale with p = 0.5; ``urlsom_core.augment``), so that a map that learnt the invariances is not punished:

- textures: the orientation is folded, ``min(theta, 180 - theta)`` in [0, 90] degrees, because a horizontal flip
  maps theta (mod 180) to 180 - theta; a square crop resized back keeps the orientation exactly and jitter leaves
  it alone. The frequency is scored as ``log2 f``: a crop of side c resized to 32 multiplies f by c / 32 (0.69 to
  1), a shift of at most 0.54 in log2 f against a drawn range of 2.7 (f from 1.5 to 10 cycles per image).
- shapes: the size as ``log2`` of the radius (4 to 10 px: a range of 1.32 against a crop's 0.54), the rotation
  within the shape's symmetry folded like the textures' orientation (a flip maps phi to -phi; divided by half the
  symmetry period, so it lies in [0, 1] for every shape), the distance of the centre from the vertical midline
  ``|x - 16|`` (a flip maps x to 32 - x) and the height ``y``. Crops shift the position by up to 10 px, so
  position is only partly kept; the hue is stored among the raw latents but not scored: the jitter shifts it by up
  to 0.4 of the circle and half the views are gray, so the training asks the map to ignore it.
- ellipses: the orientation folded as the textures' (an ellipse is the same after 180 degrees, a flip maps theta to
  180 - theta) and the elongation as ``log2`` of the axis ratio, which square crops, flips and jitter all keep.
  Position, size, brightness and background are drawn too and not scored (crops and jitter change them).
- the digit variants have no latents (labels only).

Example:
    >>> s = generate("textures", n=8, seed=0)
    >>> s.images.shape, s.images.dtype.name, s.latents.shape, s.latent_names
    ((8, 32, 32), 'uint8', (8, 2), ('orientation_folded_deg', 'log2_frequency'))
    >>> bool((generate("textures", n=8, seed=0).images == s.images).all())
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from urlsom_core.config import ConfigError

SIDE = 32
SUPERSAMPLE = 4
SHAPES = ("ellipse", "square", "triangle", "plus")
SYMMETRY_DEG = {"ellipse": 180.0, "square": 90.0, "triangle": 120.0, "plus": 90.0}  # rotation period of each shape
RADIUS_PX = (4.0, 10.0)  # shapes: radius range (log-uniform)
CENTRE_PX = (9.0, 23.0)  # shapes: centre range on both axes
FREQ_CYCLES = (1.5, 10.0)  # textures: spatial frequency range, cycles per 32 px (log-uniform)
ORIENT_BINS_DEG = (30.0, 60.0)  # textures: folded orientation bin edges
ELONGATION = (1.5, 4.0)  # ellipses: axis ratio range (log-uniform)
ELLIPSE_RADIUS_PX = (4.0, 7.0)  # ellipses: sqrt of the semi-axes' product (log-uniform): the long axis <= 14 px
DEFAULT_N = {"shapes": 3000, "ellipses": 3000, "textures": 3000, "digits-noisy": None, "digits-inverted": None}  # None: all 1,797


@dataclass(frozen=True)
class SyntheticSet:
    """One generated image set: uint8 ``images`` (N, H, W) or (N, H, W, 3), int64 ``labels`` (N,), the
    ``class_names``, the scored ``latents`` (N, k) float64 with their ``latent_names`` (k = 0 for none), the
    ``raw_latents`` as drawn with their names, and a one-line ``about``."""

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    latents: np.ndarray
    latent_names: tuple[str, ...]
    raw_latents: np.ndarray
    raw_latent_names: tuple[str, ...]
    about: str

    @property
    def has_latents(self) -> bool:
        return self.latents.shape[1] > 0


def _check_n(name: str, n: int | None, most: int | None = None) -> None:
    if n is not None and (not isinstance(n, (int, np.integer)) or n < 1):
        raise ConfigError(f"{name}: n {n!r}: allowed is an integer >= 1")
    if n is not None and most is not None and n > most:
        raise ConfigError(f"{name}: n {n}: allowed is at most {most} (the images it is made from)")


# ------------------------------------------------------------------------------------------------ shapes
def _inside(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the points (u, v), in the shape's own frame (radius 1, centred, unrotated), lie inside it."""
    if kind == "ellipse":
        return u**2 + (v / 0.5) ** 2 <= 1.0
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.75
    if kind == "triangle":  # equilateral, circumradius 1, a vertex up (v grows upwards): mirror-symmetric in u
        inside = np.ones(u.shape, dtype=bool)
        for a in (-90.0, 30.0, 150.0):  # outward normals of the three sides
            t = np.deg2rad(a)
            inside &= u * np.cos(t) + v * np.sin(t) <= 0.5
        return inside
    if kind == "plus":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 1.0) & (av <= 0.3)) | ((au <= 0.3) & (av <= 1.0))
    raise ValueError(kind)


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    import colorsys

    return np.array(colorsys.hsv_to_rgb(h, s, v))


def _supersampled_grid() -> tuple[np.ndarray, np.ndarray]:
    """(X, Y): the centres of a ``SUPERSAMPLE`` times finer grid of sub-pixels over the image, in pixels (Y grows
    down the image), for the rendered sets' anti-aliased edges."""
    c = (np.arange(SIDE * SUPERSAMPLE) + 0.5) / SUPERSAMPLE
    return np.meshgrid(c, c)


def _rotate(dx: np.ndarray, dy: np.ndarray, deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(u, v): the offsets (dx, dy), dy upwards, in a frame turned ``deg`` degrees counter-clockwise."""
    t = np.deg2rad(deg)
    return dx * np.cos(t) + dy * np.sin(t), -dx * np.sin(t) + dy * np.cos(t)


def _coverage(inside: np.ndarray) -> np.ndarray:
    """The share of each pixel's sub-pixels that are ``inside`` (a boolean sub-pixel mask): SIDE x SIDE, anti-aliased."""
    return inside.reshape(SIDE, SUPERSAMPLE, SIDE, SUPERSAMPLE).mean((1, 3))


def _to_uint8(img: np.ndarray) -> np.ndarray:
    """Intensities in [0, 1] (beyond it clipped) as 0..255 bytes."""
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def shapes(n: int | None = None, seed: int = 0) -> SyntheticSet:
    """32x32 RGB renderings of 4 shapes (the label) with continuous position, size, rotation and hue.

    Parameters
    ----------
    n : int, optional
        Images (default 3,000), the classes in turn.
    seed : int
        Seed of every random draw.
    """
    n = DEFAULT_N["shapes"] if n is None else n
    _check_n("shapes", n)
    rng = np.random.default_rng(seed)
    S = SIDE
    X, Y = _supersampled_grid()
    labels = np.arange(n) % len(SHAPES)
    rng.shuffle(labels)
    cx = rng.uniform(*CENTRE_PX, n)
    cy = rng.uniform(*CENTRE_PX, n)
    radius = np.exp(rng.uniform(np.log(RADIUS_PX[0]), np.log(RADIUS_PX[1]), n))
    period = np.array([SYMMETRY_DEG[SHAPES[j]] for j in labels])
    rot = rng.uniform(0.0, 1.0, n) * period  # degrees, within the shape's symmetry
    hue = rng.uniform(0.0, 1.0, n)
    background = rng.uniform(0.05, 0.2, n)
    images = np.empty((n, S, S, 3), dtype=np.uint8)
    for i in range(n):
        u, v = _rotate((X - cx[i]) / radius[i], -(Y - cy[i]) / radius[i], rot[i])  # v upwards
        mask = _coverage(_inside(SHAPES[labels[i]], u, v))
        colour = _hsv_to_rgb(hue[i], 0.8, 0.95)
        img = background[i] + mask[..., None] * (colour[None, None] - background[i])
        img += rng.normal(0.0, 0.01, img.shape)
        images[i] = _to_uint8(img)
    folded = np.minimum(rot, period - rot) / (period / 2.0)  # [0, 1]: the same for phi and -phi (a flip)
    latents = np.stack((np.abs(cx - S / 2.0), cy, np.log2(radius), folded), 1)
    raw = np.stack((cx, cy, radius, rot, hue), 1)
    return SyntheticSet("shapes", images, labels.astype(np.int64), SHAPES, latents,
                        ("x_from_midline_px", "y_px", "log2_radius", "rotation_folded"), raw,
                        ("x_px", "y_px", "radius_px", "rotation_deg", "hue"),
                        f"{n:,} 32x32 RGB renderings of {', '.join(SHAPES)} (label), random position, size, "
                        f"rotation, hue (seed {seed})")


def _orientation_bins(folded: np.ndarray, x: np.ndarray, lo: float, hi: float,
                      x_names: tuple[str, str, str]) -> tuple[np.ndarray, tuple[str, ...]]:
    """9 labels: the folded orientation (degrees) in the bins of :data:`ORIENT_BINS_DEG` times ``x`` in 3 equal
    bins of [lo, hi], and their names (``0-30deg-low`` ...)."""
    o_bin = np.digitize(folded, ORIENT_BINS_DEG)
    x_bin = np.clip(((x - lo) / (hi - lo) * 3).astype(int), 0, 2)
    names = tuple(f"{o}deg-{n}" for o in ("0-30", "30-60", "60-90") for n in x_names)
    return (o_bin * 3 + x_bin).astype(np.int64), names


# ------------------------------------------------------------------------------------------------ ellipses
def ellipses(n: int | None = None, seed: int = 0) -> SyntheticSet:
    """32x32 gray renderings of one filled ellipse with two continuous latents: orientation and elongation.

    The ellipse's semi-axes are ``r * sqrt(e)`` and ``r / sqrt(e)`` for an elongation (axis ratio) ``e``
    log-uniform in 1.5..4 and ``r`` log-uniform in 4..7 px; its orientation is uniform in [0, 180) degrees, its
    centre uniform in 12..20 px on both axes, its brightness uniform in 0.6..1 on a background uniform in
    0..0.25 (4x supersampled edges, pixel noise sd 0.01). Labels: the folded orientation in 3 bins (0-30, 30-60,
    60-90 degrees) times log e in 3 equal bins, 9 classes.

    Parameters
    ----------
    n : int, optional
        Images (default 3,000).
    seed : int
        Seed of every random draw.
    """
    n = DEFAULT_N["ellipses"] if n is None else n
    _check_n("ellipses", n)
    rng = np.random.default_rng(seed)
    S = SIDE
    X, Y = _supersampled_grid()
    theta = rng.uniform(0.0, 180.0, n)
    lo, hi = np.log2(ELONGATION[0]), np.log2(ELONGATION[1])
    loge = rng.uniform(lo, hi, n)
    r = np.exp(rng.uniform(np.log(ELLIPSE_RADIUS_PX[0]), np.log(ELLIPSE_RADIUS_PX[1]), n))
    cx, cy = rng.uniform(12.0, 20.0, n), rng.uniform(12.0, 20.0, n)
    fg, bg = rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.25, n)
    images = np.empty((n, S, S), dtype=np.uint8)
    for i in range(n):
        u, v = _rotate(X - cx[i], -(Y - cy[i]), theta[i])  # v upwards: counter-clockwise, as the textures'
        a, b = r[i] * 2.0 ** (loge[i] / 2), r[i] * 2.0 ** (-loge[i] / 2)
        mask = _coverage((u / a) ** 2 + (v / b) ** 2 <= 1.0)
        img = bg[i] + mask * (fg[i] - bg[i]) + rng.normal(0.0, 0.01, (S, S))
        images[i] = _to_uint8(img)
    folded = np.minimum(theta, 180.0 - theta)  # an ellipse is the same after 180 degrees; a flip: 180 - theta
    labels, names = _orientation_bins(folded, loge, lo, hi, ("round", "mid", "long"))
    return SyntheticSet("ellipses", images, labels, names, np.stack((folded, loge), 1),
                        ("orientation_folded_deg", "log2_elongation"), np.stack((theta, 2.0**loge, r, cx, cy, fg, bg), 1),
                        ("orientation_deg", "elongation", "radius_px", "x_px", "y_px", "brightness", "background"),
                        f"{n:,} 32x32 gray ellipses, orientation and elongation (labels: 3x3 bins), seed {seed}")


# ---------------------------------------------------------------------------------------------- textures
def textures(n: int | None = None, seed: int = 0) -> SyntheticSet:
    """32x32 gray oriented band-pass noise with two continuous latents: orientation and spatial frequency.

    Each image is white noise filtered in the Fourier domain by a Gaussian blob (radial sd 0.15 f + 0.3 cycles)
    at +-f (cos theta, sin theta) cycles per image, then standardised to mean 128 and sd 45 (clipped to 0..255).
    theta is uniform in [0, 180) degrees, f log-uniform in 1.5..10 cycles per 32 px. Labels: the folded
    orientation in 3 bins (0-30, 30-60, 60-90 degrees) times log f in 3 equal bins, 9 classes.

    Parameters
    ----------
    n : int, optional
        Images (default 3,000).
    seed : int
        Seed of every random draw.
    """
    n = DEFAULT_N["textures"] if n is None else n
    _check_n("textures", n)
    rng = np.random.default_rng(seed)
    S = SIDE
    fy, fx = np.meshgrid(np.fft.fftfreq(S) * S, np.fft.fftfreq(S) * S, indexing="ij")  # cycles per image
    theta = rng.uniform(0.0, 180.0, n)
    lo, hi = np.log2(FREQ_CYCLES[0]), np.log2(FREQ_CYCLES[1])
    logf = rng.uniform(lo, hi, n)
    freq = 2.0**logf
    images = np.empty((n, S, S), dtype=np.uint8)
    for i in range(n):
        t = np.deg2rad(theta[i])
        kx, ky = freq[i] * np.cos(t), -freq[i] * np.sin(t)  # image rows grow down: the angle is counter-clockwise
        sd = 0.15 * freq[i] + 0.3
        gain = (np.exp(-((fx - kx) ** 2 + (fy - ky) ** 2) / (2 * sd**2))
                + np.exp(-((fx + kx) ** 2 + (fy + ky) ** 2) / (2 * sd**2)))
        noise = np.fft.fft2(rng.normal(size=(S, S)))
        img = np.real(np.fft.ifft2(noise * gain))
        img = (img - img.mean()) / (img.std() + 1e-12)
        images[i] = np.clip(np.rint(128.0 + 45.0 * img), 0, 255).astype(np.uint8)
    folded = np.minimum(theta, 180.0 - theta)  # a horizontal flip maps theta to 180 - theta
    labels, names = _orientation_bins(folded, logf, lo, hi, ("low", "mid", "high"))
    return SyntheticSet("textures", images, labels, names, np.stack((folded, logf), 1),
                        ("orientation_folded_deg", "log2_frequency"), np.stack((theta, freq), 1),
                        ("orientation_deg", "frequency_cycles"),
                        f"{n:,} 32x32 gray oriented band-pass noise textures, orientation and frequency (labels: "
                        f"3x3 bins), seed {seed}")


# ------------------------------------------------------------------------------------------------ digits
def _digits(name: str, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    from urlsom_core.sources import read_digits

    x, y, _ = read_digits()
    _check_n(name, n, len(x))
    rng = np.random.default_rng(seed)
    if n is not None and n < len(x):
        keep = np.sort(rng.permutation(len(x))[:n])
        x, y = x[keep], y[keep]
    return x, y, rng


def digits_noisy(n: int | None = None, seed: int = 0, noise: float = 0.25) -> SyntheticSet:
    """scikit-learn's digits (8x8, 0..255) plus Gaussian noise of sd ``noise`` x 255, clipped.

    Parameters
    ----------
    n : int, optional
        Images, a seeded random subset (default all 1,797).
    seed : int
        Seed of the subset and the noise.
    noise : float
        The noise's sd as a fraction of the 0..255 range.
    """
    x, y, rng = _digits("digits-noisy", n, seed)
    if not (np.isfinite(noise) and noise >= 0):
        raise ConfigError(f"digits-noisy: noise {noise}: allowed is >= 0")
    xn = np.clip(np.rint(x + rng.normal(0.0, noise * 255.0, x.shape)), 0, 255).astype(np.uint8)
    return SyntheticSet("digits-noisy", xn, y, tuple(str(i) for i in range(10)), np.zeros((len(x), 0)), (),
                        np.zeros((len(x), 0)), (),
                        f"{len(x):,} scikit-learn digits with Gaussian noise sd {noise:g} x 255 (seed {seed})")


def digits_inverted(n: int | None = None, seed: int = 0) -> SyntheticSet:
    """scikit-learn's digits with inverted contrast (255 - x): dark strokes on a light background.

    Parameters
    ----------
    n : int, optional
        Images, a seeded random subset (default all 1,797).
    seed : int
        Seed of the subset.
    """
    x, y, _ = _digits("digits-inverted", n, seed)
    return SyntheticSet("digits-inverted", (255 - x).astype(np.uint8), y, tuple(str(i) for i in range(10)),
                        np.zeros((len(x), 0)), (), np.zeros((len(x), 0)), (),
                        f"{len(x):,} scikit-learn digits, contrast inverted (seed {seed})")


GENERATORS: dict[str, Callable[..., SyntheticSet]] = {
    "shapes": shapes, "ellipses": ellipses, "textures": textures, "digits-noisy": digits_noisy, "digits-inverted": digits_inverted,
}


def generate(name: str, n: int | None = None, seed: int = 0) -> SyntheticSet:
    """The set ``name`` (one of :data:`GENERATORS`) of ``n`` images (None: its default), seeded by ``seed``."""
    if name not in GENERATORS:
        raise ConfigError(f"generated set {name!r}: allowed are {', '.join(GENERATORS)}")
    return GENERATORS[name](n=n, seed=seed)


def write_npz(s: SyntheticSet, path: str | Path) -> Path:
    """Write ``s`` as an ``.npz`` the ``npz:PATH`` dataset spec reads (``images``, ``labels``), with the latents
    and names beside them; written atomically, returns the absolute path."""
    from urlsom_core.files import atomic_write

    p = Path(path).resolve()
    p.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"images": s.images, "labels": s.labels, "class_names": np.array(s.class_names, dtype=str),
              "latents": s.latents, "latent_names": np.array(s.latent_names, dtype=str),
              "raw_latents": s.raw_latents, "raw_latent_names": np.array(s.raw_latent_names, dtype=str),
              "about": np.array(s.about)}
    atomic_write(p, lambda fh: np.savez(fh, **arrays))
    return p


def read_latents(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """The scored latents (N, k) and their names from an ``.npz`` of :func:`write_npz`; None when it has none."""
    with np.load(path, allow_pickle=False) as z:
        if "latents" not in z.files or z["latents"].ndim != 2 or z["latents"].shape[1] == 0:
            return None
        names = tuple(str(v) for v in z["latent_names"]) if "latent_names" in z.files else ()
        return np.asarray(z["latents"], dtype=np.float64), names
