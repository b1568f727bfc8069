"""JupyterLab on this checkout in headless Chromium, as an explorer meets it after ``make lab``.

Starts JupyterLab the way ``make lab`` does (``JUPYTER_CONFIG_PATH=.jupyter``, 127.0.0.1, the repository's
``notebooks/`` as its root), on a free port with a token and no browser of its own, with the run store, the
figure files, the settings and the workspaces in a temporary folder and the ``tiny`` profile
(``URLSOM_PROFILE=tiny``). Then, in the file browser: a double-click on the map inspector's notebook opens it
as a notebook, not marked modified, and closing it asks nothing; opened again and run, its text shows this
run's numbers, and moving the inspector's row slider changes the neuron panel; saving it writes the same
bytes (the header is stable) and closing it asks nothing; no checkpoint folder shows in ``git status``.

About a minute and a half on 2 busy cores. ``URLSOM_SCREENSHOTS=DIR`` saves screenshots there.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "fig07_cifar10_sigma.py"  # the figure notebook with the map inspector (urlsom_book.widgets)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
RUN_TIMEOUT_MS = 600_000  # kernel start, two tiny trainings, the inspector's panels: ~1 min on 2 busy cores
# Fig. 7's numbers paragraph as the notebook run by hand shows it (the tiny profile fits a usage bias: its
# read-out figures in one sentence beside the network's own)
FIG7_TEXT = (r"With sigma \d+ the map reaches NS [01]\.\d{3} with\s+\d+ live neurons; with sigma \d+, NS [01]\.\d{3}\s+"
             r"with \d+\. Read out with a usage-balancing bias fitted after training \(not the paper's method\), the same "
             r"maps give: sigma \d+ NS [01]\.\d{3} with \d+ live neurons?; sigma \d+ NS [01]\.\d{3} with \d+ live "
             r"neurons?\.\s+The wider filter left (more|fewer|as many) neurons live")

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _git_status(ignored: bool = False) -> set[str]:
    """Untracked (``ignored``: and ignored) paths of the checkout; ``__pycache__`` left out (imports write it)."""
    cmd = ["git", "status", "--porcelain", "--untracked-files=all"] + (["--ignored"] if ignored else [])
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {line for line in out.splitlines() if "__pycache__" not in line}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(url, token, tmp): a JupyterLab server started as ``make lab`` starts it, stopped afterwards."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package (dev extra)")
    pytest.importorskip("jupyterlab", reason="needs JupyterLab (book extra)")
    pytest.importorskip("jupytext", reason="needs jupytext (book extra)")
    tmp = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), os.urandom(12).hex()
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_PATH": str(ROOT / ".jupyter"),  # as make lab
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_DATA_DIR": str(tmp / "data"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "IPYTHONDIR": str(tmp / "ipython"),
        "URLSOM_PROFILE": "tiny", "URLSOM_RUNS": str(tmp / "runs"), "URLSOM_EXECUTED": str(tmp / "executed"),
        "PYTHONPATH": os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
    })
    env.pop("URLSOM_BOOK", None)
    cmd = [str(Path(sys.executable).with_name("jupyter")), "lab", "--ip", "127.0.0.1", "notebooks",  # as make lab
           "--port", str(port), "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", "--no-browser"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "lab.log", "w")  # noqa: SIM115 - closed in the teardown
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail("JupyterLab did not start:\n" + (tmp / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url, token, tmp
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _current_tab(page):
    return page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")


def _open_by_double_click(page, name: str):
    """Double-click ``name`` in the file browser; return the notebook panel it opened."""
    item = page.locator(".jp-DirListing-item").filter(
        has=page.locator(".jp-DirListing-itemText", has_text=re.compile(rf"^{re.escape(name)}$")))
    item.dblclick()
    page.locator("#jp-main-dock-panel").locator(".jp-NotebookPanel:visible, .jp-FileEditor:visible").first.wait_for(
        timeout=60_000)
    assert page.locator("#jp-main-dock-panel .jp-FileEditor:visible").count() == 0, "opened in the text editor"
    panel = page.locator(".jp-NotebookPanel:visible")
    assert name in _current_tab(page).inner_text()
    _wait_for_idle_kernel(page)  # JupyterLab writes the kernel's language_info into the notebook then
    page.wait_for_timeout(1500)
    return panel


def _wait_for_idle_kernel(page, timeout: int = 120_000) -> None:
    """The status bar's kernel item reads 'Python 3 (ipykernel) | Idle' (it reads 'Initializing', then
    'Connecting' before the kernel answered, and 'Busy' while a cell runs)."""
    page.wait_for_function("() => /\\(ipykernel\\)\\s*\\|\\s*Idle/.test("
                           "document.querySelector('#jp-main-statusbar').innerText)", timeout=timeout)


def _is_dirty(page) -> bool:
    return "jp-mod-dirty" in (_current_tab(page).get_attribute("class") or "")


def _close_current_tab_and_expect_no_dialog(page, name: str) -> None:
    _current_tab(page).locator(".lm-TabBar-tabCloseIcon").click()
    page.wait_for_timeout(1500)
    assert page.locator(".jp-Dialog").count() == 0, "closing asked: " + page.locator(".jp-Dialog").inner_text()
    assert page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=name).count() == 0


def test_a_double_clicked_figure_notebook_opens_unmodified_runs_and_its_inspector_moves(lab):
    from playwright.sync_api import sync_playwright

    url, token, tmp = lab
    src = ROOT / "notebooks" / NOTEBOOK
    before, untracked_before, ignored_before = src.read_bytes(), _git_status(), _git_status(ignored=True)
    stat = src.stat()  # saving rewrites the same bytes; its time is put back (the book test dates its sources)
    checkpoints = ROOT / "notebooks" / ".ipynb_checkpoints"  # JupyterLab checkpoints a notebook it opens
    checkpoint = checkpoints / NOTEBOOK.replace(".py", "-checkpoint.py")
    had_checkpoints, old_checkpoint = checkpoints.exists(), checkpoint.read_bytes() if checkpoint.exists() else None
    shots = os.environ.get("URLSOM_SCREENSHOTS")
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
                page.goto(f"{url}/lab?token={token}")
                page.wait_for_selector(".jp-DirListing-item", timeout=120_000)

                # opened as a notebook by a double-click, not modified by opening; closing it asks nothing
                _open_by_double_click(page, NOTEBOOK)
                if shots:
                    page.screenshot(path=str(Path(shots) / "lab_opened.png"))
                assert not _is_dirty(page), "the notebook is marked modified right after opening"
                _close_current_tab_and_expect_no_dialog(page, NOTEBOOK)

                # opened again and run on the tiny profile (URLSOM_PROFILE)
                panel = _open_by_double_click(page, NOTEBOOK)
                page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
                page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()
                inspector = panel.locator(".jp-OutputArea-output .widget-vbox", has=page.locator(".widget-slider"))
                inspector.first.wait_for(timeout=RUN_TIMEOUT_MS)
                _wait_for_idle_kernel(page, RUN_TIMEOUT_MS)
                prompts = []
                for prompt in panel.locator(".jp-CodeCell .jp-InputPrompt").all():
                    prompt.scroll_into_view_if_needed()  # the notebook renders off-screen cells lazily
                    page.wait_for_timeout(300)
                    prompts.append(prompt.inner_text())
                assert prompts and not any("*" in t for t in prompts), prompts
                assert all(re.search(r"\[\d+\]", t) for t in prompts), f"a cell did not run: {prompts}"
                errs = panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                tracebacks = [t for t in errs.all_inner_texts() if "Traceback" in t or "Error" in t]
                assert not tracebacks and panel.locator(".jp-OutputArea-output .jp-RenderedText[data-mime-type="
                                                        "'application/vnd.jupyter.error']").count() == 0, tracebacks

                # the text with this run's numbers (the markdown cells themselves show the glue roles)
                outputs = "\n".join(panel.locator(".jp-OutputArea-output").all_inner_texts())
                assert "{glue" not in outputs
                assert re.search(FIG7_TEXT, outputs), outputs[-3000:]
                assert "profile 'tiny'" in outputs
                if shots:
                    panel.locator(".jp-RenderedMarkdown", has_text="this run's numbers").last.scroll_into_view_if_needed()
                    page.screenshot(path=str(Path(shots) / "lab_numbers.png"))

                # the inspector: move the row slider, the neuron panel changes
                box = inspector.first
                box.scroll_into_view_if_needed()
                readouts = box.locator(".widget-slider .widget-readout")
                r, c = int(readouts.nth(0).inner_text()), int(readouts.nth(1).inner_text())
                shown = box.locator(".widget-html:visible", has_text="neuron (row")
                assert shown.count() == 1 and f"neuron (row {r}, column {c})" in shown.inner_text()
                panel_before = shown.inner_html()
                if shots:
                    box.screenshot(path=str(Path(shots) / "lab_inspector_before.png"))
                box.locator(".widget-slider").nth(0).locator(".noUi-handle, .ui-slider-handle").first.focus()
                r2 = r - 1 if r > 0 else r + 1
                page.keyboard.press("ArrowLeft" if r > 0 else "ArrowRight")
                # the panel of neuron (r2, c), or the panel every dead neuron of the run shares
                want = re.compile(rf"neuron \(row {r2}, column {c}\)|dead neuron: it won none")
                after = box.locator(".widget-html:visible", has_text=want)
                after.wait_for(timeout=10_000)
                assert readouts.nth(0).inner_text().strip() == str(r2)
                assert after.inner_html() != panel_before
                if shots:
                    box.screenshot(path=str(Path(shots) / "lab_inspector_after.png"))

                # outputs count as changes in JupyterLab; saving writes the same bytes, then closing asks nothing
                assert _is_dirty(page)
                panel.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
                page.keyboard.press("Escape")
                page.keyboard.press("Control+s")
                page.wait_for_function("() => !document.querySelector("
                                       "'#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current.jp-mod-dirty')",
                                       timeout=30_000)
                assert src.read_bytes() == before, "saving changed the file"
                _close_current_tab_and_expect_no_dialog(page, NOTEBOOK)
            finally:
                browser.close()
        assert not errors, errors
        assert src.read_bytes() == before
        assert not _git_status() - untracked_before, "untracked after JupyterLab: " + str(_git_status() - untracked_before)
        rel = checkpoint.relative_to(ROOT).as_posix()
        assert subprocess.run(["git", "check-ignore", "-q", rel], cwd=ROOT).returncode == 0, f"{rel} not ignored"
        left = {s for s in _git_status(ignored=True) - ignored_before if ".ipynb_checkpoints" not in s}
        assert not left, f"left in the checkout: {sorted(left)}"  # the run store and figures went to tmp
    finally:  # the file's times and the checkpoint folder as they were before the test
        if src.read_bytes() == before:
            os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        if not had_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)
        elif old_checkpoint is None:
            checkpoint.unlink(missing_ok=True)
        else:
            checkpoint.write_bytes(old_checkpoint)
