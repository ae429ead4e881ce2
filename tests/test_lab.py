"""tools/lab_contents.py (make lab's contents manager): the notebooks reach JupyterLab with the kernel's
language_info, and the file stays as committed."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import nbformat
from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelspec import get_kernel_dict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # as the Makefile's lab recipe does

from lab_contents import COMMITTED_LANGUAGE_INFO, SeriesContentsManager  # noqa: E402


def _get(root, path: str) -> dict:
    return asyncio.run(SeriesContentsManager(root_dir=str(root)).get(path))


def test_a_committed_notebook_gets_the_kernels_language_info_and_the_file_is_untouched(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nb.metadata["language_info"] = {"name": "python"}  # as committed
    nbformat.write(nb, tmp_path / "nb.ipynb")
    before = (tmp_path / "nb.ipynb").read_bytes()
    model = _get(tmp_path, "nb.ipynb")
    # what the kernel_info reply carries, so Lab's deep comparison finds nothing to change
    assert model["content"]["metadata"]["language_info"] == IPythonKernel.language_info
    assert model["content"]["metadata"]["language_info"]["version"]  # the full record, not the committed stub
    assert (tmp_path / "nb.ipynb").read_bytes() == before


def test_other_language_info_and_other_files_are_left_alone(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "julia", "version": "1.10"}
    nbformat.write(nb, tmp_path / "other.ipynb")
    (tmp_path / "notes.txt").write_text("hello")
    assert _get(tmp_path, "other.ipynb")["content"]["metadata"]["language_info"] == {"name": "julia", "version": "1.10"}
    assert _get(tmp_path, "notes.txt")["content"] == "hello"


def test_every_notebook_names_the_kernel_as_lab_will_write_it():
    """Lab writes the kernel's spec (name, display name, language) into an opened notebook: a different
    display name marks the notebook modified on opening."""
    spec = get_kernel_dict()
    expected = {"name": "python3", "display_name": spec["display_name"], "language": spec["language"]}
    for path in sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")):
        metadata = nbformat.read(path, as_version=4).metadata
        assert metadata.get("kernelspec") == expected, f"{path.name}: kernelspec {metadata.get('kernelspec')}, " \
                                                       f"expected {expected} (edit the notebook's metadata)"
        assert metadata.get("language_info", COMMITTED_LANGUAGE_INFO) == COMMITTED_LANGUAGE_INFO, path.name
