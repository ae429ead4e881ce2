"""JupyterLab's file access for `make lab`: opening a notebook of the series must not mark it modified.

The notebooks are committed with ``language_info`` reduced to ``{"name": "python"}`` (the Python version differs
from one machine to the next). When a kernel starts, Lab writes the kernel's full ``language_info`` into the
open notebook, which marks it modified before anything ran (and asks "Save changes?" on closing). So the
server hands Lab each notebook with the ``language_info`` this Python's kernel (ipykernel) reports, and Lab
finds nothing to change; the file on disk is untouched. The Makefile's lab recipe puts tools/ on the server's
path and selects this class (``--ServerApp.contents_manager_class``); ``tests/test_lab.py`` checks it,
``tests/test_browser.py`` checks the dirty flag in Chromium. Not part of vaelib: it runs inside the Jupyter
server only, and needs the lab extra (jupyter-server, ipykernel).
"""
from __future__ import annotations

import copy
from typing import Any

from ipykernel.ipkernel import IPythonKernel
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

COMMITTED_LANGUAGE_INFO = {"name": "python"}  # what the committed notebooks hold (tools strip the rest)


class SeriesContentsManager(AsyncLargeFileManager):
    """Jupyter Server's default contents manager, serving notebooks with this kernel's full ``language_info``."""

    async def get(self, path: str, content: bool = True, type: str | None = None, format: str | None = None,
                  **kwargs: Any) -> dict:
        model = await super().get(path, content=content, type=type, format=format, **kwargs)
        if model.get("type") == "notebook" and model.get("content") is not None:
            metadata = model["content"].setdefault("metadata", {})
            if metadata.get("language_info", COMMITTED_LANGUAGE_INFO) == COMMITTED_LANGUAGE_INFO:
                metadata["language_info"] = copy.deepcopy(IPythonKernel.language_info)
        return model
