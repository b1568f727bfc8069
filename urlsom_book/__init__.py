"""urlsom_book: the machinery of the urlsom Jupyter Book, built on :mod:`urlsom_core`.

Profiles, ``urlsom reproduce``, the notebooks' helpers, the studies, the baselines, the benchmarks, the
figures and widgets, and the ``urlsom`` command line. It imports ``urlsom_core``; ``urlsom_core`` never
imports it (``tests/test_layers.py``). Importing the package changes no global state.
"""
