"""The paper profile end to end on a CPU: every notebook of ``urlsom reproduce --profile paper``, with CIFAR-10
and SVHN given as tiny files in their real on-disk formats (torchvision's python batches, SVHN's .mat) and the
network, map and epochs shrunk by a profile that ``extends: paper``. Checks the wiring, not the numbers."""

import json
import socket
import time
from pathlib import Path

import pytest
from test_data_offline import write_cifar, write_svhn

from urlsom_book import cli

ROOT = Path(__file__).resolve().parents[1]
SMALL = """\
name: paper-smoke
extends: paper
about: the paper's profile on tiny CIFAR-10 / SVHN files and a tiny network, for a CPU smoke test
device: cpu
runs:
  cifar10:
    settings:
      data.dataset: {{value: "cifar10:{c10}", why: "tiny python batches written by the test"}}
      model.grid: &g {{value: [6, 6], why: "seconds, not minutes"}}
      model.widths: &w {{value: [8], why: "seconds, not minutes"}}
      model.blocks: &b {{value: 1, why: "seconds, not minutes"}}
      train.epochs: &e {{value: 2, why: "seconds, not minutes"}}
      train.batch_size: &s {{value: 16, why: "a few steps per epoch on 60 images"}}
  svhn:
    settings:
      data.dataset: {{value: "svhn:{svhn}", why: "tiny .mat files written by the test"}}
      model.grid: *g
      model.widths: *w
      model.blocks: *b
      train.epochs: *e
      train.batch_size: *s
figures:
  study_gamma_sigma:
    gammas: {{value: [1.0, 2.0], why: "seconds, not minutes"}}
    sigmas: {{value: [1.0, 3.0], why: "seconds, not minutes"}}
  study_batch_size:
    grid: {{value: [6, 6], why: "seconds, not minutes"}}
    batch_sizes: {{value: [8, 16, 32], why: "batches of at most half the 60 images"}}
"""


@pytest.mark.slow
def test_every_paper_notebook_runs_on_tiny_files_in_the_real_formats(tmp_path, capsys, monkeypatch):
    write_cifar(tmp_path / "c10", n=10)
    write_svhn(tmp_path / "svhn", n_train=40, n_test=20)
    prof = tmp_path / "paper-smoke.yaml"
    prof.write_text(SMALL.format(c10=tmp_path / "c10", svhn=tmp_path / "svhn"))

    def refuse(*a, **k):  # this process; the notebook kernels read the files, which never download
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    runs, out = tmp_path / "runs", tmp_path / "executed"
    t0 = time.time()
    code = cli.main(["reproduce", "--profile", str(prof), "--runs", str(runs), "--out", str(out), "--root", str(ROOT),
                     "--jobs", "2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["notebooks"] and all(n["status"] == "ok" for n in summary["notebooks"]), printed
    datasets = {json.loads((d / "config.json").read_text())["config"]["data"]["dataset"] for d in runs.iterdir()}
    assert datasets == {f"cifar10:{tmp_path / 'c10'}", f"svhn:{tmp_path / 'svhn'}"}
    print(f"paper profile smoke: {len(summary['notebooks'])} notebooks in {time.time() - t0:.0f} s")
