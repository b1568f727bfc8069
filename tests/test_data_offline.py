"""The paper's data without a network (Sec. V.B: CIFAR-10 and SVHN, "all training and testing data"):
torchvision's own on-disk files are read directly, a missing copy is one line naming the files, and specs
joined by '+' give one dataset (e.g. the shared CIFAR-10 JPEG zips' 50,000 + 10,000)."""

import json
import pickle
import socket
import urllib.error
import zipfile

import numpy as np
import pytest
import torch

from urlsom_book.cli import main
from urlsom_core.config import ConfigError, DataConfig
from urlsom_core.data import load_dataset, resolve, split_spec
from urlsom_core.sources import CIFAR10_CLASSES, CIFAR10_FILES

TINY = ["--grid", "4", "4", "--widths", "4", "--blocks", "1", "--epochs", "1", "--batch-size", "8", "--quiet"]


@pytest.fixture
def offline(monkeypatch):
    """No network: every socket lookup and connection fails; torchvision's download calls are recorded."""
    from torchvision.datasets import utils as tvu

    def refuse(*a, **k):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    calls = []
    for name in ("download_url", "download_and_extract_archive"):
        real = getattr(tvu, name)

        def record(*a, _real=real, _name=name, **k):
            calls.append(_name)
            return _real(*a, **k)

        monkeypatch.setattr(tvu, name, record)
    return calls


def write_cifar(root, n=10, str_keys=False, seed=0):
    """torchvision's CIFAR-10 layout: ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta},
    pickled dicts of N x 3072 uint8 (3 x 32 x 32, channels first) and N labels. Returns (data, labels)."""
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    xs, ys = [], []
    for i, name in enumerate(CIFAR10_FILES):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = [int(v) for v in (np.arange(n) + i) % 10]
        with open(d / name, "wb") as fh:
            pickle.dump({key("batch_label"): key(name), key("data"): x, key("labels"): y}, fh, protocol=2)
        xs.append(x)
        ys += y
    with open(d / "batches.meta", "wb") as fh:
        pickle.dump({key("label_names"): [key(c) for c in CIFAR10_CLASSES], key("num_vis"): 3072}, fh, protocol=2)
    return np.concatenate(xs), np.array(ys)


