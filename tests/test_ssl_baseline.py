"""urlsom_book.ssl_baseline: lightly's SimSiam on the run's backbone, augmentations and data, at a wall-clock
budget, scored by lightly's kNN beside URL-SOM's backbone; the result file carries its provenance."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("lightly", reason="the SimSiam baseline needs lightly (pip install -e '.[baselines]')")

from urlsom_book import ssl_baseline as S  # noqa: E402

TINY = ["--dataset", "digits", "--holdout", "0.25", "--widths", "8", "16", "--blocks", "1", "--grid", "5", "5",
        "--batch-size", "64", "--device", "cpu", "--threads", "1", "--quiet"]


def test_knn_accuracy_is_lightlys_weighted_vote():
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(40, 6)).astype(np.float32)
    yb = rng.integers(0, 3, 40)
    query = rng.normal(size=(15, 6)).astype(np.float32)
    yq = rng.integers(0, 3, 15)
    # by hand: cosine similarities, the k most similar, votes weighted by exp(sim / t), the largest wins
    nb = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    nq = query / np.linalg.norm(query, axis=1, keepdims=True)
    sim = nq @ nb.T
    pred = []
    for row in sim:
        top = np.argsort(-row)[:7]
        votes = np.zeros(3)
        np.add.at(votes, yb[top], np.exp(row[top] / 0.1))
        pred.append(votes.argmax())
    expected = float((np.array(pred) == yq).mean())
    assert S.knn_accuracy(bank, yb, query, yq, 3, k=7, t=0.1) == pytest.approx(expected)
    assert S.knn_accuracy(bank, yb, query, yq, 3, k=7, t=0.1, chunk=4) == pytest.approx(expected)  # chunked alike


def test_knn_separates_separated_classes_and_caps_k_at_the_bank():
    bank = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], dtype=np.float32)
    assert S.knn_accuracy(bank, np.array([0, 0, 1, 1]), np.array([[1, 0.05], [0.05, 1]]), np.array([0, 1]), 2,
                          k=200) == 1.0


def test_cosine_lr_anneals_over_the_budget():
    assert S.cosine_lr(0.12, 0.0) == 0.12 and S.cosine_lr(0.12, 0.5) == pytest.approx(0.06)
    assert S.cosine_lr(0.12, 1.0) == 0.0 and S.cosine_lr(0.12, 3.0) == 0.0


def test_settings_refuse_bad_values_in_one_line():
    from urlsom_core.config import ConfigError

    for bad, match in (({"minutes": 0}, "minutes 0: allowed is a number > 0"),
                       ({"minutes": 1, "knn_k": 0}, "knn_k 0"), ({"minutes": 1, "knn_fraction": 1.0}, "knn_fraction")):
        with pytest.raises(ConfigError, match=match):
            S.SimSiamSettings(**bad)


def test_a_tiny_budget_on_digits_trains_scores_above_chance_and_records_provenance(tmp_path, capsys):
    out = tmp_path / "simsiam.json"
    assert S.main([*TINY, "--minutes", "0.15", "--out", str(out)]) == 0  # 9 s: epochs enough on a busy machine
    r = json.loads(out.read_text())
    s = r["simsiam"]
    assert s["steps"] >= 1 and s["train_seconds"] >= 3.0 and s["images_seen"] == 64 * s["steps"]
    assert s["knn_accuracy"] > 2 * r["data"]["chance"]  # ten digit classes: chance about 0.1
    assert s["history"][-1]["loss"] < s["history"][0]["loss"]  # SimSiam's loss falls (towards -1)
    assert r["random_init"]["knn_accuracy"] > 0 and r["urlsom"] is None
    assert r["data"]["knn_bank"] + r["data"]["knn_queries"] == 1797 and "held-out" in r["protocol"]
    assert r["config"]["model"]["widths"] == [8, 16] and r["config"]["data"]["holdout"] == 0.25
    p = r["provenance"]
    assert p["seed"] == r["config"]["train"]["seed"] and p["device"] == "cpu" and p["git_commit"]
    assert p["versions"]["lightly"] == "1.6.0" and p["versions"]["torch"] and p["wall_time_s"] > 0
    assert r["command"].startswith("python -m urlsom_book.ssl_baseline --dataset digits")
    assert "| SimSiam (lightly), trained for the budget |" in capsys.readouterr().out


def test_beside_a_stored_run_the_same_knn_scores_its_backbone(tmp_path):
    from urlsom_core.config import RunConfig
    from urlsom_core.runs import get_or_train

    cfg = RunConfig.from_dict({"data": {"dataset": "digits", "holdout": 0.25},
                               "model": {"grid": [5, 5], "widths": [8, 16], "blocks": 1},
                               "train": {"epochs": 1, "batch_size": 64, "monitor_samples": 64}})
    run = get_or_train(cfg, root=tmp_path / "runs", device="cpu", progress=False, log=lambda s: None)
    out = tmp_path / "r.json"
    assert S.main(["--run", str(run.path), "--minutes", "0.03", "--device", "cpu", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    u = r["urlsom"]
    assert u["run"] == str(run.path) and u["same_data"] and 0.0 < u["knn_accuracy"] <= 1.0
    assert u["neural_selectivity"] == pytest.approx(run.metrics["neural_selectivity"])
    assert r["config_key"] == cfg.key()  # the run's own config: backbone, augmentation, data, seed
    assert r["data"]["knn_queries"] == len(run.assignments()["heldout_label"])


@pytest.mark.parametrize("argv, says", [
    ([*TINY, "--minutes", "0", "--out", "OUT"], "--minutes 0: allowed is a number > 0"),
    ([*TINY, "--out", "OUT"], "--minutes: required without --run"),
    ([*TINY, "--minutes", "1", "--out", "/nonexistent/r.json"], "folder /nonexistent does not exist"),
    (["--run", "NOTARUN", "--minutes", "1", "--out", "OUT"], "not a complete run"),
    ([*TINY, "--minutes", "1", "--knn-k", "0", "--out", "OUT"], "knn_k 0"),
    (["--dataset", "nope", "--minutes", "1", "--out", "OUT"], "unknown kind 'nope'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, says):
    argv = [a.replace("OUT", str(tmp_path / "r.json")).replace("NOTARUN", str(tmp_path)) for a in argv]
    assert S.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("urlsom: error: ") and says in err and "\n" not in err
    assert not (tmp_path / "r.json").exists()


def test_run_takes_only_data_flags(tmp_path, capsys):
    from urlsom_core.config import RunConfig
    from urlsom_core.runs import get_or_train

    cfg = RunConfig.from_dict({"model": {"grid": [4, 4], "widths": [8], "blocks": 1},
                               "train": {"epochs": 1, "batch_size": 64, "monitor_samples": 32}, "data": {"subset": 200}})
    run = get_or_train(cfg, root=tmp_path / "runs", device="cpu", progress=False, log=lambda s: None)
    assert S.main(["--run", str(run.path), "--widths", "16", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "--widths with --run" in err and "--subset" in err
