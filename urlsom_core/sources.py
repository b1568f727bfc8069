"""Readers of the on-disk formats behind the dataset specs of :mod:`urlsom_core.data`.

scikit-learn's digits, MNIST's IDX files, torchvision's CIFAR-10 python batches (read by a restricted
unpickler that allows only arrays and bytes) and SVHN's ``.mat`` files (downloaded by torchvision only when
absent; a failed download is one line naming the files and where to put them), ``.npz`` files, and image
folders or ``.zip`` files of them, whose images are decoded and checked one by one (truncated, not an image,
unreadable). Every reader returns ``(images, labels, class names)`` as numpy arrays; :mod:`urlsom_core.data`
turns them into resident tensors.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError

GRAY_MODES = ("L", "1", "I;16", "I", "F")  # PIL modes read as one channel; every other mode becomes RGB
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")


def why(e: BaseException) -> str:
    """``'TypeName: first line of the message'``, for one-line errors."""
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0]}" if msg else type(e).__name__


def bad_zip_error(arg: str, e: BaseException) -> ConfigError:
    return ConfigError(f"dataset imagefolder:{arg}: not a readable .zip ({why(e)}); allowed is a folder or a .zip "
                       "of one")


def read_digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
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


def find_idx(root: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for img in sorted(root.glob("*images-idx3-ubyte*")):
        lab = img.parent / img.name.replace("images-idx3", "labels-idx1")
        if lab.exists():
            pairs.append((img, lab))
    return pairs


def read_mnist(root: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    xs, ys = [], []
    for img, lab in find_idx(Path(root)):
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
        raise ConfigError(f"{hint} (the download failed: {why(e)})") from None


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
        raise ConfigError(f"dataset {spec}: {path} is not a CIFAR-10 python batch ({why(e)}); allowed is "
                          "torchvision's cifar-10-batches-py file, a pickled dict with 'data' and 'labels'") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise ConfigError(f"dataset {spec}: {path}: data {data.dtype} {data.shape} with {len(labels)} labels; allowed "
                          "is uint8 N x 3072 (3 x 32 x 32, channels first) with N labels")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_cifar10(spec: str, root: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
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
            raise ConfigError(f"dataset {spec}: {meta} is not CIFAR-10's batches.meta ({why(e)})") from None
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
        raise ConfigError(f"dataset {spec}: cannot read {path} as SVHN's .mat ({why(e)}); allowed is a MATLAB "
                          "file with X (32 x 32 x 3 x N uint8) and y (N labels 1..10)") from None
    if X.ndim != 4 or X.shape[2] != 3 or X.shape[3] != y.size:
        raise ConfigError(f"dataset {spec}: {path}: X {X.shape} with {y.size} labels; allowed is X 32 x 32 x 3 x N "
                          "with N labels")
    x = np.transpose(X, (3, 0, 1, 2))  # (32, 32, 3, N) -> (N, 32, 32, 3)
    y = y.astype(np.int64)
    y[y == 10] = 0  # SVHN writes digit 0 as label 10
    return np.ascontiguousarray(x.astype(np.uint8)), y


def read_svhn(spec: str, root: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
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


def read_npz(path: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
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


class ImageSource:
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
                raise bad_zip_error(arg, e) from None
            files = sorted(n for n in self.zf.namelist() if os.path.splitext(n)[1].lower() in IMAGE_EXT
                           and not n.endswith("/"))
        self.members = [f for f in files if not _is_metadata(f)]
        if not self.members:
            raise ConfigError(f"dataset imagefolder:{arg}: no image files ({', '.join(IMAGE_EXT)}) found")
        names = [Path(f).parent.name for f in self.members]
        self.classes = sorted(set(names))
        self.labels = np.array([self.classes.index(c) for c in names], dtype=np.int64)

    def peek(self, i: int) -> tuple[int, int] | None:
        """Image ``i``'s longer side and channels (1 or 3, as ``decode`` gives them) from its header alone,
        or None when the file cannot be opened as an image."""
        from PIL import Image

        try:
            data = io.BytesIO(self.zf.read(self.members[i])) if self.zf else self.root / self.members[i]  # type: ignore[operator]
            with Image.open(data) as im:
                return max(im.size), 1 if im.mode in GRAY_MODES else 3
        except Exception:  # noqa: BLE001 - a bad file is reported by the load itself, with its reason
            return None

    def decode(self, i: int, size: int) -> tuple[np.ndarray | None, str | None]:
        """Image ``i`` as (H, W, C) uint8, or (None, why it cannot be read)."""
        name = self.members[i]
        try:
            data: bytes | str = self.zf.read(name) if self.zf else str(self.root / name)  # type: ignore[operator]
        except Exception as e:  # noqa: BLE001 - a bad zip member (CRC, compression) is one bad file
            return None, f"unreadable ({why(e)})"
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
        return None, f"unreadable {fmt} ({why(e)})"


def _to_array(im: Any, size: int) -> np.ndarray:
    from PIL import Image

    im = im.convert("L") if im.mode in GRAY_MODES else im.convert("RGB")
    w, h = im.size
    if max(w, h) > size:  # shrink here with PIL's antialiasing, keeps memory bounded for large photos
        s = size / min(w, h)
        im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    return a if a.ndim == 3 else a[:, :, None]
