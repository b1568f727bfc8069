"""Datasets as uint8 tensors (N, C, S, S) plus int64 labels, held in memory and moved to the device once.

Specs (``DataConfig.dataset``):

=====================  =================================================================================
``digits``             scikit-learn's bundled 1,797 8x8 digits: the embedded default, works offline
``mnist:PATH``         IDX files (``*-images-idx3-ubyte[.gz]`` + labels) in PATH; every split found is used
``cifar10[:ROOT]``     torchvision CIFAR-10, train + test (60,000) as in the paper; downloads when online
``svhn[:ROOT]``        SVHN train + test (99,289); ``train_32x32.mat``/``test_32x32.mat`` already in ROOT
                       are read directly (scipy), else torchvision downloads them; label 10 means digit 0
``imagefolder:PATH``   torchvision ImageFolder layout, a folder or a .zip of one (class = parent folder)
``npz:PATH``           arrays ``images`` (N,H,W) or (N,H,W,C) uint8 and ``labels`` (N,) integers
=====================  =================================================================================

How images reach the network (``resolve``): channels are kept (1 = gray, 3 = RGB; an alpha channel is
dropped); non-square images are resized on the short side and centre-cropped; every image is resized
once, at load, to ``input_size`` (bilinear, antialiased when shrinking), chosen when not given as 16 for
inputs of at most 16 pixels (8x8 digits are upsampled 2x) and 32 otherwise (the paper's CIFAR size).
Horizontal flips default off for digit data (digits, mnist, svhn), on otherwise.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import ConfigError, DataConfig

KINDS = ("digits", "mnist", "cifar10", "svhn", "imagefolder", "npz")
DIGIT_KINDS = ("digits", "mnist", "svhn")
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


@dataclass
class ImageData:
    """Images (N, C, S, S) uint8, labels (N,) int64, class names, and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def subset(self, idx: np.ndarray | torch.Tensor, name: str | None = None) -> ImageData:
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return ImageData(self.images[idx], self.labels[idx], self.classes, name or self.name)

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        x = self.images.float() / 255.0
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``'kind[:arg]'`` -> (kind, arg); raises ConfigError for an unknown kind."""
    kind, sep, arg = spec.partition(":")
    if kind not in KINDS:
        raise ConfigError(f"dataset {spec!r}: unknown kind {kind!r}; allowed are digits, mnist:PATH, cifar10[:ROOT], "
                          "svhn[:ROOT], imagefolder:PATH, npz:PATH")
    if kind in ("mnist", "imagefolder", "npz") and not arg:
        raise ConfigError(f"dataset {spec!r}: {kind} needs a path, e.g. {kind}:PATH")
    if kind == "digits" and sep:
        raise ConfigError(f"dataset {spec!r}: digits takes no argument")
    return kind, (arg or None)


def check_spec(spec: str, data_root: str = "data") -> None:
    """Validate a spec without loading it: kind known, paths present. Raises ConfigError."""
    kind, arg = parse_spec(spec)
    if kind in ("mnist", "imagefolder", "npz"):
        p = Path(arg or "")
        if not p.exists():
            raise ConfigError(f"dataset {spec!r}: path {arg} does not exist")
        if kind == "npz" and p.is_dir():
            raise ConfigError(f"dataset {spec!r}: {arg} is a folder; allowed is an .npz file")
        if kind == "mnist" and not _find_idx(p):
            raise ConfigError(f"dataset {spec!r}: no '*-images-idx3-ubyte[.gz]' file with its labels in {arg}")
    if kind in ("cifar10", "svhn") and arg and not Path(arg).exists():
        parent = Path(arg).resolve().parent
        if not parent.exists():
            raise ConfigError(f"dataset {spec!r}: root {arg} does not exist and its parent cannot hold a download")


def is_digit_data(spec: str) -> bool:
    return parse_spec(spec)[0] in DIGIT_KINDS


# ----------------------------------------------------------------------------------------------- loaders
def _digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.clip(np.round(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)  # (N, 8, 8), 0..16 -> 0..255
    return x, d.target.astype(np.int64), [str(i) for i in range(10)]


def _read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ConfigError(f"{path}: not an IDX uint8 file")
    shape = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find_idx(root: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for img in sorted(root.glob("*images-idx3-ubyte*")):
        lab = img.parent / img.name.replace("images-idx3", "labels-idx1")
        if lab.exists():
            pairs.append((img, lab))
    return pairs


def _mnist(root: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    xs, ys = [], []
    for img, lab in _find_idx(Path(root)):
        xs.append(_read_idx(img))
        ys.append(_read_idx(lab).astype(np.int64))
    return np.concatenate(xs), np.concatenate(ys), [str(i) for i in range(10)]


def _cifar10(root: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from torchvision.datasets import CIFAR10

    present = (Path(root) / "cifar-10-batches-py").exists()
    parts = [CIFAR10(root, train=t, download=not present) for t in (True, False)]
    x = np.concatenate([p.data for p in parts])  # (N, 32, 32, 3)
    y = np.concatenate([np.asarray(p.targets) for p in parts]).astype(np.int64)
    return x, y, list(parts[0].classes)


def _load_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    m = loadmat(str(path))
    x = np.transpose(m["X"], (3, 0, 1, 2))  # (32, 32, 3, N) -> (N, 32, 32, 3)
    y = m["y"].astype(np.int64).reshape(-1)
    y[y == 10] = 0  # SVHN writes digit 0 as label 10
    return np.ascontiguousarray(x.astype(np.uint8)), y


def _svhn(root: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    xs, ys = [], []
    for split in ("train", "test"):
        f = Path(root) / f"{split}_32x32.mat"
        if f.exists():
            x, y = _load_svhn_mat(f)
        else:  # online: torchvision downloads and checks the file, then we read it the same way
            from torchvision.datasets import SVHN

            SVHN(root, split=split, download=True)
            x, y = _load_svhn_mat(f)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys), [str(i) for i in range(10)]


def _npz(path: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ConfigError(f"dataset npz:{path}: cannot read as .npz ({type(e).__name__})") from None
    missing = [k for k in ("images", "labels") if k not in z.files]
    if missing:
        raise ConfigError(f"dataset npz:{path}: missing array(s) {missing}; allowed is an .npz with 'images' and 'labels'")
    x, y = z["images"], z["labels"]
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise ConfigError(f"dataset npz:{path}: images {x.dtype} {x.shape}; allowed is uint8 (N,H,W) or (N,H,W,C)")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"dataset npz:{path}: labels {y.dtype} {y.shape}; allowed is {len(x)} integers")
    # Any integers (e.g. 3 and 7, or -1): numbered 0..K-1 in sorted order; the original values name the classes.
    values, index = np.unique(y, return_inverse=True)
    return x, index.astype(np.int64), [str(v) for v in values.tolist()]


def _folder_members(path: Path) -> tuple[list[tuple[str, str]], zipfile.ZipFile | None]:
    """(member path, class) pairs of an ImageFolder tree, sorted; class = the image's parent folder."""
    if path.is_dir():
        files = [str(p) for p in sorted(path.rglob("*")) if p.suffix.lower() in IMAGE_EXT]
        zf = None
    else:
        zf = zipfile.ZipFile(path)
        files = sorted(n for n in zf.namelist() if os.path.splitext(n)[1].lower() in IMAGE_EXT)
    return [(f, Path(f).parent.name) for f in files], zf


