"""urlsom_core.SOM: the module's doctest (fit a tiny map from an array, save, load, the same winners), the
image conversions, the same config as ``urlsom train`` for the same data and flags, and a saved SOM read as a run
directory by ``urlsom evaluate`` and ``urlsom map``."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import urlsom_core.api
from urlsom_book import cli
from urlsom_core import SOM
from urlsom_core.api import as_uint8_images, cache_arrays
from urlsom_core.config import ConfigError

FAST = {"widths": [8], "blocks": 1}  # a small backbone: seconds


def digits(n=128):
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:n] * 16).astype(np.uint8), d.target[:n]


def test_the_modules_doctest_fits_saves_loads_and_gives_the_same_winners():
    """What ``pytest --doctest-modules urlsom_core/api.py`` runs, inside the project's test command."""
    r = doctest.testmod(urlsom_core.api, optionflags=doctest.ELLIPSIS)
    assert r.attempted >= 10 and r.failed == 0


def test_importing_the_package_imports_no_torch():
    code = "import sys, urlsom_core; assert 'torch' not in sys.modules; from urlsom_core import SOM; print(SOM.__name__)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "SOM", r.stderr


# ------------------------------------------------------------------------------------------- conversions
def test_as_uint8_images_reads_uint8_integers_and_floats():
    x = np.arange(12, dtype=np.uint8).reshape(1, 3, 4)
    assert as_uint8_images(x) is x
    assert as_uint8_images(x.astype(np.int64)).dtype == np.uint8
    assert as_uint8_images(np.array([[[0.0, 0.5, 1.0]]])).tolist() == [[[0, 128, 255]]]
    assert as_uint8_images(np.array([[[0.0, 127.6, 255.0]]])).tolist() == [[[0, 128, 255]]]
    assert as_uint8_images(np.zeros((2, 5, 5, 3), np.float32)).shape == (2, 5, 5, 3)


@pytest.mark.parametrize("x, needle", [
    (np.zeros((4, 4), np.uint8), "shape (4, 4): allowed is N x H x W"),
    (np.zeros((2, 3, 8, 8), np.uint8), "look channels-first"),
    (np.zeros((2, 8, 8, 5), np.uint8), "allowed are 1, 2, 3 or 4 channels"),
    (np.full((1, 2, 2), 300), "values 300..300: allowed is uint8"),
    (np.full((1, 2, 2), -0.5), "values -0.5..-0.5"),
    (np.full((1, 2, 2), np.nan), "not all finite"),
    (np.array([[["a"]]]), "dtype <U1"),
])
def test_as_uint8_images_refuses_with_one_line(x, needle):
    with pytest.raises(ConfigError, match="^images ") as e:
        as_uint8_images(x)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_arrays_are_cached_once_by_content(tmp_path):
    x, y = digits(20)
    a = cache_arrays(x, y, tmp_path)
    assert a.is_absolute() and a.parent == (tmp_path / "arrays").resolve()
    assert cache_arrays(x.copy(), y.copy(), tmp_path) == a  # same content, same file
    assert cache_arrays(x, None, tmp_path) != a  # other labels, another file
    with np.load(a) as z:
        assert (z["images"] == x).all() and (z["labels"] == y).all()
    with pytest.raises(ConfigError, match="labels .*allowed is 20 integers"):
        cache_arrays(x, y[:5], tmp_path)


# ---------------------------------------------------------------------------------------------- settings
def test_bad_settings_are_refused_before_any_image_is_read(tmp_path):
    with pytest.raises(ConfigError, match="setting 'sigmaa': allowed are the fields"):
        SOM(sigmaa=3, root=tmp_path)
    with pytest.raises(ConfigError, match="grid 1x5: allowed is at least 2x2"):
        SOM(grid=(1, 5), root=tmp_path)
    with pytest.raises(ConfigError, match="sigma -1"):
        SOM(sigma=-1, root=tmp_path)
    with pytest.raises(ConfigError, match="give it as SOM\\(epochs=...\\)"):
        SOM(**{"train.epochs": 3}, root=tmp_path)
    with pytest.raises(ConfigError, match="the data is what fit\\(\\) gets"):
        SOM(dataset="digits", root=tmp_path)
    with pytest.raises(ConfigError, match="not fitted"):
        SOM(root=tmp_path).winner(np.zeros((1, 8, 8), np.uint8))
    assert not (tmp_path / "arrays").exists()


@pytest.mark.parametrize("extra", [{}, {"sigma": 3.0, "holdout": 0.2}, {"max_minutes": 5.0}])
def test_the_config_is_the_commands_for_the_same_data_and_flags(tmp_path, extra):
    """SOM(...).config_for(arrays) == ``urlsom train --dataset npz:<the cached file>`` with the same flags: the same
    defaults rule, the same config key."""
    x, y = digits(200)
    som = SOM(grid=(6, 7), epochs=3, seed=2, root=tmp_path, device="cpu", **extra)
    cfg, reason = som.config_for(x, y)
    npz = cache_arrays(x, y, tmp_path)
    flags = ["--dataset", f"npz:{npz}", "--grid", "6", "7", "--epochs", "3", "--seed", "2", "--device", "cpu"]
    names = {"sigma": "--sigma", "holdout": "--holdout", "max_minutes": "--max-minutes"}
    for k, v in extra.items():
        flags += [names[k], str(v)]
    cli_cfg, cli_reason = cli.resolve_args(cli.build_parser().parse_args(["train", "--out", "x", *flags]))
    assert cfg == cli_cfg and cfg.key() == cli_cfg.key()
    assert reason.split(";")[0] == cli_reason.split(";")[0]
    assert f"rule '{'few' if extra.get('holdout') else 'cpu-many'}'" in reason  # 160 or 200 images on 42 neurons
    assert cfg.data.dataset == f"npz:{npz}"
    assert som.config_for("digits")[0] == cli.resolve_args(cli.build_parser().parse_args(
        ["train", "--out", "x", *flags[2:], "--dataset", "digits"]))[0]


