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

import gzip
import io
import os
import pickle
import re
import shutil
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .config import ConfigError, DataConfig

KINDS = ("digits", "mnist", "cifar10", "svhn", "imagefolder", "npz")
DIGIT_KINDS = ("digits", "mnist", "svhn")
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
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


def _why(e: BaseException) -> str:
    """``'TypeName: first line of the message'``, for one-line errors."""
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0]}" if msg else type(e).__name__


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


def _bad_zip(arg: str, e: BaseException) -> ConfigError:
    return ConfigError(f"dataset imagefolder:{arg}: not a readable .zip ({_why(e)}); allowed is a folder or a .zip "
                       "of one")


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
            if kind == "mnist" and not _find_idx(p):
                raise ConfigError(f"dataset {part!r}: no '*-images-idx3-ubyte[.gz]' file with its labels in {arg}")
            if kind == "imagefolder" and p.is_file():
                try:
                    zipfile.ZipFile(p).close()
                except (zipfile.BadZipFile, OSError) as e:
                    raise _bad_zip(arg or "", e) from None
        if kind in ("cifar10", "svhn") and arg and not Path(arg).exists():
            parent = Path(arg).resolve().parent
            if not parent.exists():
                raise ConfigError(f"dataset {part!r}: root {arg} does not exist and its parent cannot hold a download")


def is_digit_data(spec: str) -> bool:
    """True when every part of ``spec`` is digit data (digits, mnist, svhn): no horizontal flips by default."""
    return all(parse_spec(part)[0] in DIGIT_KINDS for part in split_spec(spec))


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


def _download(root: Path, fetch: Callable[[], None], hint: str) -> None:
    """Run ``fetch`` (a torchvision download into ``root``); on any failure remove what it left behind
    (``root`` and the folders above it that it created, or the new entries of an existing ``root``) and
    raise ConfigError(``hint`` + why), so that no traceback and no partial download remain."""
    top = root
    while not top.parent.exists():
        top = top.parent
    existed = root.exists()
    before = set(root.iterdir()) if existed else set()
    try:
        fetch()
    except Exception as e:  # noqa: BLE001 - any failed download (URLError, OSError, a bad checksum) is one line
        if not existed:
            shutil.rmtree(top if top.exists() else root, ignore_errors=True)
        else:
            for p in set(root.iterdir()) - before:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        raise ConfigError(f"{hint} (the download failed: {_why(e)})") from None


