"""``urlsom map``: the winner of every image of a folder, zip or npz as CSV, the images brought to the network as
the run's own evaluation brings them; bad input is one line, exit 2, nothing written."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from urlsom_book.cli import main

TINY = ["--grid", "5", "5", "--widths", "8", "--blocks", "1", "--epochs", "1", "--batch-size", "64", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("map") / "run"
    # the readouts asked for: 1,797 digits on 25 neurons are many images per neuron, where the rule fits none
    assert main(["train", "--dataset", "digits", "--out", str(out), *TINY, "--usage-balance", "--prototype-readout"]) == 0
    return out


@pytest.fixture
def folder(tmp_path):
    """12 digits as PNG files: 8x8 gray at the top, 16x16 RGB copies in a sub-folder (other sizes, other
    channels), one 8x12 (not square)."""
    from sklearn.datasets import load_digits

    x = (load_digits().images[:12] * 16).astype(np.uint8)
    root = tmp_path / "imgs"
    (root / "more").mkdir(parents=True)
    for i in range(6):
        Image.fromarray(x[i]).save(root / f"d{i}.png")
    for i in range(6, 11):
        big = np.repeat(np.repeat(x[i], 2, 0), 2, 1)
        Image.fromarray(np.stack([big] * 3, -1)).save(root / "more" / f"d{i}.png")
    Image.fromarray(np.concatenate([x[11], x[11][:, :4]], 1)).save(root / "more" / "wide.png")
    return root


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def test_a_folder_is_mapped_as_the_runs_evaluation_maps_it(run, folder, tmp_path, capsys):
    out = tmp_path / "winners.csv"
    assert main(["map", "--run", str(run), "--images", str(folder), "--out", str(out)]) == 0
    assert "mapped 12 images onto the 5x5 map" in capsys.readouterr().out
    rows = _read(out)
    # the network's own winner (the paper's map), then the readout's, fitted after training
    assert rows[0] == ["file", "row", "column", "neuron", "softmax", "readout_row", "readout_column", "readout_neuron"]
    assert [r[0] for r in rows[1:]] == sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    # the run's own evaluation path (urlsom evaluate: load_for_eval + Run.predict) on the same folder
    from urlsom_core.runs import Run, load_for_eval

    r = Run.load(run)
    data = load_for_eval(r, f"imagefolder:{folder}")
    want = r.predict(data)
    got = np.array([int(v[3]) for v in rows[1:]])
    assert (got == want["winner"]).all()
    assert (np.array([int(v[7]) for v in rows[1:]]) == want["readout_winner"]).all()
    assert all(int(v[5]) * 5 + int(v[6]) == int(v[7]) for v in rows[1:])
    assert all(int(v[1]) * 5 + int(v[2]) == int(v[3]) for v in rows[1:])
    p = np.array([float(v[4]) for v in rows[1:]])
    assert ((p > 0) & (p <= 1)).all()


def test_a_zip_and_an_npz_give_the_same_winners(run, folder, tmp_path):
    zpath = tmp_path / "imgs.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in sorted(folder.rglob("*.png")):
            z.write(p, p.relative_to(folder).as_posix())
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert main(["map", "--run", str(run), "--images", str(folder), "--out", str(a)]) == 0
    assert main(["map", "--run", str(run), "--images", str(zpath), "--out", str(b)]) == 0
    assert _read(a) == _read(b)
    x = np.stack([np.asarray(Image.open(folder / f"d{i}.png")) for i in range(6)])  # (6, 8, 8), no labels
    npz = tmp_path / "x.npz"
    np.savez(npz, images=x)
    c = tmp_path / "c.csv"
    assert main(["map", "--run", str(run), "--images", str(npz), "--out", str(c)]) == 0
    rows = _read(c)
    assert rows[0][0] == "index" and [r[0] for r in rows[1:]] == [str(i) for i in range(6)]
    by_file = {r[0]: r[1:] for r in _read(a)[1:]}
    assert [r[1:] for r in rows[1:]] == [by_file[f"d{i}.png"] for i in range(6)]


def _incomplete(run, tmp_path):
    bad = tmp_path / "half"
    shutil.copytree(run, bad)
    m = json.loads((bad / "manifest.json").read_text())
    m["status"] = "running"
    (bad / "manifest.json").write_text(json.dumps(m))
    return bad


@pytest.mark.parametrize("case, needle", [
    ("missing run", "--run {tmp}/nope: does not exist"),
    ("incomplete run", "not a complete run (status is 'running'"),
    ("unreadable image", "1 of 13 image files cannot be read (broken.png: not an image)"),
    ("empty folder", "no image files"),
    ("missing images", "does not exist"),
    ("out in a missing folder", "folder {tmp}/no/such does not exist"),
    ("out is a folder", "is a folder; allowed is the path of a CSV file"),
    ("npz without images", "no array 'images'"),
    ("not a zip", "not a readable .zip"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(run, folder, tmp_path, capsys, case, needle):
    out = tmp_path / "winners.csv"
    args = {"run": str(run), "images": str(folder), "out": str(out)}
    if case == "missing run":
        args["run"] = str(tmp_path / "nope")
    elif case == "incomplete run":
        args["run"] = str(_incomplete(run, tmp_path))
    elif case == "unreadable image":
        (folder / "broken.png").write_bytes(b"not a png at all")
    elif case == "empty folder":
        (tmp_path / "empty" / "sub").mkdir(parents=True)
        (tmp_path / "empty" / "notes.txt").write_text("no images here")
        args["images"] = str(tmp_path / "empty")
    elif case == "missing images":
        args["images"] = str(tmp_path / "nothing")
    elif case == "out in a missing folder":
        out = tmp_path / "no" / "such" / "winners.csv"
        args["out"] = str(out)
    elif case == "out is a folder":
        out = tmp_path / "adir"
        out.mkdir()
        args["out"] = str(out)
    elif case == "npz without images":
        np.savez(tmp_path / "x.npz", pixels=np.zeros((2, 8, 8), np.uint8))
        args["images"] = str(tmp_path / "x.npz")
    elif case == "not a zip":
        (tmp_path / "x.zip").write_bytes(b"nope")
        args["images"] = str(tmp_path / "x.zip")
    capsys.readouterr()
    code = main(["map", "--run", args["run"], "--images", args["images"], "--out", args["out"]])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("urlsom: error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert needle.format(tmp=tmp_path) in err
    assert not (out.is_file()) and not list(tmp_path.rglob(".winners.csv.*"))
