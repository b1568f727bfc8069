import gzip
import struct
import zipfile

import numpy as np
import pytest
import torch

from urlsom_core.config import ConfigError, DataConfig
from urlsom_core.data import balanced_subset, check_spec, describe, load_dataset, resolve


def test_digits_embedded_default_is_upsampled_gray_16():
    s = resolve(DataConfig(dataset="digits"))
    assert s.train.images.shape == (1797, 1, 16, 16) and s.train.images.dtype == torch.uint8
    assert s.input_size == 16 and s.flip is False
    # scikit-learn's digits: 178, 182, 177, 183, 181, 182, 181, 179, 174, 180 images of 0..9
    assert s.train.labels.bincount().tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_holdout_is_stratified_and_disjoint():
    s = resolve(DataConfig(dataset="digits", holdout=0.2, split_seed=0))
    assert len(s.train) + len(s.heldout) == 1797
    assert abs(len(s.heldout) - 360) <= 1
    ratio = s.heldout.labels.bincount().float() / s.train.labels.bincount().float()
    assert ratio.min() > 0.2 and ratio.max() < 0.3


def test_a_split_that_cannot_be_stratified_is_one_config_error():
    from urlsom_core.data import stratified_split

    y = np.array([0, 0, 0, 1, 1, 2])  # class 2 has one image
    with pytest.raises(ConfigError, match="fewest 1 of one class"):
        stratified_split(y, 0.5, 0)
    with pytest.raises(ConfigError, match="3 on each side"):  # ceil(0.2 * 9) = 2 held out, 3 classes
        stratified_split(np.repeat([0, 1, 2], 3), 0.2, 0)
    tr, te = stratified_split(np.repeat([0, 1, 2], 3), 0.34, 0)  # 4 held out: one of each class at least
    assert len(te) == 4 and set(np.repeat([0, 1, 2], 3)[te]) == {0, 1, 2} and len(tr) == 5


def _write_idx(path, arr):
    header = struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_mnist_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 28, 28)))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(20) % 10)
    d = load_dataset(f"mnist:{tmp_path}", DataConfig())
    assert d.images.shape == (20, 1, 32, 32)  # 28 -> 32 (the paper's input)
    assert d.labels.tolist() == (np.arange(20) % 10).tolist()


def test_real_mnist(shared_data):
    d = load_dataset(f"mnist:{shared_data / 'mnist'}", DataConfig())
    assert d.images.shape == (10000, 1, 32, 32)
    assert d.labels.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_svhn_mat_files(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 5)):
        X = rng.integers(0, 256, (32, 32, 3, n)).astype(np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)  # 1..10, 10 means digit 0
        savemat(tmp_path / f"{split}_32x32.mat", {"X": X, "y": y})
    s = resolve(DataConfig(dataset=f"svhn:{tmp_path}"))
    assert s.train.images.shape == (17, 3, 32, 32)
    assert s.flip is False
    assert 10 not in s.train.labels.tolist() and s.train.labels[9].item() == 0
    from scipy.io import loadmat

    X = loadmat(tmp_path / "train_32x32.mat")["X"]
    assert torch.equal(s.train.images[3], torch.from_numpy(X[:, :, :, 3]).permute(2, 0, 1))


def _png(path, arr):
    from PIL import Image

    Image.fromarray(arr).save(path)


def test_imagefolder_dir_and_zip_any_size(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            _png(root / c / f"{i}.png", rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))  # non-square photo
    d = load_dataset(f"imagefolder:{root}", DataConfig())
    assert d.images.shape == (6, 3, 32, 32) and d.classes == ["cat", "dog"]
    assert d.labels.tolist() == [0, 0, 0, 1, 1, 1]
    z = tmp_path / "imgs.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(root.rglob("*.png")):
            zf.write(p, f"train/{p.parent.name}/{p.name}")
    dz = load_dataset(f"imagefolder:{z}", DataConfig(input_size=16))
    assert dz.images.shape == (6, 3, 16, 16) and dz.classes == ["cat", "dog"]


def test_real_cifar_zip_subset_is_balanced(shared_data):
    d = load_dataset(f"imagefolder:{shared_data / 'cifar10-jpg' / 'test.zip'}", DataConfig(), subset=200)
    assert d.images.shape == (200, 3, 32, 32)
    assert d.labels.bincount().tolist() == [20] * 10
    assert d.classes[0] == "airplane" and d.classes[-1] == "truck"


@pytest.mark.parametrize("shape,channels,size", [((10, 8, 8), 1, 16), ((10, 16, 16, 3), 3, 16), ((10, 28, 28), 1, 32),
                                                  ((10, 64, 64, 4), 3, 32)])
def test_npz_any_size_and_channels(tmp_path, shape, channels, size):
    f = tmp_path / "d.npz"
    np.savez(f, images=np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8), labels=np.arange(10) % 3)
    s = resolve(DataConfig(dataset=f"npz:{f}"))
    assert s.train.images.shape == (10, channels, size, size)
    assert s.flip is True


