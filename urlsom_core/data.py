"""Datasets as uint8 tensors (N, C, S, S) plus int64 labels, held in memory and moved to the device once.

Specs (``DataConfig.dataset``):

=====================  =================================================================================
``digits``             scikit-learn's bundled 1,797 8x8 digits: the embedded default, works offline
``mnist:PATH``         IDX files (``*-images-idx3-ubyte[.gz]`` + labels) in PATH; every split found is used
``cifar10[:ROOT]``     CIFAR-10, train + test (60,000) as in the paper (Sec. V.B: "We used all training and
                       testing data"): torchvision's own files (``ROOT/cifar-10-batches-py/data_batch_1..5``,
                       ``test_batch``; ROOT may be that folder itself) are read directly; only when they are
                       absent does torchvision download them
``svhn[:ROOT]``        SVHN train + test (99,289): ``ROOT/train_32x32.mat`` and ``test_32x32.mat`` are read
                       directly (scipy); only a missing one is downloaded by torchvision; label 10 means 0
``imagefolder:PATH``   torchvision ImageFolder layout, a folder or a .zip of one (class = parent folder);
                       zip tools' metadata (``__MACOSX/``, ``._*`` files) is not read as images
``npz:PATH``           arrays ``images`` (N,H,W) or (N,H,W,C) uint8 and ``labels`` (N,) integers
``A+B``                the images of specs A and B together (any kinds, e.g. ``imagefolder:train.zip+
                       imagefolder:test.zip``); classes are matched by name, in A's order, then B's new ones
=====================  =================================================================================

A download that fails (no network) ends in one line naming the files and where to put them. An image that
cannot be decoded (truncated, not an image, unreadable) stops the load with one line naming the bad files,
unless ``DataConfig.skip_bad_images`` leaves them out (``ImageData.skipped`` lists them).

How images reach the network (``resolve``): channels are kept (1 = gray, 3 = RGB; an alpha channel is
dropped); non-square images are resized on the short side and centre-cropped; every image is resized
once, at load, to ``input_size`` (bilinear, antialiased when shrinking), chosen when not given as 16 for
inputs of at most 16 pixels (8x8 digits are upsampled 2x) and 32 otherwise (the paper's CIFAR size).
Sources of a combined spec with other channel counts are brought to the largest (gray repeated to RGB).
Horizontal flips default off for digit data (digits, mnist, svhn), on otherwise.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .augment import LUMA_WEIGHTS
from .config import ConfigError, DataConfig
from .sources import (
    ImageSource,
    bad_zip_error,
    find_idx,
    read_cifar10,
    read_digits,
    read_mnist,
    read_npz,
    read_svhn,
)

KINDS = ("digits", "mnist", "cifar10", "svhn", "imagefolder", "npz")
DIGIT_KINDS = ("digits", "mnist", "svhn")
BAD_SHOWN = 3  # bad image files named in the error line; all of them go to the run's manifest when skipped
# "+" joins specs only where a known kind follows, so a "+" inside a path stays part of the path
_JOIN = re.compile(r"\+(?=(?:" + "|".join(KINDS) + r")(?::|\+|$))")


@dataclass
class ImageData:
    """Images (N, C, S, S) uint8, labels (N,) int64, class names, where they came from, and the image files
    left out because they could not be read (``skipped``: dicts with ``source``, ``file``, ``reason``)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    skipped: list[dict[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def subset(self, idx: np.ndarray | torch.Tensor, name: str | None = None) -> ImageData:
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return ImageData(self.images[idx], self.labels[idx], self.classes, name or self.name, self.skipped)

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        x = self.images.float() / 255.0
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def split_spec(spec: str) -> list[str]:
    """The single specs of a combined spec: ``'imagefolder:a.zip+imagefolder:b.zip'`` -> both parts.

    ``+`` separates specs only where a known kind follows it; otherwise it belongs to the path."""
    return _JOIN.split(spec)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``'kind[:arg]'`` -> (kind, arg); raises ConfigError for an unknown kind. A combined spec
    (``A+B``) gives the kind and argument of its first part."""
    spec = split_spec(spec)[0]
    kind, sep, arg = spec.partition(":")
    if kind not in KINDS:
        raise ConfigError(f"dataset {spec!r}: unknown kind {kind!r}; allowed are digits, mnist:PATH, cifar10[:ROOT], "
                          "svhn[:ROOT], imagefolder:PATH, npz:PATH, or several joined by '+'")
    if kind in ("mnist", "imagefolder", "npz") and not arg:
        raise ConfigError(f"dataset {spec!r}: {kind} needs a path, e.g. {kind}:PATH")
    if kind == "digits" and sep:
        raise ConfigError(f"dataset {spec!r}: digits takes no argument")
    return kind, (arg or None)


def check_spec(spec: str, data_root: str = "data") -> None:
    """Validate a spec (every part of a combined one) without loading it: kind known, paths present, a
    zip readable as a zip. Raises ConfigError."""
    for part in split_spec(spec):
        kind, arg = parse_spec(part)
        if kind in ("mnist", "imagefolder", "npz"):
            p = Path(arg or "")
            if not p.exists():
                raise ConfigError(f"dataset {part!r}: path {arg} does not exist")
            if kind == "npz" and p.is_dir():
                raise ConfigError(f"dataset {part!r}: {arg} is a folder; allowed is an .npz file")
            if kind == "mnist" and not find_idx(p):
                raise ConfigError(f"dataset {part!r}: no '*-images-idx3-ubyte[.gz]' file with its labels in {arg}")
            if kind == "imagefolder" and p.is_file():
                try:
                    zipfile.ZipFile(p).close()
                except (zipfile.BadZipFile, OSError) as e:
                    raise bad_zip_error(arg or "", e) from None
        if kind in ("cifar10", "svhn") and arg and not Path(arg).exists():
            parent = Path(arg).resolve().parent
            if not parent.exists():
                raise ConfigError(f"dataset {part!r}: root {arg} does not exist and its parent cannot hold a download")


def is_digit_data(spec: str) -> bool:
    """True when every part of ``spec`` is digit data (digits, mnist, svhn): no horizontal flips by default."""
    return all(parse_spec(part)[0] in DIGIT_KINDS for part in split_spec(spec))


# ------------------------------------------------------------------------------------------ preparation
def balanced_subset(y: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of a class-balanced random subset of size about ``n`` (n // K per class), sorted."""
    if not n or n >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = max(1, n // len(classes))
    idx = [rng.permutation(np.flatnonzero(y == c))[:per] for c in classes]
    return np.sort(np.concatenate(idx))


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices with ``fraction`` of every class held out (scikit-learn, seeded).

    Raises ConfigError when the images cannot be split so: a class with one image, or fewer images on either
    side than there are classes (scikit-learn holds out ``ceil(fraction * N)``)."""
    from sklearn.model_selection import train_test_split

    classes, counts = np.unique(y, return_counts=True)
    n_out = math.ceil(fraction * len(y))
    fewest = int(counts.min()) if counts.size else 0
    if fewest < 2 or min(n_out, len(y) - n_out) < len(classes):
        raise ConfigError(f"holdout {fraction:g} of {len(y):,} images in {len(classes)} classes (fewest "
                          f"{fewest} of one class): allowed is a split with at least 2 images of every "
                          f"class and {len(classes)} on each side; take more images (subset) or holdout 0")
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=fraction, random_state=seed, stratify=y)
    return np.sort(tr), np.sort(te)


def default_input_size(native: int) -> int:
    return 16 if native <= 16 else 32


def _resize_nhwc(t: torch.Tensor, size: int) -> torch.Tensor:
    """(N, H, W, C) uint8 -> (N, C', size, size) uint8 with C' in {1, 3}."""
    c = t.shape[-1]
    if c == 4:
        t = t[..., :3]
    elif c == 2:
        t = t[..., :1]
    elif c not in (1, 3):
        raise ConfigError(f"images with {c} channels: allowed are 1 (gray), 3 (RGB) or 4 (RGBA, alpha dropped)")
    x = t.permute(0, 3, 1, 2)
    N, C, H, W = x.shape
    if H == W == size:
        return x.contiguous()
    xf = x.float()
    if H != W:  # short side to size, then centre crop
        s = size / min(H, W)
        nh, nw = max(size, round(H * s)), max(size, round(W * s))
        xf = F.interpolate(xf, size=(nh, nw), mode="bilinear", align_corners=False, antialias=s < 1)
        top, left = (nh - size) // 2, (nw - size) // 2
        xf = xf[:, :, top : top + size, left : left + size]
    else:
        xf = F.interpolate(xf, size=(size, size), mode="bilinear", align_corners=False, antialias=size < H)
    return xf.round().clamp(0, 255).to(torch.uint8).contiguous()


def to_input_size(x: list[np.ndarray] | np.ndarray, size: int) -> torch.Tensor:
    """Images as the network gets them at load: (N, C, size, size) uint8, C in {1, 3}.

    ``x`` is one uint8 array (N, H, W) or (N, H, W, C), or a list of (H, W, C) arrays of any sides (decoded
    files), resized group by group of one shape; a list mixing gray and colour images is brought to colour.
    An alpha channel is dropped; non-square images are resized on the short side and centre-cropped."""
    if not isinstance(x, list):
        arr = x if x.ndim == 4 else x[..., None]
        return _resize_nhwc(torch.from_numpy(np.ascontiguousarray(arr)), size)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, a in enumerate(x):
        groups.setdefault(a.shape, []).append(i)
    parts = {}
    for shape, idx in groups.items():
        parts[shape] = (idx, _resize_nhwc(torch.from_numpy(np.stack([x[i] for i in idx])), size))
    chans = max(p[1].shape[1] for p in parts.values())
    images = torch.empty(len(x), chans, size, size, dtype=torch.uint8)
    for idx, t in parts.values():
        images[torch.as_tensor(idx)] = t.expand(-1, chans, -1, -1) if t.shape[1] != chans else t
    return images


def _source(spec: str, cfg: DataConfig) -> tuple[np.ndarray | ImageSource, np.ndarray, list[str]]:
    """One single spec's images (an array, or a folder indexed but not decoded), labels and class names."""
    kind, arg = parse_spec(spec)
    if kind == "digits":
        return read_digits()
    if kind == "mnist":
        return read_mnist(arg or "")
    if kind == "cifar10":
        return read_cifar10(spec, arg or os.path.join(cfg.data_root, "cifar10"))
    if kind == "svhn":
        return read_svhn(spec, arg or os.path.join(cfg.data_root, "svhn"))
    if kind == "npz":
        return read_npz(arg or "")
    folder = ImageSource(arg or "")
    return folder, folder.labels, folder.classes


# Sizes of the datasets whose files are fetched on first use: ``describe`` reads nothing (no download) for them.
KNOWN_SHAPES = {"cifar10": (60000, 32, 3), "svhn": (99289, 32, 3)}
PEEKED_FILES = 16  # image files of a folder whose headers give its side and channels


@dataclass(frozen=True)
class DataShape:
    """What the defaults rule (``defaults.auto_defaults``) needs to know of the training images."""

    n_images: int
    size: int
    channels: int


def describe(cfg: DataConfig) -> DataShape:
    """The number of training images (after ``subset`` and ``holdout``), their native side (the longer one)
    and channels (1 or 3, as the load gives them), without decoding a folder's images: its side and channels
    come from the headers of its first ``PEEKED_FILES`` readable files. CIFAR-10 and SVHN are not read
    (``KNOWN_SHAPES``). Raises ConfigError for a bad spec, like ``load_dataset``."""
    check_spec(cfg.dataset, cfg.data_root)
    n, size, chans = 0, 0, 1
    for spec in split_spec(cfg.dataset):
        kind, _ = parse_spec(spec)
        if kind in KNOWN_SHAPES:
            k, s, c = KNOWN_SHAPES[kind]
        else:
            x, y, _ = _source(spec, cfg)
            k = len(y)
            if isinstance(x, ImageSource):
                seen = [p for p in (x.peek(i) for i in range(min(len(x.members), 4 * PEEKED_FILES))) if p][:PEEKED_FILES]
                s, c = max((p[0] for p in seen), default=0), max((p[1] for p in seen), default=1)
            else:
                s, c = native_size(x), 1 if x.ndim == 3 or x.shape[3] <= 2 else 3
        n, size, chans = n + k, max(size, s), max(chans, c)
    if cfg.subset and n > cfg.subset:
        n = cfg.subset
    n -= math.ceil(cfg.holdout * n) if cfg.holdout > 0 else 0
    if cfg.invert_copy:  # about invert_fraction * n inverted copies (drawn at random in resolve)
        n += round(cfg.invert_fraction * n)
    return DataShape(n, size, chans)


def native_size(x: list[np.ndarray] | np.ndarray) -> int:
    if isinstance(x, list):
        return max(max(a.shape[0], a.shape[1]) for a in x)
    return max(x.shape[1], x.shape[2])


def _bad_files_error(spec: str, bad: list[dict[str, str]], n_read: int) -> ConfigError:
    shown = ", ".join(f"{b['file']}: {b['reason']}" for b in bad[:BAD_SHOWN]) + (", ..." if len(bad) > BAD_SHOWN else "")
    return ConfigError(f"dataset {spec}: {len(bad)} of {n_read} image files cannot be read ({shown}); fix or remove "
                       "them, or pass --skip-bad-images (data.skip_bad_images) to train without them")


def load_dataset(spec: str, cfg: DataConfig, subset: int | None = None, input_size: int | None = None) -> ImageData:
    """Load ``spec`` as uint8 (N, C, S, S) at ``input_size`` (auto when None), class-balanced ``subset``.

    A combined spec (``A+B``) loads every part, numbers the classes by name (A's classes in A's order, then
    those only B has), and takes the subset from the whole. Image files are decoded only when chosen; one
    that cannot be decoded raises ConfigError naming it, or with ``cfg.skip_bad_images`` is left out and
    listed in ``ImageData.skipped``.
    """
    check_spec(spec, cfg.data_root)
    specs = split_spec(spec)
    sources = [_source(s, cfg) for s in specs]
    classes: list[str] = []
    for _, _, cls in sources:
        classes += [c for c in cls if c not in classes]
    ys = [np.array([classes.index(c) for c in cls], dtype=np.int64)[y] for _, y, cls in sources]
    y = np.concatenate(ys)
    keep = balanced_subset(y, subset, cfg.split_seed) if subset and len(y) > subset else None
    decode_size = cfg.input_size or 32
    starts = np.cumsum([0] + [len(v) for v in ys])
    xs: list[np.ndarray | list[np.ndarray]] = []
    labels: list[np.ndarray] = []
    bad: list[dict[str, str]] = []
    n_read = 0
    for s, (x, _, _), y_part, lo, hi in zip(specs, sources, ys, starts[:-1], starts[1:], strict=True):
        local = np.arange(hi - lo) if keep is None else keep[(keep >= lo) & (keep < hi)] - lo
        if isinstance(x, ImageSource):
            imgs, ok = [], []
            for i in local:
                a, why = x.decode(int(i), decode_size)
                if a is None:
                    bad.append({"source": s, "file": x.members[i] if len(specs) == 1 else f"{x.arg}:{x.members[i]}",
                                "reason": str(why)})
                else:
                    imgs.append(a)
                    ok.append(i)
            n_read += len(local)
            xs.append(imgs)
            labels.append(y_part[np.asarray(ok, dtype=np.int64)])
        else:
            xs.append(x if keep is None else x[local])
            labels.append(y_part[local])
    if bad and not cfg.skip_bad_images:
        raise _bad_files_error(spec, bad, n_read)
    y = np.concatenate(labels)
    if len(y) == 0:
        raise ConfigError(f"dataset {spec}: no readable images ({len(bad)} bad files skipped)")
    if len(xs) == 1 and isinstance(xs[0], np.ndarray):
        x_all: list[np.ndarray] | np.ndarray = xs[0]
    else:  # folders, or several sources: one list of (H, W[, C]) images, grouped by shape below
        x_all = [a if a.ndim == 3 else a[:, :, None] for part in xs for a in part]
    size = input_size or cfg.input_size or default_input_size(native_size(x_all))
    images = to_input_size(x_all, size)
    data = ImageData(images, torch.from_numpy(np.asarray(y, dtype=np.int64)), classes, spec)
    if cfg.invert_fraction > 0 and not cfg.invert_copy:  # copies are added in resolve, after the split
        data = invert_some(data, cfg.invert_fraction, cfg.split_seed)
    data.skipped = bad
    return data


def invert_some(data: ImageData, fraction: float, seed: int, copy: bool = False) -> ImageData:
    """Contrast-invert a random ``fraction`` of images (255 - x): digits that mimic SVHN's light-on-dark
    and dark-on-light numbers (paper Sec. V.D, Fig. 8). ``copy``: append the inverted images after all
    the originals instead of replacing them (``fraction`` 1: every image in both contrasts)."""
    rng = np.random.default_rng(seed + 7919)
    flip = torch.from_numpy(rng.random(len(data)) < fraction)
    if copy:
        images = torch.cat((data.images, 255 - data.images[flip]))
        labels = torch.cat((data.labels, data.labels[flip]))
        return ImageData(images, labels, data.classes, data.name + f" (+{int(flip.sum())} inverted copies)",
                         list(data.skipped))
    images = data.images.clone()
    images[flip] = 255 - images[flip]
    return ImageData(images, data.labels, data.classes, data.name + f" ({fraction:.0%} inverted)")


def inverted_copies(data: ImageData, cfg: DataConfig, held_out: bool = False) -> ImageData:
    """``data`` with the contrast-inverted copies that ``cfg.invert_copy`` asks for (``data`` itself when it
    asks for none); held-out data draws its copies with a seed of its own."""
    if not cfg.invert_copy:
        return data
    return invert_some(data, cfg.invert_fraction, cfg.split_seed + int(held_out), copy=True)


@dataclass
class Splits:
    """What a run trains on and what it scores on, and the image files left out as unreadable (``skipped``,
    training data first; empty unless ``DataConfig.skip_bad_images``)."""

    train: ImageData
    heldout: ImageData | None
    input_size: int
    flip: bool
    skipped: list[dict[str, str]] = field(default_factory=list)


def resolve(cfg: DataConfig) -> Splits:
    """Load the training data (and held-out data, from ``holdout`` or ``eval_dataset``) as the config says."""
    train = load_dataset(cfg.dataset, cfg, cfg.subset)
    skipped = list(train.skipped)
    size = int(train.images.shape[-1])
    heldout = None
    if cfg.holdout > 0:
        tr, te = stratified_split(train.labels.numpy(), cfg.holdout, cfg.split_seed)
        train, heldout = train.subset(tr, train.name + " (train part)"), train.subset(te, train.name + " (held out)")
    elif cfg.eval_dataset:
        heldout = load_dataset(cfg.eval_dataset, cfg, cfg.eval_subset, input_size=size)
        skipped += heldout.skipped
        heldout = align_classes(match_channels(heldout, train.channels), train.classes)
    train = inverted_copies(train, cfg)  # after the split: an image and its copy stay on the same side
    heldout = heldout and inverted_copies(heldout, cfg, held_out=True)
    flip = cfg.flip if cfg.flip is not None else not is_digit_data(cfg.dataset)
    return Splits(train, heldout, size, flip, skipped)



def align_classes(d: ImageData, classes: list[str]) -> ImageData:
    """``d`` with its labels numbered as in ``classes`` (the training data's), matched by class name, so that
    a neuron's label and a held-out sample's label mean the same class even where the two datasets number
    them apart (an ImageFolder missing a class folder, npz files with other label values). Classes that
    ``classes`` lacks get indices after its own: such samples can never match a neuron's label."""
    if list(d.classes) == list(classes):
        return d
    names = list(classes) + [c for c in d.classes if c not in classes]
    lookup = torch.tensor([names.index(c) for c in d.classes], dtype=torch.int64)
    return ImageData(d.images, lookup[d.labels], names, d.name)


def match_channels(d: ImageData, c: int) -> ImageData:
    if d.channels == c:
        return d
    if c == 3 and d.channels == 1:
        return ImageData(d.images.expand(-1, 3, -1, -1).contiguous(), d.labels, d.classes, d.name)
    gray = (d.images.float() * torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)).sum(1, keepdim=True)  # (N, 1, H, W)
    return ImageData(gray.round().clamp(0, 255).to(torch.uint8), d.labels, d.classes, d.name)
