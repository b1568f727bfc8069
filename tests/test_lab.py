"""JupyterLab's contents manager for this checkout (urlsom_book.lab): a figure notebook read as the browser
reads it carries its kernel's language_info (so opening it changes nothing), and saving it writes the same
bytes (the header keeps no version). The browser side is tests/test_lab_browser.py."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("jupytext", reason="needs jupytext (book extra)")
pytest.importorskip("jupyter_server", reason="needs jupyter_server (book extra)")

from urlsom_book import lab  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "fig07_cifar10_sigma.py"


def test_language_info_is_known_only_for_an_ipykernel_on_this_interpreter(tmp_path):
    from ipykernel.ipkernel import IPythonKernel

    info = lab.kernel_language_info(["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    assert info == IPythonKernel.language_info and info is not IPythonKernel.language_info
    assert info["version"] == sys.version.split()[0]
    assert lab.kernel_language_info([sys.executable, "-m", "ipykernel_launcher"]) == info
    assert lab.kernel_language_info(["python", "-m", "some_other_kernel"]) is None
    assert lab.kernel_language_info([str(tmp_path / "python9"), "-m", "ipykernel_launcher"]) is None  # not this one
    assert lab.kernel_language_info([]) is None


def test_fill_language_info_keeps_what_the_notebook_has():
    meta: dict = {}
    assert lab.fill_language_info(meta, {"name": "python"}) and meta == {"language_info": {"name": "python"}}
    assert not lab.fill_language_info(meta, {"name": "other"}) and meta["language_info"] == {"name": "python"}
    assert not lab.fill_language_info({}, None)


def _manager(root: Path) -> lab.TextNotebookContentsManager:
    return lab.TextNotebookContentsManager(root_dir=str(root))


def test_a_text_notebook_is_read_with_its_kernels_language_info_and_saved_byte_for_byte(tmp_path):
    from ipykernel.ipkernel import IPythonKernel

    shutil.copy(ROOT / "notebooks" / NOTEBOOK, tmp_path / NOTEBOOK)
    before = (tmp_path / NOTEBOOK).read_bytes()
    cm = _manager(tmp_path)
    model = asyncio.run(cm.get(NOTEBOOK))
    assert model["type"] == "notebook"
    assert model["content"]["metadata"]["language_info"] == IPythonKernel.language_info
    listing = asyncio.run(cm.get(NOTEBOOK, content=False))  # the file browser's listing reads no content
    assert listing.get("content") is None
    # what JupyterLab sends back on save (the kernel's language_info in it) writes the same bytes
    asyncio.run(cm.save(model, NOTEBOOK))
    assert (tmp_path / NOTEBOOK).read_bytes() == before
    assert b"language_info:" not in before and b"jupytext_version:" not in before  # no versions in the header


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "notebooks").glob("*.py")))
def test_every_notebook_opens_with_language_info_and_saves_unchanged(tmp_path, name):
    shutil.copy(ROOT / "notebooks" / name, tmp_path / name)
    shutil.copy(ROOT / "notebooks" / "jupytext.toml", tmp_path)  # served beside them, as make lab serves notebooks/
    before = (tmp_path / name).read_bytes()
    cm = _manager(tmp_path)
    model = asyncio.run(cm.get(name))
    assert model["content"]["metadata"]["language_info"]["name"] == "python"
    asyncio.run(cm.save(model, name))
    assert (tmp_path / name).read_bytes() == before


def test_other_notebooks_are_left_as_they_are(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    (tmp_path / "a.ipynb").write_text(nbformat.writes(nb))
    text = (ROOT / "notebooks" / NOTEBOOK).read_text().replace("name: python3", "name: no-such-kernel")
    (tmp_path / "b.py").write_text(text)
    (tmp_path / "c.txt").write_text("plain")
    cm = _manager(tmp_path)
    assert "language_info" not in asyncio.run(cm.get("a.ipynb"))["content"]["metadata"]  # .ipynb: as stored
    assert "language_info" not in asyncio.run(cm.get("b.py"))["content"]["metadata"]  # an unknown kernel
    assert asyncio.run(cm.get("c.txt"))["content"] == "plain"


def test_the_shipped_jupyter_config_uses_it_and_opens_python_files_as_notebooks():
    server = json.loads((ROOT / ".jupyter" / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["contents_manager_class"] == "urlsom_book.lab.TextNotebookContentsManager"
    overrides = json.loads((ROOT / ".jupyter" / "labconfig" / "default_setting_overrides.json").read_text())
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["python"] == "Jupytext Notebook"
    assert "JUPYTER_CONFIG_PATH=$(CURDIR)/.jupyter" in (ROOT / "Makefile").read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_passes_allow_root_only_to_root():
    """JupyterLab refuses to start as root unless told --allow-root; a non-root user is not given it."""
    import os
    import subprocess

    cmd = subprocess.run(["make", "-n", "-s", "lab"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert " lab --ip 127.0.0.1 " in cmd and cmd.endswith(" notebooks")
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)
