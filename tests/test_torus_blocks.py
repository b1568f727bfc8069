"""bench/torus_blocks.py on a constructed run store: a toroidal run whose corners win every sample, one whose
samples are even, a zero-padded run (left out: its translates are not alike), and bad input."""

import importlib.util
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _mod():
    spec = importlib.util.spec_from_file_location("bench_torus_blocks", ROOT / "bench" / "torus_blocks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(d: Path, winners, boundary="circular"):
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"config": {"model": {"grid": [4, 4], "boundary": boundary}}}))
    np.savez(d / "assignments.npz", winner=np.asarray(winners))


def test_the_table_of_a_constructed_store(tmp_path, capsys):
    _run(tmp_path / "corner", [0, 3, 12, 15] * 4)     # the corners win all 16 samples
    _run(tmp_path / "even", list(range(16)))          # one sample per neuron
    _run(tmp_path / "plane", [0, 3, 12, 15], "zeros")
    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps({"runs": {k: {"path": str(tmp_path / k), "figures": [f"fig_{k}"]}
                                            for k in ("corner", "even", "plane", "gone")}}))
    out = tmp_path / "out"
    assert _mod().main(["--summary", str(summary), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the corners: 4x their share, 1 of 16 translates as high, the one block of 16 over 2x; the outer ring
    # (12 of 16 neurons) holds every sample, as do 7 of its 16 translates
    assert lines[2] == "| corner | fig_corner | 4.00 | 0.06 | 6.2% | 1.33 | 0.44 |"
    assert lines[3] == "| even | fig_even | 1.00 | 1.00 | 0.0% | 1.00 | 1.00 |"
    assert len(lines) == 6 and lines[5].startswith("2 toroidal runs. Corner chance: mean 0.53")
    rows = json.loads((out / "torus_blocks.json").read_text())["rows"]
    assert [r["run"] for r in rows] == ["corner", "even"]
    assert "git_commit" in json.loads((out / "torus_blocks.json").read_text())["provenance"]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert _mod().main(["--summary", str(tmp_path / "none.json"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"--summary {tmp_path / 'none.json'}: not a summary.json of `urlsom reproduce` (run `make book` first)"
    assert not (tmp_path / "out").exists()
