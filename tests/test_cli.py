"""The command line: bad input is one line, exit 2, nothing written; a tiny run writes every result file."""

import json
import subprocess
import sys

import numpy as np
import pytest

from urlsom_book.cli import main

TINY = ["--grid", "5", "5", "--widths", "8", "--blocks", "1", "--epochs", "1", "--batch-size", "64", "--quiet"]


def _run(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--dataset", "foo"], "unknown kind 'foo'"),
        (["--dataset", "mnist:/no/such/dir"], "does not exist"),
        (["--dataset", "npz:/no/such.npz"], "does not exist"),
        (["--sigma", "0"], "sigma 0.0: allowed is sigma > 0"),
        (["--crop-min", "0"], "crop_min 0.0: allowed is 0 < crop_min <= 1"),
        (["--rotate", "-5"], "rotate -5.0: allowed is 0 <= rotate <= 180 (degrees)"),
        (["--collapse-weight", "0"], "collapse_weight 0.0: allowed is > 0"),
        (["--collapse-ramp-epochs", "-1"], "collapse_ramp_epochs -1: allowed is an integer >= 0"),
        (["--sigma", "-1"], "sigma -1.0"),
        (["--grid", "1", "5"], "grid 1x5: allowed is at least 2x2"),
        (["--batch-size", "1"], "batch_size 1: allowed is an integer >= 2"),
        (["--kernel-size", "41", "--grid", "10", "10"], "kernel_size 41: allowed is at most 19"),
        (["--kernel-size", "4"], "kernel_size 4: allowed is an odd integer"),
        (["--filter", "box"], "filter 'box': allowed is one of gaussian, student"),
        (["--device", "cuda:7"], "device 'cuda:7'"),
        (["--device", "tpu"], "device 'tpu'"),
        (["--holdout", "1.5"], "holdout 1.5"),
        (["--subset", "40", "--holdout", "0.2"], "holdout 0.2 of 40 images in 10 classes"),  # 8 held out < 10
        (["--subset", "10", "--holdout", "0.5"], "fewest 1 of one class"),
        (["--epochs", "0"], "epochs 0"),
        (["--invert-copy"], "invert_copy true with invert_fraction 0: allowed is invert_fraction > 0"),
        (["--config", "/no/such.yaml"], "config file /no/such.yaml: does not exist"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, args, needle):
    out = tmp_path / "run"
    code, err = _run(["train", "--out", str(out), *args], capsys)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_npz_without_arrays_nothing_written(tmp_path, capsys):
    f = tmp_path / "bad.npz"
    np.savez(f, pixels=np.zeros((4, 8, 8), np.uint8))
    out = tmp_path / "run"
    code, err = _run(["train", "--dataset", f"npz:{f}", "--out", str(out)], capsys)
    assert code == 2 and "missing array(s) ['images', 'labels']" in err and not out.exists()


def test_argparse_errors_are_one_line_exit_2():
    r = subprocess.run([sys.executable, "-m", "urlsom_book.cli", "train", "--out", "x", "--grid", "3"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "urlsom: error:" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_tiny_run_writes_everything_and_reuses(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--dataset", "digits", "--holdout", "0.2", "--out", str(out), *TINY])
    assert code == 0
    for name in ("config.json", "manifest.json", "history.jsonl", "checkpoint.pt", "metrics.json", "assignments.npz"):
        assert (out / name).exists(), name
    m = json.loads((out / "metrics.json").read_text())
    for key in ("neural_selectivity", "neural_selectivity_per_neuron", "active_neurons", "n_neurons",
                "heldout_neural_selectivity", "topographic_error", "contiguity", "contiguity_shuffled",
                "trustworthiness", "nmi", "ari"):
        assert key in m, key
    assert m["n_neurons"] == 25 and 1 <= m["active_neurons"] <= 25
    assert 1 <= m["output_spread"] <= 25  # the median participation ratio of the Softmax outputs
    prov = json.loads((out / "manifest.json").read_text())
    assert prov["status"] == "complete"
    for key in ("versions", "device", "seed", "git_commit"):
        assert key in prov["provenance"]
    assert prov["wall_time_s"] > 0
    a = np.load(out / "assignments.npz")
    assert a["winner"].shape == a["label"].shape == (m["n_samples"],)
    # NS recomputed from the assignments equals the reported one
    from urlsom_core.metrics import neural_selectivity

    assert neural_selectivity(a["winner"], a["label"], 25)["neural_selectivity"] == pytest.approx(m["neural_selectivity"])
    capsys.readouterr()
    assert main(["train", "--dataset", "digits", "--holdout", "0.2", "--out", str(out), *TINY]) == 0
    assert "reused" in capsys.readouterr().out
    code = main(["train", "--dataset", "digits", "--holdout", "0.2", "--out", str(out), *TINY[:-1], "--sigma", "3", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "another config" in err and "model.sigma" in err
    code = main(["evaluate", "--run", str(out), "--dataset", "digits", "--out", str(tmp_path / "eval.json")])
    assert code == 0
    ev = json.loads((tmp_path / "eval.json").read_text())
    assert ev["n_samples"] == 1797 and "provenance" in ev