def _decode(data: bytes | str, size: int) -> np.ndarray:
    from PIL import Image

    im = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    im = im.convert("L") if im.mode in ("L", "1", "I;16", "I", "F") else im.convert("RGB")
    w, h = im.size
    if max(w, h) > size:  # shrink here with PIL's antialiasing, keeps memory bounded for large photos
        s = size / min(w, h)
        im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    return a if a.ndim == 3 else a[:, :, None]


def _imagefolder(path: str, size: int, subset: int | None, seed: int) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    members, zf = _folder_members(Path(path))
    if not members:
        raise ConfigError(f"dataset imagefolder:{path}: no image files ({', '.join(IMAGE_EXT)}) found")
    classes = sorted({c for _, c in members})
    y = np.array([classes.index(c) for _, c in members], dtype=np.int64)
    keep = balanced_subset(y, subset, seed) if subset else np.arange(len(y))
    imgs = []
    for i in keep:
        name = members[i][0]
        imgs.append(_decode(zf.read(name) if zf else name, size))
    return imgs, y[keep], classes


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
    """(train, held-out) indices with ``fraction`` of every class held out (scikit-learn, seeded)."""
    from sklearn.model_selection import train_test_split

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


def _raw(spec: str, cfg: DataConfig, subset: int | None) -> tuple[list[np.ndarray] | np.ndarray, np.ndarray, list[str]]:
    kind, arg = parse_spec(spec)
    check_spec(spec, cfg.data_root)
    if kind == "digits":
        return _digits()
    if kind == "mnist":
        return _mnist(arg or "")
    if kind == "cifar10":
        return _cifar10(arg or os.path.join(cfg.data_root, "cifar10"))
    if kind == "svhn":
        return _svhn(arg or os.path.join(cfg.data_root, "svhn"))
    if kind == "npz":
        return _npz(arg or "")
    return _imagefolder(arg or "", cfg.input_size or 32, subset, cfg.split_seed)


