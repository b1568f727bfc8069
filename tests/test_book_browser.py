"""The built book in headless Chromium: the map inspector renders offline and no page loads an http(s) script.

Uses _build/html when `make book` built it; otherwise builds a small book with the `tiny` profile in a
temporary folder (a copy of the book's sources; about a minute or two on 2 cores).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
INSPECTOR = "executed/fig07_cifar10_sigma.html"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _build_tiny_book(tmp: Path) -> Path:
    """Copy the book's sources, run `urlsom reproduce --profile tiny` there and build it with -W."""
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp / name)
    for d in ("book", "notebooks", "bench"):  # pages may include files from these (e.g. bench/results)
        if (ROOT / d).is_dir():
            shutil.copytree(ROOT / d, tmp / d, ignore=shutil.ignore_patterns("__pycache__"))
    # The pages include the profiles. Copy the whole package, not only its profiles/ folder: a bare
    # tmp/urlsom_core/ would be a namespace package that shadows the installed one in the notebook kernels.
    shutil.copytree(ROOT / "urlsom_core", tmp / "urlsom_core", ignore=shutil.ignore_patterns("__pycache__"))
    from urlsom_core.reproduce import reproduce

    code, outcomes = reproduce("tiny", jobs=2, runs_root=str(tmp / "runs"), out_dir=str(tmp / "executed"),
                               root=str(tmp), log=lambda s: None)
    assert code == 0, [o.error for o in outcomes if o.error]
    jb = Path(sys.executable).with_name("jupyter-book")
    res = subprocess.run([str(jb), "build", str(tmp), "-W", "-q"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return tmp / "_build" / "html"


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package (dev extra)")
    built = ROOT / "_build" / "html"
    if (built / INSPECTOR).is_file():
        return built
    return _build_tiny_book(tmp_path_factory.mktemp("book"))


def test_no_page_references_an_http_script_and_none_shows_an_error(html: Path):
    pages = [p for p in html.rglob("*.html") if "_static" not in p.parts]
    assert len(pages) >= 13  # intro, method, nine figures, results, reproduce (+ search, genindex)
    for p in pages:
        text = p.read_text(errors="replace")
        scripts = re.findall(r"<script[^>]*\bsrc=[\"']([^\"']+)", text)
        remote = [s for s in scripts if re.match(r"(https?:)?//", s)]
        assert not remote, f"{p.relative_to(html)} loads {remote}"
        assert "output traceback" not in text and "output error" not in text, f"{p.relative_to(html)} shows an error"
    for fig in range(3, 12):
        assert any(p.name.startswith(f"fig{fig:02d}_") for p in pages), f"Fig. {fig} page missing"


def test_inspector_renders_offline_and_its_controls_work(html: Path):
    from playwright.sync_api import sync_playwright

    requests, failed, errors = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto((html / INSPECTOR).as_uri())
            page.wait_for_selector(".widget-slider", timeout=30_000)  # the widgets were rendered from embedded state
            assert page.locator(".widget-slider").count() == 2  # row and column
            assert page.locator(".widget-toggle-button").count() >= 2  # the runs (sigma 3, sigma 10)
            img = page.locator(".widget-image img, img.widget-image").first
            img.wait_for(state="visible", timeout=10_000)
            assert img.evaluate("e => e.complete && e.naturalWidth > 100")  # the map image decoded
            readouts = page.locator(".widget-slider .widget-readout")
            r, c = int(readouts.nth(0).inner_text()), int(readouts.nth(1).inner_text())
            panel = page.locator(".widget-html:visible").first
            assert f"neuron (row {r}, column {c})" in panel.inner_text()
            assert "dead neuron" not in panel.inner_text()  # it opens on a live neuron, with its images
            handle = page.locator(".widget-slider").nth(1).locator(".noUi-handle, .ui-slider-handle").first
            handle.focus()
            page.keyboard.press("ArrowLeft" if c > 0 else "ArrowRight")
            want = f"neuron (row {r}, column {c - 1 if c > 0 else 1})"
            page.wait_for_function("w => [...document.querySelectorAll('.widget-html')].some("
                                   "e => e.offsetParent && e.innerText.includes(w))", arg=want,
                                   timeout=10_000)  # jslink moved the panel, no kernel involved
            page.locator(".widget-toggle-button").nth(1).click()
            page.wait_for_timeout(300)
        finally:
            browser.close()
    assert not failed, f"failed loads: {failed}"
    remote = [u for u in requests if re.match(r"https?://", u)]
    assert not remote, f"requests left the machine: {remote}"
    assert not [e for e in errors if "Failed to load" in e], errors
