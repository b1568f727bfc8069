"""The cifar10-cpu profile (CIFAR-10's 60,000 images at CPU scale) and what every map page shows: which profile built
it, whether its maps are the paper's method alone, readable table rows, a held-out run, the data check."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from urlsom_book import notebook, profiles, reproduce
from urlsom_core.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
ZIPS = ("data/cifar10-jpg/train.zip", "data/cifar10-jpg/test.zip")
MAP_PAGES = ("fig04_cifar10_map", "fig06_neuron_scatter", "fig07_cifar10_sigma", "fig08_svhn_map",
             "fig09_svhn_sigma10", "fig11_student_t")


def keys(prof, name):
    return reproduce.plan_keys(prof, name, prof.parameters(name))


# ------------------------------------------------------------------------------------------ the profile
def test_cifar10_cpu_trains_on_all_60000_images_on_the_papers_map_and_gives_a_reason_for_every_change():
    p = profiles.load_profile("cifar10-cpu")
    assert p.chain == ["cifar10-cpu", "quick", "paper"] and "2 hours" in p.rung
    cfg = p.runs["cifar10"].config()
    assert cfg.data.dataset == f"imagefolder:{ZIPS[0]}+imagefolder:{ZIPS[1]}" and cfg.data.eval_dataset is None
    assert (cfg.model.grid, cfg.model.sigma, cfg.model.usage_balance, cfg.model.prototype_readout) == ((30, 30), 5.0,
                                                                                                        False, False)
    assert (cfg.model.widths, cfg.model.blocks, cfg.train.batch_size, cfg.train.gamma) == ((16, 32, 64), 1, 128, 1.0)
    assert cfg.train.max_minutes is not None and cfg.train.amp_cpu == "auto"
    held = p.runs["cifar10_heldout"].config()
    assert (held.data.dataset, held.data.eval_dataset) == (f"imagefolder:{ZIPS[0]}", f"imagefolder:{ZIPS[1]}")
    assert held.diff(cfg) == [f"data.dataset: 'imagefolder:{ZIPS[0]}' != '{cfg.data.dataset}'",
                              f"data.eval_dataset: 'imagefolder:{ZIPS[1]}' != None"]  # nothing else differs
    for rname, own in p.changes.items():
        for k, s in own.items():
            assert s.why or s.paper or s.note, f"cifar10-cpu run {rname} {k} has no reason"
    for fig in ("study_kernel_amplitude", "study_gamma_sigma", "study_batch_size", "fig04_cifar10_map"):
        for k, s in p.figure(fig).items():
            assert k == "run" or s.why or s.paper or s.note, f"cifar10-cpu figure {fig} {k} has no reason"
    assert p.runs["svhn"].stands_in_for == "SVHN" and "no SVHN copy" in p.runs["svhn"].data_label


def test_cifar10_cpu_shares_runs_as_the_paper_does_and_trains_seven_maps_of_cifar10():
    p = profiles.load_profile("cifar10-cpu")
    k = {n: keys(p, n) for n in MAP_PAGES + ("fig05_cifar10_loss", "study_gamma_sigma", "study_batch_size",
                                             "study_lattice")}
    assert len(k["fig04_cifar10_map"]) == 3  # seeds 0 and 1, then the held-out run
    assert k["fig05_cifar10_loss"] == k["fig06_neuron_scatter"] == k["fig04_cifar10_map"][:1]  # Fig. 4 seed 0 = 5 = 6
    cifar = set(k["fig04_cifar10_map"]) | set(k["fig07_cifar10_sigma"]) | set(k["fig11_student_t"])
    assert len(cifar) == 7
    quick = profiles.load_profile("quick")
    assert k["study_gamma_sigma"] == k["study_batch_size"] == keys(quick, "fig04_cifar10_map")[:1]  # the digits run
    assert k["study_lattice"] == k["study_batch_size"]  # its square run; the hexagonal one is trained by the page
    assert k["fig08_svhn_map"] == keys(quick, "fig08_svhn_map")  # the quick profile's stand-in, the same run


def test_a_run_may_start_from_another_run_of_the_parent(tmp_path):
    p = profiles.load_profile("cifar10-cpu")
    assert p.runs["digits"].config() == profiles.load_profile("quick").runs["cifar10"].config()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nextends: quick\nruns:\n  x: {from: nothing}\n")
    with pytest.raises(ConfigError, match="run 'x' from 'nothing': allowed are the parent's runs"):
        profiles.load_profile(str(bad))
    bad.write_text("name: bad\nextends: quick\nfigures:\n  fig04_cifar10_map: {heldout_run: nothing}\n")
    with pytest.raises(ConfigError, match="heldout_run 'nothing': allowed are"):
        profiles.load_profile(str(bad))


@pytest.fixture
def cifar_zips(tmp_path, monkeypatch):
    """Two small ImageFolder zips where the profile reads CIFAR-10 (paths relative to the working directory),
    so that the profile's configs resolve without the real data."""
    import zipfile

    monkeypatch.chdir(tmp_path)
    for rel, top in zip(ZIPS, ("train", "test"), strict=True):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w") as z:
            for c in ("airplane", "cat"):
                z.writestr(f"{top}/{c}/0.png", PNG)
    return tmp_path


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 30, 200)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()