class _BatchUnpickler(pickle.Unpickler):
    """CIFAR-10's batches hold dicts, lists, bytes and numpy arrays: refuse anything else a pickle could run."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "numpy" and name in ("_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"):
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 writes bytes from Python 3
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")


def _cifar_batch(spec: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            d = _BatchUnpickler(fh, encoding="latin1").load()
        data = np.asarray(d.get("data", d.get(b"data")))
        labels = np.asarray(d.get("labels", d.get(b"labels")), dtype=np.int64).reshape(-1)
    except Exception as e:  # noqa: BLE001 - any unreadable batch gets the same clear message
        raise ConfigError(f"dataset {spec}: {path} is not a CIFAR-10 python batch ({_why(e)}); allowed is "
                          "torchvision's cifar-10-batches-py file, a pickled dict with 'data' and 'labels'") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ConfigError(f"dataset {spec}: {path}: data {data.dtype} {data.shape} with {len(labels)} labels; allowed "
                          "is uint8 N x 3072 (3 x 32 x 32, channels first) with N labels")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _cifar10(spec: str, root: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """CIFAR-10 from torchvision's python batches in ``root/cifar-10-batches-py`` (or ``root`` itself):
    train + test, in file order. Downloads (torchvision) only when a batch file is missing."""
    r = Path(root)
    inside = (r / "data_batch_1").exists() or r.name == "cifar-10-batches-py"
    folder, dl_root = (r, r.parent) if inside else (r / "cifar-10-batches-py", r)
    missing = [f for f in CIFAR10_FILES if not (folder / f).is_file()]
    if missing:
        what = (f"no CIFAR-10 files in {root}" if len(missing) == len(CIFAR10_FILES)
                else f"{folder} lacks {', '.join(missing)}")
        hint = (f"dataset {spec}: {what}; put torchvision's cifar-10-batches-py/ (data_batch_1..5, test_batch) "
                f"{'there' if dl_root == r else 'in ' + str(dl_root)}, or run once online to download them")

        def fetch() -> None:
            from torchvision.datasets import CIFAR10
            from torchvision.datasets import utils as tvu

            tvu.download_and_extract_archive(CIFAR10.url, str(dl_root), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)

        _download(dl_root, fetch, hint)
        folder = dl_root / "cifar-10-batches-py"
    parts = [_cifar_batch(spec, folder / f) for f in CIFAR10_FILES]
    classes = list(CIFAR10_CLASSES)
    meta = folder / "batches.meta"
    if meta.is_file():
        try:
            with open(meta, "rb") as fh:
                m = _BatchUnpickler(fh, encoding="latin1").load()
            names = m.get("label_names", m.get(b"label_names"))
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        except Exception as e:  # noqa: BLE001
            raise ConfigError(f"dataset {spec}: {meta} is not CIFAR-10's batches.meta ({_why(e)})") from None
    y = np.concatenate([p[1] for p in parts])
    if y.size and (y.min() < 0 or y.max() >= len(classes)):
        raise ConfigError(f"dataset {spec}: labels {y.min()}..{y.max()} in {folder}; allowed are 0..{len(classes) - 1}")
    return np.concatenate([p[0] for p in parts]), y, classes


def _load_svhn_mat(spec: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    try:
        m = loadmat(str(path))
        X, y = m["X"], np.asarray(m["y"]).reshape(-1)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ConfigError(f"dataset {spec}: cannot read {path} as SVHN's .mat ({_why(e)}); allowed is a MATLAB "
                          "file with X (32 x 32 x 3 x N uint8) and y (N labels 1..10)") from None
    if X.ndim != 4 or X.shape[2] != 3 or X.shape[3] != y.size:
        raise ConfigError(f"dataset {spec}: {path}: X {X.shape} with {y.size} labels; allowed is X 32 x 32 x 3 x N "
                          "with N labels")
    x = np.transpose(X, (3, 0, 1, 2))  # (32, 32, 3, N) -> (N, 32, 32, 3)
    y = y.astype(np.int64)
    y[y == 10] = 0  # SVHN writes digit 0 as label 10
    return np.ascontiguousarray(x.astype(np.uint8)), y


def _svhn(spec: str, root: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """SVHN train + test from ``root/{train,test}_32x32.mat``; torchvision downloads only a missing file."""
    r = Path(root)
    missing = [f for f in SVHN_FILES if not (r / f).is_file()]
    if missing:
        what = f"no SVHN files in {root}" if len(missing) == len(SVHN_FILES) else f"{root} lacks {missing[0]}"
        hint = (f"dataset {spec}: {what}; put SVHN's train_32x32.mat and test_32x32.mat "
                "(http://ufldl.stanford.edu/housenumbers/) there, or run once online to download them")

        def fetch() -> None:
            from torchvision.datasets import SVHN
            from torchvision.datasets import utils as tvu

            for f in missing:
                url, name, md5 = SVHN.split_list[f.split("_")[0]]
                tvu.download_url(url, str(r), filename=name, md5=md5)

        _download(r, fetch, hint)
    xs, ys = zip(*(_load_svhn_mat(spec, r / f) for f in SVHN_FILES), strict=True)
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
    if x.ndim == 4 and x.shape[3] not in (1, 2, 3, 4):
        if x.shape[1] in (1, 3, 4):
            raise ConfigError(f"dataset npz:{path}: images {x.shape} look channels-first (N, {x.shape[1]}, H, W); "
                              "allowed is N x H x W [x C] channels-last, transpose with images.transpose(0, 2, 3, 1)")
        raise ConfigError(f"dataset npz:{path}: images {x.shape} with {x.shape[3]} channels; allowed are 1 (gray), "
                          "3 (RGB) or 4 (RGBA, alpha dropped) on the last axis")
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise ConfigError(f"dataset npz:{path}: labels {y.dtype} {y.shape}; allowed is {len(x)} integers")
    # Any integers (e.g. 3 and 7, or -1): numbered 0..K-1 in sorted order; the original values name the classes.
    values, index = np.unique(y, return_inverse=True)
    return x, index.astype(np.int64), [str(v) for v in values.tolist()]


def _is_metadata(name: str) -> bool:
    """Files that zip tools and macOS add beside images (``__MACOSX/``, AppleDouble ``._x.jpg``)."""
    parts = name.replace("\\", "/").split("/")
    return "__MACOSX" in parts or parts[-1].startswith("._")


class _Folder:
    """An ImageFolder tree (a folder or a .zip of one), indexed without decoding: sorted members, class =
    the image's parent folder, classes sorted by name (torchvision's ImageFolder order)."""

    def __init__(self, arg: str):
        self.arg = arg
        path = Path(arg)
        self.zf: zipfile.ZipFile | None = None
        if path.is_dir():
            self.root: Path | None = path
            files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*")
                           if p.suffix.lower() in IMAGE_EXT and p.is_file())
        else:
            self.root = None
            try:
                self.zf = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as e:
                raise _bad_zip(arg, e) from None
            files = sorted(n for n in self.zf.namelist() if os.path.splitext(n)[1].lower() in IMAGE_EXT
                           and not n.endswith("/"))
        self.members = [f for f in files if not _is_metadata(f)]
        if not self.members:
            raise ConfigError(f"dataset imagefolder:{arg}: no image files ({', '.join(IMAGE_EXT)}) found")
        names = [Path(f).parent.name for f in self.members]
        self.classes = sorted(set(names))
        self.labels = np.array([self.classes.index(c) for c in names], dtype=np.int64)

    def decode(self, i: int, size: int) -> tuple[np.ndarray | None, str | None]:
        """Image ``i`` as (H, W, C) uint8, or (None, why it cannot be read)."""
        name = self.members[i]
        try:
            data: bytes | str = self.zf.read(name) if self.zf else str(self.root / name)  # type: ignore[operator]
        except Exception as e:  # noqa: BLE001 - a bad zip member (CRC, compression) is one bad file
            return None, f"unreadable ({_why(e)})"
        return _decode_checked(data, size, name)


def _decode_checked(data: bytes | str, size: int, name: str = "") -> tuple[np.ndarray | None, str | None]:
    """Decode one image file (bytes or a path; ``name`` gives its extension): (array, None), or (None, the
    reason): ``truncated JPEG`` (any format), ``not an image`` (PIL does not recognise it), or
    ``unreadable (error)``."""
    from PIL import Image, UnidentifiedImageError

    ext = os.path.splitext(name or (data if isinstance(data, str) else ""))[1].lower().lstrip(".")
    fmt = {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF"}.get(ext, ext.upper() or "image")
    try:
        im = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        fmt = im.format or fmt
        im.load()
        return _to_array(im, size), None
    except UnidentifiedImageError:
        return None, "not an image"
    except Exception as e:  # noqa: BLE001 - permission, I/O, decompression-bomb guard: the file is unusable
        if "truncat" in str(e).lower() or isinstance(e, EOFError):
            return None, f"truncated {fmt}"
        return None, f"unreadable {fmt} ({_why(e)})"


def _to_array(im: Any, size: int) -> np.ndarray:
    from PIL import Image

    im = im.convert("L") if im.mode in ("L", "1", "I;16", "I", "F") else im.convert("RGB")
    w, h = im.size
    if max(w, h) > size:  # shrink here with PIL's antialiasing, keeps memory bounded for large photos
        s = size / min(w, h)
        im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    return a if a.ndim == 3 else a[:, :, None]


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


def _source(spec: str, cfg: DataConfig) -> tuple[np.ndarray | _Folder, np.ndarray, list[str]]:
    """One single spec's images (an array, or a folder indexed but not decoded), labels and class names."""
    kind, arg = parse_spec(spec)
    if kind == "digits":
        return _digits()
    if kind == "mnist":
        return _mnist(arg or "")
    if kind == "cifar10":
        return _cifar10(spec, arg or os.path.join(cfg.data_root, "cifar10"))
    if kind == "svhn":
        return _svhn(spec, arg or os.path.join(cfg.data_root, "svhn"))
    if kind == "npz":
        return _npz(arg or "")
    folder = _Folder(arg or "")
    return folder, folder.labels, folder.classes


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
        if isinstance(x, _Folder):
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
    if isinstance(x_all, list):
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, a in enumerate(x_all):
            groups.setdefault(a.shape, []).append(i)
        parts = {}
        for shape, idx in groups.items():
            parts[shape] = (idx, _resize_nhwc(torch.from_numpy(np.stack([x_all[i] for i in idx])), size))
        chans = max(p[1].shape[1] for p in parts.values())
        images = torch.empty(len(x_all), chans, size, size, dtype=torch.uint8)
        for idx, t in parts.values():
            images[torch.as_tensor(idx)] = t.expand(-1, chans, -1, -1) if t.shape[1] != chans else t
    else:
        arr = x_all if x_all.ndim == 4 else x_all[..., None]
        images = _resize_nhwc(torch.from_numpy(np.ascontiguousarray(arr)), size)
    data = ImageData(images, torch.from_numpy(np.asarray(y, dtype=np.int64)), classes, spec)
    if cfg.invert_fraction > 0:
        data = invert_some(data, cfg.invert_fraction, cfg.split_seed)
    data.skipped = bad
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
        heldout = align_classes(_match_channels(heldout, train.channels), train.classes)
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


def _match_channels(d: ImageData, c: int) -> ImageData:
    if d.channels == c:
        return d
    if c == 3 and d.channels == 1:
        return ImageData(d.images.expand(-1, 3, -1, -1).contiguous(), d.labels, d.classes, d.name)
    gray = (d.images.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return ImageData(gray.round().clamp(0, 255).to(torch.uint8), d.labels, d.classes, d.name)
