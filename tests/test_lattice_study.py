"""bench/lattice_study.py: the configs of each pair, the table, bad input, and (slow) a tiny end-to-end study."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("lattice_study", ROOT / "bench" / "lattice_study.py")
ls = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ls)

TINY = ["--study", "digits", "--seeds", "0", "--set", "train.epochs=1", "--set", "model.grid=[6,6]",
        "--set", "model.widths=[8]"]


def test_each_digits_pair_differs_only_in_the_lattice():
    from urlsom_book.profiles import load_profile

    jobs = ls.digits_configs(ls.parse_args(["--out", "x", "--seeds", "0", "2"]))
    assert [(lat, s) for lat, s, _ in jobs] == [("square", 0), ("hex", 0), ("square", 2), ("hex", 2)]
    fig4 = load_profile("quick").runs["cifar10"].config()
    for lat, s, cfg in jobs:
        assert cfg.model.lattice == lat and cfg.train.seed == s and cfg.data.holdout == 0.2
        assert not cfg.model.usage_balance  # fitted after training, it leaves the network as it is
        back = {"model.lattice": "square", "train.seed": 0, "data.holdout": 0.0, "model.usage_balance": True}
        assert cfg.replace(**back) == fig4
    assert jobs[0][2].diff(jobs[1][2]) == ["model.lattice: 'square' != 'hex'"]


def test_cifar_flags_fix_the_epochs_and_the_cap_for_both_lattices():
    a = ls.parse_args(["--out", "x", "--epochs", "7", "--max-minutes", "8"])
    sq, hx = ls.cifar_flags(a, "square"), ls.cifar_flags(a, "hex")
    assert sq[:-1] == hx[:-1] and (sq[-1], hx[-1]) == ("square", "hex")
    assert sq[sq.index("--epochs") + 1] == "7" and sq[sq.index("--max-minutes") + 1] == "8"
    assert sq[sq.index("--subset") + 1] == "10000" and sq[sq.index("--eval-subset") + 1] == "2000"


def test_table_rows_means_and_the_paired_difference():
    def row(lat, seed, ns, te, live, rc=0):
        g = {"neural_selectivity": ns, "heldout_neural_selectivity": ns - 0.2, "topographic_error": te,
             "te_distance_1": None if lat == "hex" else 2 * te, "active_neurons": live, "epochs": 30,
             "stop": "max epochs", "minutes": 1.0}
        return {"lattice": lat, "seed": seed, "rc": rc, "figures": g if rc == 0 else {}}

    rows = [row("square", 0, 0.9, 0.01, 500), row("hex", 0, 0.95, 0.02, 520),
            row("square", 1, 0.8, 0.03, 480), row("hex", 1, 0.8, 0.01, 470), row("hex", 2, 0.0, 0.0, 0, rc=1)]
    md = ls.table(rows)
    assert md[2] == "| square | 0 | 30 (max epochs) | 0.900 | 0.700 | 0.010 | 0.020 | 500 | 1.0 |"
    assert md[3] == "| hex | 0 | 30 (max epochs) | 0.950 | 0.750 | 0.020 | - | 520 | 1.0 |"
    assert md[6].endswith("exit 1")
    assert md[7] == ("| **square, mean (sd)** | 2 run(s) | | 0.850 (0.071) | 0.650 (0.071) | 0.020 (0.014) "
                     "| 0.040 (0.028) | 490.0 (14.1) | |")
    assert md[8].startswith("| **hex, mean (sd)** | 2 run(s) | | 0.875 (0.106) |")
    assert md[9] == ("| **hex - square, mean [min, max]** | 2 seed(s) | | +0.025 [+0.000, +0.050] "
                     "| +0.025 [+0.000, +0.050] | -0.005 [-0.020, +0.010] | - | +5.0 [-10.0, +20.0] | |")


@pytest.mark.parametrize("args,needle", [
    (["--study", "hexagons"], "--study 'hexagons': allowed is one of digits, cifar10, all"),
    (["--epochs", "0"], "--epochs 0: allowed is an integer >= 1"),
    (["--max-minutes", "-1"], "--max-minutes -1.0: allowed is > 0"),
    (["--seeds", "-2"], "seed -2: allowed is an integer >= 0"),
    (["--study", "cifar10", "--cifar-train", "imagefolder:/no/such.zip"], "does not exist"),
    (["--study", "digits", "--set", "model.lattice_x=1"], "ModelConfig fields ['lattice_x']"),
    (["--study", "digits", "--set", "model.boundary=reflect"], "boundary 'reflect' with lattice hex"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, args, needle):
    assert ls.main(["--out", str(tmp_path / "o"), "--runs", str(tmp_path / "r")] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("lattice_study: error: ") and needle in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists() and not (tmp_path / "r").exists()


@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path):
    assert ls.main(["--out", str(tmp_path / "o"), "--runs", str(tmp_path / "r")] + TINY) == 0
    res = json.loads((tmp_path / "o" / "hex_vs_square.json").read_text())
    rows = res["studies"]["digits"]
    assert [r["lattice"] for r in rows] == ["square", "hex"] and all(r["figures"]["epochs"] == 1 for r in rows)
    assert rows[0]["config_key"] != rows[1]["config_key"]
    assert all(0.0 <= r["figures"]["te_distance_1"] <= 1.0 for r in rows)
    assert rows[0]["figures"]["te_distance_1"] >= rows[0]["figures"]["topographic_error"]  # 4 neighbours, not 8
    md = (tmp_path / "o" / "hex_vs_square.md").read_text()
    assert "| **hex - square, mean [min, max]** | 1 seed(s) |" in md and "--config" in md
    assert (tmp_path / "o" / "digits_hex_seed0.yaml").is_file()


RESULTS = ROOT / "bench" / "results" / "lattice"


@pytest.mark.skipif(not (RESULTS / "hex_vs_square.json").is_file(), reason="no committed results")
def test_the_committed_results_name_their_configs(monkeypatch):
    """Every digits run of the committed table is its config file beside it (the command's --config), and each
    pair differs only in the lattice."""
    from urlsom_book.cli import build_parser, config_from_args

    monkeypatch.chdir(ROOT)
    res = json.loads((RESULTS / "hex_vs_square.json").read_text())
    rows = res["studies"]["digits"]
    assert sorted({r["seed"] for r in rows}) == [0, 1, 2] and all(r["rc"] == 0 for r in rows)
    for r in rows:
        # trained before the training mode defaulted to auto: float32, NCHW, eager, as these flags say
        then = ["--no-amp-cpu", "--no-channels-last", "--no-compile"]
        cfg = config_from_args(build_parser().parse_args(["train", *r["command"].split()[2:], *then]))
        assert cfg.key() == r["config_key"] and cfg.model.lattice == r["lattice"] and cfg.train.seed == r["seed"]
    cifar = res["studies"]["cifar10"]
    assert [r["lattice"] for r in cifar] == ["square", "hex"]
    assert cifar[0]["figures"]["epochs"] == cifar[1]["figures"]["epochs"]  # the same training length
    assert all(r["figures"]["stop"] == "max epochs" for r in cifar)
