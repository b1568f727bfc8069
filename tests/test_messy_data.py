"""Messy image folders and files: every broken input is one line naming it, exit 2, nothing written; with
--skip-bad-images the unreadable files are left out, announced, and listed in manifest.json."""

import io
import json
import zipfile

import numpy as np
import pytest

from urlsom_book.cli import main
from urlsom_core.config import ConfigError, RunConfig

TINY = ["--grid", "4", "4", "--widths", "4", "--blocks", "1", "--epochs", "1", "--batch-size", "8", "--quiet"]
TAIL = "; fix or remove them, or pass --skip-bad-images (data.skip_bad_images) to train without them\n"


def _image_bytes(fmt, seed=0, shape=(32, 32, 3)):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(buf, fmt)
    return buf.getvalue()


def messy_folder(root, n_good=4):
    """cat/ and dog/ with ``n_good`` good PNGs each, a JPEG cut to half its bytes, and a text file named .png."""
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(n_good):
            (root / c / f"{i}.png").write_bytes(_image_bytes("PNG", seed=i))
    jpeg = _image_bytes("JPEG", seed=99)
    (root / "cat" / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "dog" / "notes.png").write_text("these are my notes, not a picture\n")
    return root


def _zip_of(folder, path):
    with zipfile.ZipFile(path, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, "train/" + p.relative_to(folder).as_posix())
    return path


