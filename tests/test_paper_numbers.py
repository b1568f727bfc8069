"""The paper's reported numbers reach the book: every one is transcribed, and the results page shows it."""

import re
from pathlib import Path

from urlsom_book import notebook, profiles

ROOT = Path(__file__).resolve().parent.parent
CITED = re.compile(r"executed/(\w+)\.ipynb::paper_(\w+):s")


def test_every_reported_number_is_transcribed_with_its_source():
    for fig, numbers in profiles.load_profile("paper").reported.items():
        for key, s in numbers.items():
            assert s.value is not None, f"reported {fig} {key}: not transcribed"
            assert s.paper and re.search(r"(Sec\. [IV]+|Fig\. \d+|Eq\. \(\d\))", s.paper), (fig, key, s.paper)


def test_the_results_page_has_a_paper_number_wherever_the_paper_gives_one():
    page = (ROOT / "book" / "results.md").read_text()
    cited = set(CITED.findall(page))
    reported = {(fig, key) for fig, numbers in profiles.load_profile("paper").reported.items() if fig != "text"
                for key in numbers}
    assert reported - cited == set(), "numbers the paper gives that book/results.md does not show"
    assert cited - reported == set(), "book/results.md cites paper numbers the profile does not have"
    for line in page.splitlines():  # no row with an empty paper cell next to a quantity the paper reports
        if line.startswith("| [Fig."):
            fig = re.search(r"executed/(\w+)\.ipynb", line).group(1)
            cells = [c.strip() for c in line.split("|")[1:-1]]
            assert len(cells) == 6, line  # figure, quantity, the paper, this build, its data, cifar10-cpu
            if not cells[2]:
                this = re.findall(r"::(\w+):", cells[3])
                assert not any((fig, k) in reported for k in this), line


def test_the_transcribed_values():
    r = profiles.load_profile("paper").reported
    got = {(f, k): r[f][k].value for f in r for k in r[f]}
    assert got[("fig04_cifar10_map", "ns")] == 0.703 and got[("fig04_cifar10_map", "ns_seed2")] == 0.7058
    assert got[("fig05_cifar10_loss", "epochs")] == 322
    assert (got[("fig07_cifar10_sigma", "ns_sigma3")], got[("fig07_cifar10_sigma", "ns_sigma10")]) == (0.7119, 0.7019)
    assert (got[("fig08_svhn_map", "ns")], got[("fig08_svhn_map", "n_images")]) == (0.915, 99289)
    assert got[("fig09_svhn_sigma10", "ns")] == 0.9106 and got[("fig10_svhn_loss", "epochs")] == 188
    assert (got[("fig11_student_t", "ns_scale1")], got[("fig11_student_t", "ns_scale18")]) == (0.7333, 0.7212)


def test_report_gives_every_reported_number_a_row_and_a_glue(tmp_path):
    prof = profiles.load_profile("paper")
    fs = notebook.FigureSetup("fig04_cifar10_map", prof, prof.run_for("fig04_cifar10_map"), {}, "cpu",
                              tmp_path / "runs", tmp_path / "out")
    table = fs.report({"ns": 0.5, "ns_seed2": 0.25, "n_images": 10, "n_neurons": 4}, compare={"ns": "NS (first seed)"})
    md = table.data
    assert "| NS (first seed) | 0.703 (Fig. 4: NS 70.3% (first run); Sec. V.C: 70%) | 0.500 |" in md
    assert "| NS, second seed | 0.7058 (Fig. 4: NS 70.58% (second run)) | 0.250 |" in md
    import json

    numbers = json.loads((tmp_path / "out" / "records" / "fig04_cifar10_map.json").read_text())["numbers"]
    assert numbers["paper_ns_seed2"].startswith("0.7058") and numbers["paper_n_images"].startswith("60,000")


def test_the_results_page_reads_the_cifar10_cpu_numbers_from_the_committed_file():
    """Every row of a CIFAR-10 figure has a cifar10-cpu cell read by the book's role from the committed result
    file (never typed in), and the page draws the whole file below the table."""
    page = (ROOT / "book" / "results.md").read_text()
    roles = re.findall(r"\{urlsom-result\}`cifar10_cpu:(\w+)\.(\w+)", page)
    figs = {f for f, _ in roles}
    assert figs == {"fig04_cifar10_map", "fig05_cifar10_loss", "fig06_neuron_scatter", "fig07_cifar10_sigma",
                    "fig11_student_t"}
    from urlsom_book.profile_results import page_numbers

    rec = {"ns": 0.5, "live": 800, "n_neurons": 900, "n_images": 60000, "epochs": 9, "stop_reason": "max epochs",
           "train_seconds": 1.0, "first_loss": 1.0, "final_loss": 0.5, "ns_per_neuron": 0.4}
    known = set(page_numbers([rec, rec], "seeds", {"heldout_ns": 0.4})) | set(page_numbers([rec, rec], "sigmas", None))
    known |= set(page_numbers([rec, rec], "student_scales", None))
    assert {k for _, k in roles} <= known, {k for _, k in roles} - known  # every cell names a number the file holds
    assert "```{urlsom-results} cifar10_cpu" in page