# --------------------------------------------------------------------------------------- a fitted map
@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A tiny map on 128 digits with the usage bias and without the prototype readout (the rule fits both on a
    CPU; the prototype readout is turned off here): its winner is the Softmax's argmax."""
    root = tmp_path_factory.mktemp("som")
    x, y = digits()
    som = SOM(grid=(4, 4), epochs=1, root=root / "runs", device="cpu", verbose=False, prototype_readout=False,
              usage_balance=True, **FAST).fit(x, y)
    return som, x, y, root


def test_fit_trains_into_the_store_once(fitted):
    som, x, y, root = fitted
    assert som.run_.path.parent == root / "runs" and som.run_.path.name == som.config_.key()
    assert som.defaults_rule_.startswith("defaults: rule 'cpu-many'")
    again = SOM(grid=(4, 4), epochs=1, root=root / "runs", device="cpu", verbose=False, prototype_readout=False,
                usage_balance=True, **FAST).fit(x, y)
    assert again.run_.cache_hit and again.run_.path == som.run_.path
    assert (som.winner(x) == again.winner(x)).all()
    assert som.run_.metrics["n_samples"] == 128
    assert (som.run_.assignments()["label"] == y).all()


def test_winner_and_activation_map_agree(fitted):
    som, x, _, _ = fitted
    w = som.winner(x)
    a = som.activation_map(x)
    assert w.shape == (128, 2) and w.dtype == np.int64 and a.shape == (128, 4, 4) and a.dtype == np.float32
    assert np.allclose(a.sum((1, 2)), 1.0, atol=1e-5)
    flat = a.reshape(128, -1).argmax(1)
    assert (np.stack(np.divmod(flat, 4), 1) == w).all()
    # the winners the store's own prediction gives (Run.predict, as urlsom evaluate scores them)
    assert (w[:, 0] * 4 + w[:, 1] == som.run_.predict(som.run_.splits().train)["winner"]).all()
    assert (som.winner(x[:1]) == w[:1]).all() and (som.winner(x.astype(np.float64) / 255.0) == w).all()


def test_winner_of_a_folder_of_files_is_that_of_the_arrays(fitted, tmp_path):
    som, x, _, _ = fitted
    for i in range(10):
        Image.fromarray(x[i]).save(tmp_path / f"img{i:02d}.png")  # 8x8 gray PNG: lossless
    assert (som.winner(tmp_path) == som.winner(x[:10])).all()


def test_save_load_and_the_commands_read_the_saved_map(fitted, tmp_path, capsys):
    som, x, y, root = fitted
    out = som.save(tmp_path / "saved")
    assert (out / "checkpoint.pt").exists() and not (out / ".lock").exists()
    loaded = SOM.load(out, device="cpu")
    assert loaded.config_ == som.config_ and (loaded.winner(x) == som.winner(x)).all()
    assert np.allclose(loaded.activation_map(x[:5]), som.activation_map(x[:5]))
    npz = som.config_.data.dataset.partition(":")[2]
    assert cli.main(["evaluate", "--run", str(out), "--dataset", f"npz:{npz}"]) == 0
    csv = tmp_path / "winners.csv"
    assert cli.main(["map", "--run", str(out), "--images", npz, "--out", str(csv)]) == 0
    lines = csv.read_text().splitlines()
    # the network's own winner first; the readout fitted after training (the bias), whose winner follows
    assert lines[0] == "index,row,column,neuron,softmax,readout_row,readout_column,readout_neuron" and len(lines) == 129
    rows = np.array([[int(v) for v in line.split(",")[1:3]] for line in lines[1:]])
    assert (rows == som.winner(x)).all()
    read = np.array([[int(v) for v in line.split(",")[5:7]] for line in lines[1:]])
    assert (read == som.winner(x, readout=True)).all()
    capsys.readouterr()


def test_save_refuses_a_folder_in_use_and_load_a_missing_one(fitted, tmp_path):
    som, _, _, _ = fitted
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an empty folder"):
        som.save(tmp_path / "full")
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="does not exist"):
        som.save(tmp_path / "no" / "such")
    (tmp_path / "empty").mkdir()
    assert (som.save(tmp_path / "empty") / "manifest.json").exists()
    assert som.save(som.run_.path) == som.run_.path  # where it already is: nothing to do
    with pytest.raises(ConfigError, match="run .*missing: does not exist"):
        SOM.load(tmp_path / "missing")
    assert not list(tmp_path.glob(".*.tmp"))