def test_the_held_out_run_follows_the_notebooks_knobs_but_keeps_its_data(cifar_zips):
    fs = notebook.setup("fig04_cifar10_map", "cifar10-cpu", sigma=3.0, seeds=[4, 5], heldout_run=None, dataset=None)
    held = fs.heldout_config()  # heldout_run None: the profile's, as a notebook's parameters cell leaves it
    assert held.model.sigma == 3.0 and held.train.seed == 4  # the knobs, and the first seed
    assert held.data.dataset == f"imagefolder:{ZIPS[0]}" and held.data.eval_dataset == f"imagefolder:{ZIPS[1]}"
    assert [c.key() for c in fs.configs()] == [c.key() for c in fs.figure_configs()] + [held.key()]
    other = notebook.setup("fig04_cifar10_map", "cifar10-cpu", dataset="digits", heldout_run=None)
    assert other.params["heldout_run"] == "cifar10_heldout" and other.heldout_config() is None  # not of its data
    quick = notebook.setup("fig04_cifar10_map", "quick", heldout_run=None, dataset=None, seeds=None)
    assert quick.heldout_config() is None and len(quick.configs()) == 2  # the quick profile has none


# ------------------------------------------------------------------------------------------ the data
def test_missing_data_is_one_line_naming_the_files_and_where_before_anything_runs(tmp_path):
    prof = profiles.load_profile("cifar10-cpu")
    with pytest.raises(ConfigError) as e:
        reproduce.check_data(prof, ["fig04_cifar10_map"], tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "data/cifar10-jpg/train.zip, which is missing" in msg
    assert "put CIFAR-10 as JPEG in class folders: data/cifar10-jpg/train.zip" in msg and "test.zip" in msg
    for z in ZIPS:
        (tmp_path / z).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / z).write_bytes(b"")
    reproduce.check_data(prof, ["fig04_cifar10_map", "fig07_cifar10_sigma", "fig11_student_t"], tmp_path)
    (tmp_path / ZIPS[1]).unlink()
    with pytest.raises(ConfigError, match="test.zip, which is missing"):  # the held-out run reads it alone
        reproduce.check_data(prof, ["fig04_cifar10_map"], tmp_path)
    reproduce.check_data(prof, ["fig08_svhn_map", "fig03_loss_landscape"], tmp_path)  # digits: nothing to find


