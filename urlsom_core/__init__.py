"""urlsom_core: the reference implementation of URL-SOM (Kermiche, *Self-Organizing Representation Learning*).

Entry points: ``urlsom_core.SOM`` (fit / winner / activation_map / save / load) and
``urlsom_core.runs.get_or_train(config)`` in Python, ``urlsom train`` on the command line.
Importing the package changes no global state and imports no torch: ``SOM`` is loaded on first use.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["SOM"]


def __getattr__(name: str) -> Any:
    if name == "SOM":
        from .api import SOM

        return SOM
    raise AttributeError(f"module 'urlsom_core' has no attribute {name!r}")
