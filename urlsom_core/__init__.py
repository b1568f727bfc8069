"""urlsom_core: the reference implementation of URL-SOM (Kermiche, *Self-Organizing Representation Learning*).

Entry points: ``urlsom_core.runs.get_or_train(config)`` in Python, ``urlsom train`` on the command line.
Importing the package changes no global state.
"""

__version__ = "0.1.0"