def test_urlsom_reproduce_without_the_data_exits_2_with_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text((ROOT / "_toc.yml").read_text())
    for src in (ROOT / "notebooks").glob("*.py"):
        (tmp_path / "notebooks" / src.name).write_text(src.read_text())
    proc = subprocess.run([sys.executable, "-m", "urlsom_book.cli", "reproduce", "--profile", "cifar10-cpu", "--root",
                           str(tmp_path), "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "executed")],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("urlsom: error: profile 'cifar10-cpu' reads data/cifar10-jpg/")
    assert not (tmp_path / "executed").exists() and not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------------------ the pages
def test_each_page_says_which_profile_built_it_and_whether_its_maps_are_the_papers_method_alone(cifar_zips):
    quick = notebook.setup("fig04_cifar10_map", "quick")
    assert quick.page_note.startswith("Built by the profile `quick`: scikit-learn's digits")
    lead = "**The paper's map, with a readout beside it**: the maps drawn and the numbers quoted are the network's own"
    assert lead in quick.page_note and "usage-balancing bias" in quick.page_note
    assert "in one sentence beside them" in quick.page_note and "read out" not in quick.data_note
    cifar = notebook.setup("fig04_cifar10_map", "cifar10-cpu")
    assert cifar.page_note == f"Built by the profile `cifar10-cpu`: {cifar.profile.rung}."
    svhn = notebook.setup("fig08_svhn_map", "cifar10-cpu")  # the digits stand-in, a bias fitted beside its map
    assert lead in svhn.page_note and "standing in for SVHN" in svhn.data_note
    assert "readout" not in notebook.setup("fig03_loss_landscape", "quick").page_note
    for src in sorted((ROOT / "notebooks").glob("*.py")):
        if src.stem.startswith(("fig", "study")):
            first = notebook.markdown_cells(src.stem, ROOT)[0].split("\n\n")
            assert first[1] == "{glue:md}`page_note`", f"{src.stem}: the page note is not its first line"


def reported_keys(src: Path) -> set[str]:
    """The keys of the dicts a notebook passes to nb.report (literal dicts, and those it builds as `numbers`)."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.Dict):
            keys |= {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "numbers" \
                and isinstance(node.slice, ast.Constant):
            keys.add(node.slice.value)
    return keys


def test_every_number_a_figure_page_reports_has_a_readable_name():
    for fig, numbers in profiles.paper_profile().reported.items():  # the paper's numbers get a row on every page
        if fig != "text":
            assert set(numbers) <= set(notebook.LABELS), (fig, set(numbers) - set(notebook.LABELS))
    for src in sorted((ROOT / "notebooks").glob("fig*.py")):
        missing = {k for k in reported_keys(src) if k not in notebook.LABELS and not k.endswith("_note")}
        assert not missing, f"{src.stem} reports {sorted(missing)} without a name in urlsom_book.notebook.LABELS"


def test_map_pages_draw_class_map_and_scatter_and_a_mosaic_of_each_neurons_own_image(tmp_path):
    from urlsom_core.config import RunConfig
    from urlsom_core.runs import get_or_train

    cfg = RunConfig.from_dict({"data": {"subset": 120}, "model": {"grid": [3, 3], "widths": [4], "blocks": 1},
                               "train": {"epochs": 1, "batch_size": 40}})
    run = get_or_train(cfg, root=tmp_path / "runs", progress=False, log=lambda *a: None)
    fs = notebook.FigureSetup("fig04_cifar10_map", profiles.load_profile("tiny"), None, {}, "cpu", tmp_path / "runs",
                              tmp_path / "out")
    images, picks = fs.map_inputs(run)
    w = run.assignments()["winner"]
    assert images.shape == (120, 1, 16, 16) and picks.shape == (9,)
    for j, i in enumerate(picks):  # each neuron shows one of its own images; a dead one none
        assert (i == -1) == (j not in set(w.tolist())) and (i == -1 or w[i] == j)
    fig = fs.map_figure([run, run], ["seed 0", "seed 1"])
    assert len(fig.axes) == 4 and fig.axes[2].get_title().startswith("seed 1: NS ")  # a row per run, two panels
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert set(legend) - {"dead neuron (won no image)"} <= {str(d) for d in range(10)}  # the digits' class names
    mosaic = fs.mosaic_figure(run, "seed 0").axes[0]
    assert np.asarray(mosaic.images[0].get_array()).shape[:2] == (3 * 17 - 1, 3 * 17 - 1)  # 16 px + 1 gap
