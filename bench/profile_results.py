"""A profile's numbers from its stored runs into a committed result file, for the book's results page.

    .venv/bin/python bench/profile_results.py --runs runs --profile cifar10-cpu --out bench/results/cifar10_cpu/ \\
        [--ssl bench/results/ssl_baseline/FILE.json]

Reads the runs that ``urlsom reproduce --profile PROFILE`` trained into ``--runs`` (never trains one; a run that
is not complete there stops the script with one line naming it) and writes results.json, results.md and
ns_per_epoch.png into ``--out``: each figure's run keys, NS, held-out NS, live neurons, TE, epochs, stop reason
and training time, the captions' claims, the NS per epoch of Fig. 4's run, an optional SimSiam result, and the
date, git commit, machine and command. The work is ``urlsom_book.profile_results``; bad input ends in one line
``urlsom: error: ...`` and exit 2.
"""

from __future__ import annotations

import sys

from urlsom_book.profile_results import main

if __name__ == "__main__":
    sys.exit(main(script="python bench/profile_results.py"))
