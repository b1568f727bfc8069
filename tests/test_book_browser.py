"""The built book in headless Chromium, as a reader meets it at 1280 px wide.

Every page: no script error (``pageerror``), no raw pipe table, no raw ``{glue`` placeholder, no http(s)
script, under the page budget. Every figure page (Fig. 1 to 11): its first figure starts within the first
900 px. The map inspector renders offline and its controls work.

Uses _build/html only when it is newer than every source it is built from (notebooks, pages, config,
package); otherwise builds a small book with the `tiny` profile in a temporary folder (a copy of the
book's sources; a few minutes on 2 cores). ``URLSOM_SCREENSHOTS=DIR`` saves screenshots there.
"""

from __future__ import annotations

import io
import os
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
    # The pages include the profiles (urlsom_book/profiles). Copy whole packages, not only a profiles/ folder: a
    # bare tmp/urlsom_book/ would be a namespace package that shadows the installed one in the notebook kernels.
    for package in ("urlsom_core", "urlsom_book"):
        shutil.copytree(ROOT / package, tmp / package, ignore=shutil.ignore_patterns("__pycache__"))
    from urlsom_book.reproduce import reproduce

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
    if (built / INSPECTOR).is_file() and _newest_source() < (built / INSPECTOR).stat().st_mtime:
        return built
    return _build_tiny_book(tmp_path_factory.mktemp("book"))


def _newest_source() -> float:
    """The newest modification time of what the book is built from."""
    files = [ROOT / "_config.yml", ROOT / "_toc.yml"]
    for d, pat in (("notebooks", "*.py"), ("book", "*.md"), ("urlsom_core", "**/*.py"), ("urlsom_book", "**/*.py"),
                   ("urlsom_book", "**/*.yaml"), ("book/_ext", "*.py"), ("book/_static", "*"),
                   ("bench/results", "**/*.json")):
        files += list((ROOT / d).glob(pat))
    return max(f.stat().st_mtime for f in files if f.is_file())


PAGE_BUDGET = 2_000_000  # bytes of one page's HTML (widgets.PAGE_BUDGET: the inspector keeps its pages under it)
FIRST_FIGURE_MAX_Y = 900


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and p.name not in ("search.html",
                                                                                                 "genindex.html"))


def test_every_page_reads_clean_and_every_figure_starts_in_the_first_screen(html: Path):
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    shots = os.environ.get("URLSOM_SCREENSHOTS")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load" in m.text
                    else None)  # (the theme's own "invalid theme mode" console line is not a failure)
            for f in _pages(html):
                rel = str(f.relative_to(html))
                errors.clear()
                page.goto(f.as_uri())
                page.wait_for_load_state("load")
                page.wait_for_timeout(300)
                text = page.locator("main").inner_text() if page.locator("main").count() else page.inner_text("body")
                if re.search(r"\|\s*-{3,}\s*\|", text):
                    problems.append(f"{rel}: a raw markdown table")
                if "{glue" in text:
                    problems.append(f"{rel}: a raw {{glue placeholder")
                if f.stat().st_size > PAGE_BUDGET:
                    problems.append(f"{rel}: {f.stat().st_size:,} bytes, over the {PAGE_BUDGET:,} budget")
                outputs = "\n".join(page.locator("main .cell_output").all_inner_texts())
                if "epoch time ~" in outputs or "expected end" in outputs:
                    problems.append(f"{rel}: a training's progress line (epoch time, expected end) in an output")
                if re.search(r"<Figure size \d+x\d+", text):
                    problems.append(f"{rel}: a figure shown as its text repr, not drawn")
                if re.match(r"executed/study_", rel) and not page.evaluate(
                        "() => [...document.querySelectorAll('main .cell_output img')].some("
                        "i => i.complete && i.naturalWidth > 300)"):
                    problems.append(f"{rel}: no figure drawn")
                if re.match(r"executed/fig\d\d_", rel):
                    top = page.evaluate("() => { const i = document.querySelector('main .cell_output img, main img');"
                                        " return i ? i.getBoundingClientRect().top + window.scrollY : null; }")
                    if top is None or top > FIRST_FIGURE_MAX_Y:
                        problems.append(f"{rel}: first figure starts at {top} px (allowed: <= {FIRST_FIGURE_MAX_Y})")
                    if shots:
                        page.screenshot(path=str(Path(shots) / (f.stem + ".png")))
                elif shots and f.stem == "intro":
                    page.screenshot(path=str(Path(shots) / "intro.png"), full_page=True)
                problems += [f"{rel}: page error {e}" for e in errors]
        finally:
            browser.close()
    assert not problems, "\n".join(problems)