@pytest.mark.parametrize("spec,msg", [("foo", "unknown kind"), ("mnist", "needs a path"), ("npz:/nonexistent.npz", "does not exist"),
                                      ("imagefolder:/nonexistent", "does not exist"), ("digits:x", "no argument")])
def test_bad_specs(spec, msg):
    with pytest.raises(ConfigError, match=msg):
        check_spec(spec)


def test_npz_without_the_right_arrays(tmp_path):
    f = tmp_path / "bad.npz"
    np.savez(f, x=np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(ConfigError, match="missing array"):
        load_dataset(f"npz:{f}", DataConfig())
    np.savez(f, images=np.zeros((3, 8, 8), np.float32), labels=np.zeros(3, int))
    with pytest.raises(ConfigError, match="uint8"):
        load_dataset(f"npz:{f}", DataConfig())


def test_npz_labels_any_integers_numbered_in_order(tmp_path):
    # labels need not be 0..K-1: negative or gapped values become class indices, and name the classes
    f = tmp_path / "gaps.npz"
    y = np.array([7, -1, 3, 7, 3, -1])
    np.savez(f, images=np.zeros((6, 8, 8), np.uint8), labels=y)
    d = load_dataset(f"npz:{f}", DataConfig())
    assert d.classes == ["-1", "3", "7"]
    assert d.labels.tolist() == [2, 0, 1, 2, 1, 0]
    assert [d.classes[i] for i in d.labels.tolist()] == [str(v) for v in y]


def test_eval_dataset_labels_follow_the_training_classes(tmp_path):
    # train on labels {0, 5, 9}, evaluate on {5, 9, 11}: 5 and 9 keep the training indices, 11 matches nothing
    img = np.zeros((6, 8, 8), np.uint8)
    np.savez(tmp_path / "a.npz", images=img, labels=np.array([0, 5, 9, 0, 5, 9]))
    np.savez(tmp_path / "b.npz", images=img, labels=np.array([9, 5, 11, 9, 5, 11]))
    s = resolve(DataConfig(dataset=f"npz:{tmp_path / 'a.npz'}", eval_dataset=f"npz:{tmp_path / 'b.npz'}"))
    assert s.train.classes == ["0", "5", "9"]
    assert s.heldout.classes == ["0", "5", "9", "11"]
    assert s.heldout.labels.tolist() == [2, 1, 3, 2, 1, 3]


def test_invert_fraction_mimics_svhn():
    plain = load_dataset("digits", DataConfig())
    inv = load_dataset("digits", DataConfig(invert_fraction=0.5))
    flipped = (inv.images != plain.images).flatten(1).any(1)
    assert 0.4 < flipped.float().mean() < 0.6
    assert torch.equal(inv.images[flipped], 255 - plain.images[flipped])


def test_invert_copy_keeps_originals_and_adds_inverted_copies_after_the_split():
    plain = resolve(DataConfig(holdout=0.2))
    both = resolve(DataConfig(holdout=0.2, invert_fraction=1.0, invert_copy=True))
    for p, b in ((plain.train, both.train), (plain.heldout, both.heldout)):
        n = len(p)
        assert len(b) == 2 * n  # every image in both contrasts
        assert torch.equal(b.images[:n], p.images) and torch.equal(b.images[n:], 255 - p.images)
        assert torch.equal(b.labels[n:], p.labels)
    # no training image (nor its inverted copy) is also a held-out image
    train = {bytes(x.numpy()) for x in both.train.images}
    assert not any(bytes(x.numpy()) in train for x in both.heldout.images)
    assert describe(DataConfig(holdout=0.2, invert_fraction=1.0, invert_copy=True)).n_images == len(both.train)
    half = resolve(DataConfig(invert_fraction=0.5, invert_copy=True))
    assert 1.4 < len(half.train) / 1797 < 1.6  # about half of the 1,797 digits copied


def test_invert_copy_needs_a_fraction():
    with pytest.raises(ConfigError, match="invert_copy true with invert_fraction 0: allowed is invert_fraction > 0"):
        DataConfig(invert_copy=True).validate()


def test_balanced_subset():
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    idx = balanced_subset(y, 20, 0)
    assert np.bincount(y[idx]).tolist() == [5, 5, 5, 5]


def test_colour_to_gray_uses_the_augmentation_luma():
    """data.match_channels turns RGB into the augmentation's grayscale (ITU-R 601 luma), rounded to uint8."""
    from urlsom_core.augment import _luma
    from urlsom_core.data import ImageData, match_channels

    rgb = torch.randint(0, 256, (6, 3, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    gray = match_channels(ImageData(rgb, torch.zeros(6, dtype=torch.int64), ["a"], "t"), 1).images
    assert gray.shape == (6, 1, 5, 5) and gray.dtype == torch.uint8
    assert torch.equal(gray, _luma(rgb.float()).round().clamp(0, 255).to(torch.uint8))
    pure = torch.zeros(3, 3, 1, 1, dtype=torch.uint8)
    for c in range(3):
        pure[c, c] = 200
    assert match_channels(ImageData(pure, torch.zeros(3, dtype=torch.int64), ["a"], "t"), 1).images.flatten().tolist() \
        == [60, 117, 23]  # 200 x 0.299, 0.587, 0.114, rounded
