"""bench/latent_maps.py: maps coloured by the known latents of a generated set, from stored runs; the JSON beside
the PNG holds each row's latent Spearman and provenance; bad input is one line, nothing written."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
spec = importlib.util.spec_from_file_location("latent_maps", ROOT / "bench" / "latent_maps.py")
lm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lm)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny runs (5x5, 1 epoch) on generated ellipses, one read out, as the threshold study trains them."""
    import threshold_study as th

    out = tmp_path_factory.mktemp("study")
    assert th.main(["--set", "ellipses", "--per-neuron", "4", "--tiny", "--maps", "cpu", "cpu-anneal+readout",
                    "--out", str(out)]) == 0
    return [c["run"] for c in json.loads((out / "results.json").read_text())["cells"]]


def test_two_rows_of_latent_panels_with_their_spearman(runs, tmp_path):
    png = tmp_path / "maps.png"
    assert lm.main(["--runs", *runs, "--names", "fixed", "shrinking", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads(png.with_suffix(".json").read_text())
    assert [r["name"] for r in meta["rows"]] == ["fixed", "shrinking"] and meta["winners"] == "network"
    for r in meta["rows"]:
        assert set(r["spearman"]) == {"orientation_folded_deg", "log2_elongation", "all"}
        assert all(-1 <= v <= 1 for v in r["spearman"].values() if np.isfinite(v))
    assert meta["provenance"]["git_commit"]
    # the read-out winners of the run that has a readout
    assert lm.main(["--runs", runs[1], "--readout", "--out", str(tmp_path / "ro.png")]) == 0


def test_the_panel_colours_each_neuron_by_its_images_mean_latent():
    from urlsom_book.viz import latent_map

    fig = latent_map(np.array([0, 0, 3]), np.array([1.0, 3.0, 5.0]), (2, 2))
    shown = fig.axes[0].images[0].get_array()
    assert shown[0, 0] == 2.0 and shown[1, 1] == 5.0 and np.ma.is_masked(shown[0, 1])  # a dead neuron: no colour
    with pytest.raises(ValueError, match="one value per winner"):
        latent_map(np.array([0, 1]), np.array([1.0]), (2, 2))


@pytest.mark.parametrize("extra, needle", [
    (["--names", "one"], "--names: 1 names for 2 runs"),
    (["--out", "x.jpg"], "allowed is a .png path"),
])
def test_bad_input_is_one_line_and_nothing_written(runs, tmp_path, capsys, extra, needle):
    argv = ["--runs", *runs, "--out", str(tmp_path / "m.png"), *extra]
    assert lm.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("latent_maps: error:") and needle in err and err.count("\n") == 1
    assert not list(tmp_path.glob("m.*")) and not list(tmp_path.glob("x.*"))


def test_a_run_without_latents_or_readout_is_refused(runs, tmp_path, capsys):
    assert lm.main(["--runs", runs[0], "--readout", "--out", str(tmp_path / "m.png")]) == 2
    assert "has no readout" in capsys.readouterr().err
    assert lm.main(["--runs", str(tmp_path / "nothing"), "--out", str(tmp_path / "m.png")]) == 2
    assert "not a complete run" in capsys.readouterr().err
