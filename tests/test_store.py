"""The run store's round trips: the training images read and their channel statistics computed once per run
(and not again to evaluate or predict), every result file hashed once, the readout kept in its own file, and a
run stored with the nested metrics layout read in the layout of ``evaluation.evaluate``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from urlsom_core import checkpoint as ckpt
from urlsom_core import data, runs
from urlsom_core.config import RunConfig
from urlsom_core.files import atomic_write, read_json, write_json
from urlsom_core.readouts import READOUT_FILE

CFG = {"data": {"dataset": "digits", "holdout": 0.2, "subset": 200},
       "model": {"grid": [5, 5], "widths": [8], "blocks": 1, "boundary": "circular", "usage_balance": True,
                 "prototype_readout": True},
       "train": {"epochs": 1, "batch_size": 32}}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A tiny run with both readouts, trained while counting the reads of the training images and the channel
    statistics computed; and an npz of other digits to evaluate it on."""
    root = tmp_path_factory.mktemp("store")
    reads, stats = [], []
    source, channel_stats = data._source, data.ImageData.channel_stats
    mp = pytest.MonkeyPatch()
    mp.setattr(data, "_source", lambda spec, cfg: reads.append(spec) or source(spec, cfg))
    mp.setattr(data.ImageData, "channel_stats", lambda self: stats.append(len(self)) or channel_stats(self))
    try:
        run = runs.train_run(RunConfig.from_dict(CFG), root / "run", device="cpu", progress=False, log=lambda s: None)
    finally:
        mp.undo()
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images[-300:] * 16).clip(0, 255).astype(np.uint8)
    np.savez(root / "other.npz", images=x, labels=d.target[-300:])
    return {"run": run, "root": root, "reads": reads, "stats": stats, "other": f"npz:{root / 'other.npz'}"}


def test_a_training_reads_its_images_and_computes_their_statistics_once(stored):
    run = stored["run"]
    assert stored["reads"] == ["digits"] and stored["stats"] == [160]  # the 160 training images, once
    st = read_json(run.path / "config.json")["resolved"]["channel_stats"]
    assert run.channel_stats() == (tuple(st["mean"]), tuple(st["std"]))
    assert run.channel_stats() == run.splits().train.channel_stats()  # the statistics of the run's own images


def _count_reads(monkeypatch):
    reads, stats = [], []
    source, channel_stats = data._source, data.ImageData.channel_stats
    monkeypatch.setattr(data, "_source", lambda spec, cfg: reads.append(spec) or source(spec, cfg))
    monkeypatch.setattr(data.ImageData, "channel_stats", lambda self: stats.append(len(self)) or channel_stats(self))
    return reads, stats


def test_evaluate_reads_the_training_set_at_most_once(stored, tmp_path, monkeypatch, capsys):
    from urlsom_book import cli

    reads, stats = _count_reads(monkeypatch)
    out = tmp_path / "eval.json"
    assert cli.main(["evaluate", "--run", str(stored["run"].path), "--dataset", stored["other"], "--out", str(out)]) == 0
    assert [s for s in reads if s == "digits"] == [] and len(reads) == 1 and stats == []  # the other data only
    m = json.loads(out.read_text())
    # the network's own figures first, the readout's beside them, each with held-out NS from the stored labels
    assert m["n_samples"] == 300 and m["readout"]["usage_balance"] and m["readout"]["prototype_readout"]
    for f in (m, m["readout"]):
        assert 0 <= f["heldout_neural_selectivity"] <= 1 and 1 <= f["active_neurons"] <= 25
    assert "read out with the usage-balancing bias and the prototype readout:" in capsys.readouterr().out
    # a run stored without its channel statistics computes them from its training images: one read
    old = _copy(stored["run"].path, tmp_path / "old")
    conf = read_json(old / "config.json")
    del conf["resolved"]["channel_stats"]
    write_json(old / "config.json", conf)
    _rehash(old)
    reads.clear()
    assert cli.main(["evaluate", "--run", str(old), "--dataset", stored["other"], "--out", str(tmp_path / "o.json")]) == 0
    assert reads.count("digits") == 1 and len(reads) == 2 and stats == [160]
    again = json.loads((tmp_path / "o.json").read_text())
    assert {k: v for k, v in again.items() if k not in ("run", "provenance")} == \
        {k: v for k, v in m.items() if k not in ("run", "provenance")}


def test_predict_reads_no_training_image(stored, monkeypatch):
    run = runs.Run.load(stored["run"].path)
    other = data.load_dataset(stored["other"], run.config.data, input_size=int(run.resolved["input_size"]))
    reads, stats = _count_reads(monkeypatch)
    out = run.predict(other, embed=True)
    assert reads == [] and stats == [] and out["embedding"].shape[0] == 300
    assert set(out) >= {"winner", "top2", "readout_winner", "readout_top2", "bias_top2"}