def _cli(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


def test_bad_files_in_a_folder_stop_before_training(tmp_path, capsys):
    root = messy_folder(tmp_path / "imgs")
    out = tmp_path / "run"
    code, err = _cli(["train", "--dataset", f"imagefolder:{root}", "--out", str(out), *TINY], capsys)
    assert code == 2
    assert err == (f"urlsom: error: dataset imagefolder:{root}: 2 of 10 image files cannot be read (cat/cut.jpg: "
                   "truncated JPEG, dog/notes.png: not an image)" + TAIL)
    assert not out.exists()


def test_bad_files_in_a_zip_stop_before_training(tmp_path, capsys):
    z = _zip_of(messy_folder(tmp_path / "imgs"), tmp_path / "imgs.zip")
    out = tmp_path / "run"
    code, err = _cli(["train", "--dataset", f"imagefolder:{z}", "--out", str(out), *TINY], capsys)
    assert code == 2
    assert err == (f"urlsom: error: dataset imagefolder:{z}: 2 of 10 image files cannot be read (train/cat/cut.jpg: "
                   "truncated JPEG, train/dog/notes.png: not an image)" + TAIL)
    assert not out.exists()


def test_many_bad_files_name_the_first_three(tmp_path, capsys):
    root = messy_folder(tmp_path / "imgs")
    for i in range(3):
        (root / "dog" / f"empty{i}.jpg").write_bytes(b"")
    code, err = _cli(["train", "--dataset", f"imagefolder:{root}", "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2
    assert err == (f"urlsom: error: dataset imagefolder:{root}: 5 of 13 image files cannot be read (cat/cut.jpg: "
                   "truncated JPEG, dog/empty0.jpg: not an image, dog/empty1.jpg: not an image, ...)" + TAIL)


def test_zip_member_with_a_bad_checksum_is_unreadable(tmp_path, capsys):
    z = _zip_of(messy_folder(tmp_path / "imgs"), tmp_path / "imgs.zip")
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("train/cat/0.png")
    raw = bytearray(z.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[start + 100] ^= 0xFF  # a flipped byte inside the stored member: its CRC-32 no longer matches
    z.write_bytes(bytes(raw))
    code, err = _cli(["train", "--dataset", f"imagefolder:{z}", "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2
    assert err == (f"urlsom: error: dataset imagefolder:{z}: 3 of 10 image files cannot be read (train/cat/0.png: "
                   "unreadable (BadZipFile: Bad CRC-32 for file 'train/cat/0.png'), train/cat/cut.jpg: truncated "
                   "JPEG, train/dog/notes.png: not an image)" + TAIL)


def test_skip_bad_images_says_how_many_and_records_them(tmp_path, capsys):
    root = messy_folder(tmp_path / "imgs")
    out = tmp_path / "run"
    code = main(["train", "--dataset", f"imagefolder:{root}", "--skip-bad-images", "--out", str(out), *TINY])
    err = capsys.readouterr().err
    assert code == 0, err
    assert ("skipping 2 bad image file(s) (skip_bad_images): cat/cut.jpg (truncated JPEG), dog/notes.png "
            "(not an image); all are listed in manifest.json") in err
    man = json.loads((out / "manifest.json").read_text())
    assert man["status"] == "complete"
    assert man["skipped_bad_images"] == {"count": 2, "files": [
        {"source": f"imagefolder:{root}", "file": "cat/cut.jpg", "reason": "truncated JPEG"},
        {"source": f"imagefolder:{root}", "file": "dog/notes.png", "reason": "not an image"}]}
    assert json.loads((out / "metrics.json").read_text())["n_samples"] == 8
    assert json.loads((out / "config.json").read_text())["config"]["data"]["skip_bad_images"] is True


def test_skip_bad_images_records_none_when_clean(tmp_path, capsys):
    root = tmp_path / "imgs"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(4):
            (root / c / f"{i}.png").write_bytes(_image_bytes("PNG", seed=i))
    out = tmp_path / "run"
    assert main(["train", "--dataset", f"imagefolder:{root}", "--skip-bad-images", "--out", str(out), *TINY]) == 0
    assert "skipping" not in capsys.readouterr().err
    assert json.loads((out / "manifest.json").read_text())["skipped_bad_images"] == {"count": 0, "files": []}


def test_every_file_bad_is_one_line(tmp_path, capsys):
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    (tmp_path / "imgs" / "a" / "x.png").write_text("no")
    code, err = _cli(["train", "--dataset", f"imagefolder:{tmp_path / 'imgs'}", "--skip-bad-images",
                      "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2 and not (tmp_path / "run").exists()
    assert err == f"urlsom: error: dataset imagefolder:{tmp_path / 'imgs'}: no readable images (1 bad files skipped)\n"


def test_bad_eval_dataset_files_are_named_too(tmp_path, capsys):
    root = messy_folder(tmp_path / "imgs")
    code, err = _cli(["train", "--dataset", "digits", "--eval-dataset", f"imagefolder:{root}",
                      "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2 and err.startswith(f"urlsom: error: dataset imagefolder:{root}: 2 of 10 image files")
    assert not (tmp_path / "run").exists()


def test_macos_zip_metadata_is_not_an_image(tmp_path):
    from urlsom_core.config import DataConfig
    from urlsom_core.data import load_dataset

    z = tmp_path / "mac.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for c in ("a", "b"):
            zf.writestr(f"imgs/{c}/0.png", _image_bytes("PNG"))
            zf.writestr(f"__MACOSX/imgs/{c}/._0.png", b"\x00\x05\x16\x07 AppleDouble")
            zf.writestr(f"imgs/{c}/._1.png", b"\x00\x05\x16\x07 AppleDouble")
    d = load_dataset(f"imagefolder:{z}", DataConfig())
    assert len(d) == 2 and d.classes == ["a", "b"] and d.skipped == []


def test_skip_bad_images_is_validated():
    with pytest.raises(ConfigError, match=r"^skip_bad_images 'yes': allowed is true or false$"):
        RunConfig.from_dict({"data": {"skip_bad_images": "yes"}})


def test_skip_bad_images_in_a_config_file(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    f.write_text("data:\n  skip_bad_images: 1\n")
    code, err = _cli(["train", "--config", str(f), "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2 and err == "urlsom: error: skip_bad_images 1: allowed is true or false\n"


@pytest.mark.parametrize("content", [b"this is not a zip", b""])
def test_broken_zip_is_one_line(tmp_path, capsys, content):
    z = tmp_path / "photos.zip"
    z.write_bytes(content)
    out = tmp_path / "run"
    code, err = _cli(["train", "--dataset", f"imagefolder:{z}", "--out", str(out), *TINY], capsys)
    assert code == 2 and not out.exists()
    assert err == (f"urlsom: error: dataset imagefolder:{z}: not a readable .zip (BadZipFile: File is not a zip "
                   "file); allowed is a folder or a .zip of one\n")


def test_truncated_zip_is_one_line(tmp_path, capsys):
    z = _zip_of(messy_folder(tmp_path / "imgs"), tmp_path / "imgs.zip")
    z.write_bytes(z.read_bytes()[:-200])  # the central directory cut off, as by an interrupted copy
    code, err = _cli(["train", "--dataset", f"imagefolder:{z}", "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2 and err.startswith(f"urlsom: error: dataset imagefolder:{z}: not a readable .zip (BadZipFile: ")
    assert len(err.strip().splitlines()) == 1


def test_channels_first_npz_says_so(tmp_path, capsys):
    f = tmp_path / "cf.npz"
    np.savez(f, images=np.zeros((6, 3, 8, 8), np.uint8), labels=np.arange(6) % 2)
    out = tmp_path / "run"
    code, err = _cli(["train", "--dataset", f"npz:{f}", "--out", str(out), *TINY], capsys)
    assert code == 2 and not out.exists()
    assert err == (f"urlsom: error: dataset npz:{f}: images (6, 3, 8, 8) look channels-first (N, 3, H, W); allowed is "
                   "N x H x W [x C] channels-last, transpose with images.transpose(0, 2, 3, 1)\n")


def test_npz_with_other_channel_counts_names_the_file(tmp_path, capsys):
    f = tmp_path / "c8.npz"
    np.savez(f, images=np.zeros((6, 8, 8, 8), np.uint8), labels=np.arange(6) % 2)
    code, err = _cli(["train", "--dataset", f"npz:{f}", "--out", str(tmp_path / "run"), *TINY], capsys)
    assert code == 2
    assert err == (f"urlsom: error: dataset npz:{f}: images (6, 8, 8, 8) with 8 channels; allowed are 1 (gray), "
                   "3 (RGB) or 4 (RGBA, alpha dropped) on the last axis\n")
