"""JupyterLab on this checkout (``make lab``): the figure notebooks, jupytext ``.py`` files, open unmodified.

``make lab`` points ``JUPYTER_CONFIG_PATH`` at the repository's ``.jupyter/``, whose
``jupyter_server_config.json`` names :class:`TextNotebookContentsManager` as the server's contents manager
(jupytext's, which reads a ``.py`` file as a notebook, with one addition) and whose ``labconfig/`` makes a
double-click open a ``.py`` file as a notebook.

The addition: a ``.py`` notebook's header keeps no ``language_info`` (it holds the Python version, which
differs between machines, so the header would change with every save on another machine). JupyterLab writes
the kernel's ``language_info`` into the notebook when the kernel starts, and a notebook opened without one
is then marked modified at once: closing it unedited asks to save. So when a text notebook is read for a
kernel that runs on this server's own interpreter (ipykernel's ``python3``), the language_info that kernel
will report is filled in; jupytext's header filter keeps it out of the file when the notebook is saved.

Example:
    >>> info = kernel_language_info(["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"])
    >>> info["name"], info["file_extension"]
    ('python', '.py')
    >>> kernel_language_info(["/opt/julia/bin/julia", "-i", "kernel.jl"]) is None
    True
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence
from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupytext.async_contentsmanager import build_async_jupytext_contents_manager_class


def _same_interpreter(exe: str) -> bool:
    """Whether a kernelspec's ``argv[0]`` runs this interpreter (jupyter_client starts ``python``,
    ``python3`` and ``python3.N`` as ``sys.executable``)."""
    if exe in {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}:
        return True
    try:
        return os.path.samefile(exe, sys.executable)
    except OSError:
        return False


def kernel_language_info(argv: Sequence[str]) -> dict[str, Any] | None:
    """The ``language_info`` an ipykernel started with ``argv`` reports, when it runs on this interpreter.

    Parameters
    ----------
    argv : sequence of str
        A kernelspec's command line.

    Returns
    -------
    dict or None
        A copy of ``ipykernel.ipkernel.IPythonKernel.language_info`` (what the kernel sends in its
        ``kernel_info_reply``), or None for any other kernel: its language_info cannot be known without
        starting it.
    """
    if not argv or not _same_interpreter(argv[0]) or not any("ipykernel" in a for a in argv[1:]):
        return None
    from ipykernel.ipkernel import IPythonKernel

    info = IPythonKernel.language_info
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in info.items()}


def fill_language_info(metadata: MutableMapping[str, Any], info: dict[str, Any] | None) -> bool:
    """Set ``metadata["language_info"] = info`` when the notebook has none; returns whether it did."""
    if info is None or "language_info" in metadata:
        return False
    metadata["language_info"] = info
    return True


class TextNotebookContentsManager(build_async_jupytext_contents_manager_class(AsyncLargeFileManager)):
    """Jupytext's contents manager (the one its server extension would derive from the server's default);
    a text notebook read with content gets its kernel's ``language_info`` (see the module docstring)."""

    async def get(self, path: str, content: bool = True, type: str | None = None, format: str | None = None,
                  **kwargs: Any) -> dict[str, Any]:
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if content and model.get("type") == "notebook" and not path.endswith(".ipynb"):
            meta = model["content"]["metadata"]
            name = (meta.get("kernelspec") or {}).get("name")
            if name and "language_info" not in meta:
                fill_language_info(meta, self._language_info(name))
        return model

    def _language_info(self, kernel_name: str) -> dict[str, Any] | None:
        ksm = getattr(self.parent, "kernel_spec_manager", None)
        if ksm is None:
            from jupyter_client.kernelspec import KernelSpecManager

            ksm = KernelSpecManager()
        try:
            spec = ksm.get_kernel_spec(kernel_name)
        except Exception:  # noqa: BLE001 - no such kernel here: JupyterLab asks for one, as it would anyway
            return None
        return kernel_language_info(spec.argv)