def test_every_result_file_is_hashed_once(stored, monkeypatch, tmp_path):
    digests = []
    sha = runs._sha256
    monkeypatch.setattr(runs, "_sha256", lambda p: digests.append(p.name) or sha(p))
    cfg, path = RunConfig.from_dict(CFG), stored["run"].path
    files = sorted([*runs.RESULT_FILES, READOUT_FILE])
    assert sorted(read_json(path / "manifest.json")["files"]) == files
    _copy(path, runs.run_dir(cfg, tmp_path / "store"))

    def hashed(call):
        digests.clear()
        return call(), sorted(digests)

    quiet = {"device": "cpu", "progress": False, "log": lambda s: None}
    for call in (lambda: runs.train_run(cfg, path, **quiet), lambda: runs.get_or_train(cfg, tmp_path / "store", **quiet),
                 lambda: runs.Run.load(path, cache_hit=True)):
        run, seen = hashed(call)
        assert run.cache_hit and seen == files  # each file once: the check, nothing more to load it
    run, seen = hashed(lambda: runs.get_or_train(cfg.replace(**{"train.seed": 1}), tmp_path / "other", **quiet))
    assert not run.cache_hit and seen == files  # a training: each file once, for its manifest


def _copy(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


def _rehash(path):
    man = read_json(path / "manifest.json")
    man["files"] = {name: runs._sha256(path / name) for name in man["files"] if (path / name).exists()}
    write_json(path / "manifest.json", man)


def test_a_run_stored_with_the_nested_layout_is_read_in_this_one(stored, tmp_path):
    """metrics.json with the network's figures under usage_balance.before / prototype_readout.before, the
    network's winners as network_winner and the readout's state in the checkpoint's model: read as a run of
    today's layout, with the same readout and the same predictions."""
    new = runs.Run.load(stored["run"].path)
    m, a, read = new.metrics, new.assignments(), new.metrics["readout"]
    old = _copy(new.path, tmp_path / "old")
    own = {k: m[k] for k in ("epochs_trained", "stop_reason", "train_seconds", "final_loss", "config_key",
                             "provenance", "n_samples")}
    shown = {k: v for k, v in read.items() if k not in ("usage_balance", "prototype_readout", "rounds", "bias_only")}
    before = {k: m[k] for k in ("neural_selectivity", "active_neurons", "heldout_neural_selectivity", "heldout_on_dead",
                                "topographic_error", "corner_over_representation", "border_over_representation",
                                "live_share", "usage_evenness", "corner_chance", "border_chance")}
    write_json(old / "metrics.json", {**own, **shown, "usage_balance": {"before": before},
                                      "prototype_readout": {"before": read["bias_only"], "rounds": read["rounds"]}})
    np.savez_compressed(old / "assignments.npz", winner=a["readout_winner"], top2=a["readout_top2"],
                        heldout_winner=a["readout_heldout_winner"], network_winner=a["winner"], label=a["label"],
                        heldout_label=a["heldout_label"])
    r = new.readout()
    ck = torch.load(old / "checkpoint.pt", map_location="cpu", weights_only=True)
    ck["model"].update({"head.usage_bias": r.bias, "head.prototypes": r.prototypes, "head.prototype_count": r.counts})
    ckpt.save(old, {k: v for k, v in ck.items() if k not in ("digest", "format")})
    (old / READOUT_FILE).unlink()
    (old / "checkpoint.prev.pt").unlink(missing_ok=True)
    _rehash(old)
    got = runs.Run.load(old)
    assert got.metrics["readout"] == read  # the nested file's top level is the map as read out, whole
    assert {k: got.metrics[k] for k in before} == before and "contiguity" not in got.metrics
    ga = got.assignments()
    assert sorted(ga) == ["heldout_label", "label", "readout_heldout_winner", "readout_top2", "readout_winner", "winner"]
    for k in ga:
        np.testing.assert_array_equal(ga[k], a[k])
    gr = got.readout()
    assert torch.equal(gr.bias, r.bias) and torch.equal(gr.prototypes, r.prototypes) and gr.rounds == r.rounds
    assert "head.usage_bias" not in got.load_model().state_dict()
    sp = new.splits()
    p_old, p_new = got.predict(sp.heldout), new.predict(sp.heldout)
    for k in p_new:
        np.testing.assert_array_equal(p_old[k], p_new[k])
    np.testing.assert_array_equal(p_new["readout_winner"], a["readout_heldout_winner"])


def test_a_readout_run_without_its_readout_file_is_not_complete(stored, tmp_path):
    old = _copy(stored["run"].path, tmp_path / "gone")
    (old / READOUT_FILE).unlink()
    assert runs.incomplete_reason(old) == f"{READOUT_FILE} is missing"
    atomic_write(old / READOUT_FILE, lambda fh: fh.write(b"not a readout"))
    assert runs.incomplete_reason(old) == f"{READOUT_FILE} does not match its recorded hash"


def test_config_json_says_what_the_training_mode_became_on_this_machine(stored):
    import torch

    from urlsom_core.train import training_mode

    run = stored["run"]
    got = read_json(run.path / "config.json")["resolved"]["training_mode"]
    assert got == training_mode(run.config, torch.device("cpu")).to_dict()
    assert set(got) == {"bf16", "channels_last", "compiled"} and got["channels_last"] is True  # auto: on a CPU