def native_size(x: list[np.ndarray] | np.ndarray) -> int:
    if isinstance(x, list):
        return max(max(a.shape[0], a.shape[1]) for a in x)
    return max(x.shape[1], x.shape[2])


def load_dataset(spec: str, cfg: DataConfig, subset: int | None = None, input_size: int | None = None) -> ImageData:
    """Load ``spec`` as uint8 (N, C, S, S) at ``input_size`` (auto when None), class-balanced ``subset``."""
    x, y, classes = _raw(spec, cfg, subset)
    size = input_size or cfg.input_size or default_input_size(native_size(x))
    if subset and len(y) > subset:  # imagefolder subsets before decoding; the rest here
        keep = balanced_subset(y, subset, cfg.split_seed)
        x = [x[i] for i in keep] if isinstance(x, list) else x[keep]
        y = y[keep]
    if isinstance(x, list):
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, a in enumerate(x):
            groups.setdefault(a.shape, []).append(i)
        images = torch.empty(0, dtype=torch.uint8)
        parts = {}
        for shape, idx in groups.items():
            parts[shape] = (idx, _resize_nhwc(torch.from_numpy(np.stack([x[i] for i in idx])), size))
        chans = max(p[1].shape[1] for p in parts.values())
        images = torch.empty(len(x), chans, size, size, dtype=torch.uint8)
        for idx, t in parts.values():
            images[torch.as_tensor(idx)] = t.expand(-1, chans, -1, -1) if t.shape[1] != chans else t
    else:
        arr = x if x.ndim == 4 else x[..., None]
        images = _resize_nhwc(torch.from_numpy(np.ascontiguousarray(arr)), size)
    data = ImageData(images, torch.from_numpy(np.asarray(y, dtype=np.int64)), classes, spec)
    if cfg.invert_fraction > 0:
        data = invert_some(data, cfg.invert_fraction, cfg.split_seed)
    return data


def invert_some(data: ImageData, fraction: float, seed: int) -> ImageData:
    """Contrast-invert a random ``fraction`` of images (255 - x): digits that mimic SVHN's light-on-dark
    and dark-on-light numbers (paper Sec. V.D, Fig. 8)."""
    rng = np.random.default_rng(seed + 7919)
    flip = torch.from_numpy(rng.random(len(data)) < fraction)
    images = data.images.clone()
    images[flip] = 255 - images[flip]
    return ImageData(images, data.labels, data.classes, data.name + f" ({fraction:.0%} inverted)")


@dataclass
class Splits:
    """What a run trains on and what it scores on."""

    train: ImageData
    heldout: ImageData | None
    input_size: int
    flip: bool


def resolve(cfg: DataConfig) -> Splits:
    """Load the training data (and held-out data, from ``holdout`` or ``eval_dataset``) as the config says."""
    train = load_dataset(cfg.dataset, cfg, cfg.subset)
    size = int(train.images.shape[-1])
    heldout = None
    if cfg.holdout > 0:
        tr, te = stratified_split(train.labels.numpy(), cfg.holdout, cfg.split_seed)
        train, heldout = train.subset(tr, train.name + " (train part)"), train.subset(te, train.name + " (held out)")
    elif cfg.eval_dataset:
        heldout = load_dataset(cfg.eval_dataset, cfg, cfg.eval_subset, input_size=size)
        heldout = align_classes(_match_channels(heldout, train.channels), train.classes)
    flip = cfg.flip if cfg.flip is not None else not is_digit_data(cfg.dataset)
    return Splits(train, heldout, size, flip)


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


def _match_channels(d: ImageData, c: int) -> ImageData:
    if d.channels == c:
        return d
    if c == 3 and d.channels == 1:
        return ImageData(d.images.expand(-1, 3, -1, -1).contiguous(), d.labels, d.classes, d.name)
    gray = (d.images.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return ImageData(gray.round().clamp(0, 255).to(torch.uint8), d.labels, d.classes, d.name)
