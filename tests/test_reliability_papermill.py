"""Bad parameters through papermill fail in the notebook's first cell with the CLI's own message.

A figure notebook is converted with jupytext and run by the papermill command line with ``-p sigma -1``
and with an unknown dataset. The first code cell after the injected parameters must raise ConfigError
with exactly the text ``urlsom train`` prints after ``urlsom: error:``; no later cell may run and nothing
may be written (no run store, no figure folder).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from urlsom_book import cli

pytestmark = pytest.mark.slow  # executes a notebook with papermill (half a minute)

ROOT = Path(__file__).resolve().parents[1]
PREFERRED = ROOT / "notebooks" / "fig04_cifar10_map.py"
CASES = {
    "sigma": (["-p", "sigma", "-1"], ["--sigma", "-1"]),
    "dataset": (["-p", "dataset", "nosuch"], ["--dataset", "nosuch"]),
}


def _notebook() -> Path:
    """fig04 when it is there, else any figure notebook that takes both a ``sigma`` and a ``dataset``."""
    if PREFERRED.exists():
        return PREFERRED
    for p in sorted((ROOT / "notebooks").glob("fig*.py")):
        text = p.read_text()
        if "\nsigma" in text and "\ndataset" in text:
            return p
    raise AssertionError("no figure notebook under notebooks/ takes sigma and dataset parameters")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    import jupytext

    tmp = tmp_path_factory.mktemp("papermill")
    src = _notebook()
    ipynb = tmp / f"{src.stem}.ipynb"
    jupytext.write(jupytext.read(src), ipynb, fmt="ipynb")
    env = dict(os.environ, URLSOM_THREADS="1")
    procs = {}
    for name, (params, _) in CASES.items():
        out = tmp / f"{name}.ipynb"
        cmd = [sys.executable, "-m", "papermill", str(ipynb), str(out), *params, "-p", "runs_root", str(tmp / f"runs_{name}"),
               "-p", "out_dir", str(tmp / f"out_{name}"), "--no-progress-bar", "--cwd", str(tmp)]
        procs[name] = (out, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    results = {}
    for name, (out, p) in procs.items():
        _, err = p.communicate(timeout=300)
        results[name] = (p.returncode, err, out)
    return tmp, results


@pytest.mark.parametrize("case", list(CASES))
def test_bad_parameter_fails_in_the_first_cell_with_the_cli_message(executed, case, tmp_path, capsys):
    tmp, results = executed
    rc, err, out = results[case]
    assert cli.main(["train", "--out", str(tmp_path / "cli"), *CASES[case][1]]) == cli.EXIT_BAD_INPUT
    cli_line = capsys.readouterr().err.strip()
    assert cli_line.startswith("urlsom: error: ") and "\n" not in cli_line
    message = cli_line.removeprefix("urlsom: error: ")
    assert not (tmp_path / "cli").exists()

    assert rc != 0
    assert f"ConfigError: {message}" in err
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    inj = next(i for i, c in enumerate(code) if "injected-parameters" in c.metadata.get("tags", []))
    first = code[inj + 1]
    errors = [o for o in first.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "ConfigError" and errors[0]["evalue"] == message
    assert all(c.get("execution_count") is None for c in code[inj + 2:]), "cells after the failing one ran"
    assert not (tmp / f"runs_{case}").exists() and not (tmp / f"out_{case}").exists(), "something was written"