def write_svhn(root, n_train=40, n_test=20, seed=0):
    """SVHN's .mat files: X 32 x 32 x 3 x N uint8, y N x 1 labels 1..10 (10 means digit 0)."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        X = rng.integers(0, 256, (32, 32, 3, n)).astype(np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)
        savemat(root / f"{split}_32x32.mat", {"X": X, "y": y})


def _cli(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


# --------------------------------------------------------------------------------------------- CIFAR-10
@pytest.mark.parametrize("str_keys", [False, True])
def test_cifar10_python_batches_read_without_network(tmp_path, offline, str_keys):
    x, y = write_cifar(tmp_path, n=4, str_keys=str_keys)
    d = load_dataset(f"cifar10:{tmp_path}", DataConfig())
    assert offline == []
    assert d.images.shape == (24, 3, 32, 32) and d.classes == list(CIFAR10_CLASSES)
    assert d.labels.tolist() == y.tolist()  # train batches 1..5, then the test batch, in file order
    assert torch.equal(d.images[5], torch.from_numpy(x[5].reshape(3, 32, 32)))
    inside = load_dataset(f"cifar10:{tmp_path / 'cifar-10-batches-py'}", DataConfig())  # the folder itself
    assert torch.equal(inside.images, d.images) and offline == []


def test_cli_trains_and_evaluates_on_cifar10_files_offline(tmp_path, offline, capsys):
    write_cifar(tmp_path / "c10", n=10)
    out = tmp_path / "run"
    code, err = _cli(["train", "--dataset", f"cifar10:{tmp_path / 'c10'}", "--holdout", "0.2", "--out", str(out),
                      *TINY], capsys)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_samples"] == 48 and 0 <= m["heldout_neural_selectivity"] <= 1
    code, err = _cli(["evaluate", "--run", str(out), "--dataset", f"cifar10:{tmp_path / 'c10'}",
                      "--out", str(tmp_path / "eval.json")], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "eval.json").read_text())["n_samples"] == 60
    assert offline == []


def test_cifar10_absent_offline_is_one_line_nothing_written(tmp_path, offline, capsys):
    root, out = tmp_path / "c10", tmp_path / "run"
    code, err = _cli(["train", "--dataset", f"cifar10:{root}", "--out", str(out), *TINY], capsys)
    assert code == 2
    assert err.startswith(f"urlsom: error: dataset cifar10:{root}: no CIFAR-10 files in {root}; put torchvision's "
                          "cifar-10-batches-py/ (data_batch_1..5, test_batch) there, or run once online to download "
                          "them (the download failed: URLError: ")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert offline == ["download_and_extract_archive", "download_url"]  # tried once, through torchvision
    assert not out.exists() and not root.exists()  # the folder torchvision made for the download is gone


def test_cifar10_missing_batch_names_it(tmp_path, offline, capsys):
    write_cifar(tmp_path, n=2)
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    out = tmp_path / "run"
    code, err = _cli(["train", "--dataset", f"cifar10:{tmp_path}", "--out", str(out), *TINY], capsys)
    assert code == 2 and not out.exists()
    assert err.startswith(f"urlsom: error: dataset cifar10:{tmp_path}: {tmp_path / 'cifar-10-batches-py'} lacks "
                          "data_batch_3, test_batch; put torchvision's cifar-10-batches-py/ (data_batch_1..5, "
                          "test_batch) there, or run once online to download them (the download failed: URLError: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-py"]  # no partial archive left


def test_cifar10_download_error_of_any_kind_is_one_line(tmp_path, monkeypatch, capsys):
    from torchvision.datasets import utils as tvu

    def fail(*a, **k):
        raise RuntimeError("File not found or corrupted.")  # torchvision's bad-checksum error

    monkeypatch.setattr(tvu, "download_and_extract_archive", fail)
    code, err = _cli(["train", "--dataset", f"cifar10:{tmp_path / 'c'}", "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2 and err.strip().endswith("(the download failed: RuntimeError: File not found or corrupted.)")


def test_cifar10_batch_that_is_not_one(tmp_path, offline, capsys):
    write_cifar(tmp_path, n=2)
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    bad.write_bytes(b"not a pickle at all")
    code, err = _cli(["train", "--dataset", f"cifar10:{tmp_path}", "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2
    assert err.startswith(f"urlsom: error: dataset cifar10:{tmp_path}: {bad} is not a CIFAR-10 python batch (")
    assert len(err.strip().splitlines()) == 1


def test_cifar10_batch_pickle_cannot_run_code(tmp_path, offline):
    write_cifar(tmp_path, n=2)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": Evil(), b"labels": [0]}, fh)
    with pytest.raises(ConfigError, match=r"is not a CIFAR-10 python batch \(UnpicklingError: .*open is not allowed"):
        load_dataset(f"cifar10:{tmp_path}", DataConfig())
    assert not marker.exists()


# ------------------------------------------------------------------------------------------------- SVHN
def test_cli_trains_and_evaluates_on_svhn_files_offline(tmp_path, offline, capsys):
    write_svhn(tmp_path / "svhn")
    out = tmp_path / "run"
    code, err = _cli(["train", "--dataset", f"svhn:{tmp_path / 'svhn'}", "--holdout", "0.2", "--out", str(out), *TINY],
                     capsys)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_samples"] == 48 and 0 <= m["heldout_neural_selectivity"] <= 1
    assert json.loads((out / "config.json").read_text())["resolved"]["flip"] is False  # digits: no flips
    assert offline == []


def test_svhn_absent_offline_is_one_line_nothing_written(tmp_path, offline, capsys):
    root, out = tmp_path / "svhn", tmp_path / "run"
    code, err = _cli(["train", "--dataset", f"svhn:{root}", "--out", str(out), *TINY], capsys)
    assert code == 2
    assert err.startswith(f"urlsom: error: dataset svhn:{root}: no SVHN files in {root}; put SVHN's train_32x32.mat "
                          "and test_32x32.mat (http://ufldl.stanford.edu/housenumbers/) there, or run once online to "
                          "download them (the download failed: URLError: ")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert offline == ["download_url"]
    assert not out.exists() and not root.exists()


def test_svhn_one_file_missing_names_it(tmp_path, offline, capsys):
    write_svhn(tmp_path)
    (tmp_path / "test_32x32.mat").unlink()
    code, err = _cli(["train", "--dataset", f"svhn:{tmp_path}", "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2
    assert err.startswith(f"urlsom: error: dataset svhn:{tmp_path}: {tmp_path} lacks test_32x32.mat; put SVHN's ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_32x32.mat"]


def test_svhn_mat_that_is_not_one(tmp_path, offline):
    write_svhn(tmp_path)
    (tmp_path / "test_32x32.mat").write_text("hello")
    with pytest.raises(ConfigError, match=r"^dataset svhn:.*: cannot read .*test_32x32.mat as SVHN's .mat \("):
        load_dataset(f"svhn:{tmp_path}", DataConfig())


def test_download_failure_error_is_caught_not_a_traceback(tmp_path, monkeypatch):
    from torchvision.datasets import utils as tvu

    def fail(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvu, "download_url", fail)
    with pytest.raises(ConfigError, match=r"the download failed: URLError: <urlopen error \[Errno -3\]"):
        load_dataset(f"svhn:{tmp_path}", DataConfig())


# ---------------------------------------------------------------------------------------- combined specs
def _png(path, arr):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _zip(path, tree):
    with zipfile.ZipFile(path, "w") as zf:
        for p in sorted(tree.rglob("*.png")):
            zf.write(p, p.relative_to(tree.parent).as_posix())


def test_split_spec_only_at_a_known_kind():
    assert split_spec("imagefolder:a.zip+imagefolder:b.zip") == ["imagefolder:a.zip", "imagefolder:b.zip"]
    assert split_spec("digits+npz:x.npz") == ["digits", "npz:x.npz"]
    assert split_spec("imagefolder:photos+more/a.zip") == ["imagefolder:photos+more/a.zip"]  # '+' in a path


def test_two_zips_combine_classes_by_name_sizes_and_channels(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        for i in range(3):
            _png(tmp_path / "train" / c / f"{i}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    for c in ("bird", "dog"):  # another size, gray, and a class the first lacks
        for i in range(2):
            _png(tmp_path / "test" / c / f"{i}.png", rng.integers(0, 256, (20, 24), dtype=np.uint8))
    _zip(tmp_path / "train.zip", tmp_path / "train")
    _zip(tmp_path / "test.zip", tmp_path / "test")
    spec = f"imagefolder:{tmp_path / 'train.zip'}+imagefolder:{tmp_path / 'test.zip'}"
    d = load_dataset(spec, DataConfig())
    assert d.classes == ["cat", "dog", "bird"]  # the first source's order, then the new names
    assert d.images.shape == (10, 3, 32, 32)
    assert [d.classes[i] for i in d.labels.tolist()] == ["cat"] * 3 + ["dog"] * 3 + ["bird"] * 2 + ["dog"] * 2
    gray = d.images[6]  # a gray 20x24 image: resized, its one channel repeated to RGB
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    alone = load_dataset(f"imagefolder:{tmp_path / 'train.zip'}", DataConfig())
    assert torch.equal(d.images[:6], alone.images)
    sub = load_dataset(spec, DataConfig(), subset=6)  # a class-balanced subset of the whole
    assert sorted(np.bincount(sub.labels.numpy()).tolist()) == [2, 2, 2]


def test_array_and_folder_sources_combine(tmp_path, offline):
    write_cifar(tmp_path / "c10", n=2)
    rng = np.random.default_rng(1)
    for i in range(3):
        _png(tmp_path / "extra" / "cat" / f"{i}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    s = resolve(DataConfig(dataset=f"cifar10:{tmp_path / 'c10'}+imagefolder:{tmp_path / 'extra'}"))
    assert len(s.train) == 15 and s.train.classes == list(CIFAR10_CLASSES)
    assert s.train.labels[-3:].tolist() == [3, 3, 3]  # 'cat' is CIFAR-10's class 3
    assert s.flip is True
    assert resolve(DataConfig(dataset="digits+digits")).flip is False  # digit data throughout: no flips


def test_combined_spec_checks_every_part(tmp_path, capsys):
    out = tmp_path / "run"
    code, err = _cli(["train", "--dataset", f"digits+npz:{tmp_path / 'no.npz'}", "--out", str(out), *TINY], capsys)
    assert code == 2 and not out.exists()
    assert err == f"urlsom: error: dataset 'npz:{tmp_path / 'no.npz'}': path {tmp_path / 'no.npz'} does not exist\n"


def test_shared_cifar_zips_make_the_papers_60000(shared_data):
    from urlsom_core.sources import ImageSource

    c = shared_data / "cifar10-jpg"
    parts = [ImageSource(str(c / "train.zip")), ImageSource(str(c / "test.zip"))]
    assert [len(p.members) for p in parts] == [50000, 10000]
    d = load_dataset(f"imagefolder:{c / 'train.zip'}+imagefolder:{c / 'test.zip'}", DataConfig(), subset=100)
    assert d.classes == list(CIFAR10_CLASSES) and d.labels.bincount().tolist() == [10] * 10