def test_no_page_references_an_http_script_and_none_shows_an_error(html: Path):
    pages = [p for p in html.rglob("*.html") if "_static" not in p.parts]
    assert len(pages) >= 15  # intro, method, eleven figures, results, reproduce (+ search, genindex)
    for p in pages:
        text = p.read_text(errors="replace")
        scripts = re.findall(r"<script[^>]*\bsrc=[\"']([^\"']+)", text)
        remote = [s for s in scripts if re.match(r"(https?:)?//", s)]
        assert not remote, f"{p.relative_to(html)} loads {remote}"
        assert "output traceback" not in text and "output error" not in text, f"{p.relative_to(html)} shows an error"
    for fig in range(1, 12):
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
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
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
            # its gallery: cut from the run's sprite (a CSS background defined in the help line), drawn, not blank
            gallery = panel.locator("div[style*='background-position']").first
            assert gallery.evaluate("e => getComputedStyle(e).backgroundImage.startsWith('url(\"data:image/')"
                                    " && e.offsetWidth >= 48 && e.offsetHeight >= 48")
            from PIL import Image, ImageStat

            shot = Image.open(io.BytesIO(gallery.screenshot())).convert("L")
            assert max(ImageStat.Stat(shot).stddev) > 10, "the gallery is blank"
            handle = page.locator(".widget-slider").nth(1).locator(".noUi-handle, .ui-slider-handle").first
            handle.focus()
            page.keyboard.press("ArrowLeft" if c > 0 else "ArrowRight")
            want = f"neuron (row {r}, column {c - 1 if c > 0 else 1})"
            # jslink moved the panel, no kernel involved (a dead neighbour shows the run's one dead-neuron panel)
            page.wait_for_function("([w, old]) => [...document.querySelectorAll('.widget-html')].some("
                                   "e => e.offsetParent && (e.innerText.includes(w) || (e.innerText.includes("
                                   "'dead neuron') && !e.innerText.includes(old))))",
                                   arg=[want, f"neuron (row {r}, column {c})"], timeout=10_000)
            page.locator(".widget-toggle-button").nth(1).click()
            page.wait_for_timeout(300)
            if os.environ.get("URLSOM_SCREENSHOTS"):
                page.locator(".widget-slider").first.scroll_into_view_if_needed()
                page.screenshot(path=str(Path(os.environ["URLSOM_SCREENSHOTS"]) / "inspector.png"))
        finally:
            browser.close()
    assert not failed, f"failed loads: {failed}"
    remote = [u for u in requests if re.match(r"https?://", u)]
    assert not remote, f"requests left the machine: {remote}"
    assert not [e for e in errors if "Failed to load" in e or e.startswith("page error")], errors


def test_landing_page_shows_this_builds_map_and_the_paper_beside_it(html: Path):
    """The book's front door (index.html, which forwards to the intro): the map of Fig. 4 as this build drew it,
    decoded and in the first screen; a rendered table with the paper's column whose numbers are the paper
    profile's and whose "this build" numbers are the ones the executed Fig. 4 notebook recorded; and the way
    to the paper-data build."""
    from playwright.sync_api import sync_playwright

    from urlsom_book.profiles import paper_profile
    from urlsom_core.files import read_json

    record = read_json(html.parent.parent / "executed" / "records" / "fig04_cifar10_map.json")["numbers"]
    paper_ns = paper_profile().paper_value("fig04_cifar10_map", "ns").value
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((html / "index.html").as_uri())
            page.wait_for_url("**/book/intro.html", timeout=10_000)
            page.wait_for_load_state("load")
            img = page.locator("main img[src*='fig04_cifar10_map']").first
            img.wait_for(state="visible", timeout=10_000)
            assert img.evaluate("e => e.complete && e.naturalWidth > 300"), "the map image did not decode"
            top = img.evaluate("e => e.getBoundingClientRect().top + window.scrollY")
            assert top < FIRST_FIGURE_MAX_Y, f"the map starts at {top} px, below the first screen"
            tables = page.locator("main table")
            heads = [tables.nth(i).locator("thead").inner_text() for i in range(tables.count())]
            which = [i for i, h in enumerate(heads) if "the paper" in h and "this build" in h]
            assert which, f"no rendered table with the paper's column; table heads: {heads}"
            rows = tables.nth(which[0]).locator("tbody tr")
            cells = [[c.strip() for c in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]
            head = [c.strip() for c in tables.nth(which[0]).locator("thead th").all_inner_texts()]
            paper_col, build_col = head.index("the paper"), head.index("this build")
            assert len(cells) >= 5, cells
            assert all(re.match(r"0\.\d+ \(", r[paper_col]) for r in cells), cells  # a number, then its source
            assert all(re.match(r"\d\.\d{3} \(\d+ live\)", r[build_col]) for r in cells), cells
            first = cells[0]
            assert first[paper_col].startswith(f"{paper_ns:g} "), (first, paper_ns)
            assert first[build_col].startswith(f"{record['ns']:.3f} ({record['live']} live"), (first, record)
            links = page.locator("main a[href$='reproduce.html']")
            assert links.count() >= 1 and "make reproduce-paper" in page.locator("main").inner_text()
        finally:
            browser.close()
    assert not errors, errors


def test_the_inspector_page_embeds_its_widget_state_without_defaults(html: Path):
    """``urlsom reproduce`` drops the default-valued keys of the executed notebooks' widget state
    (urlsom_book.widget_state), so the page carries its panels, not a megabyte of ``"description": ""``."""
    import json

    text = (html / INSPECTOR).read_text()
    state = json.loads(re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', text,
                                 re.S).group(1))["state"]
    panels = [m["state"] for m in state.values() if m["model_name"] == "HTMLModel"]
    assert len(panels) > 2 and all(set(p) == {"layout", "style", "value"} for p in panels)
    assert not any("_model_name" in m["state"] for m in state.values())
