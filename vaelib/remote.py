"""Files fetched from the repository's public URL, for a vaelib installed without its clone (pip, Colab, a hub).

The URL is written once, in pyproject.toml's ``[project.urls]`` ``Repository``; a clone reads it there, an
installed wheel from its own metadata (the build copies the line). A wheel carries the manifest of the shipped
models (vaelib/shipped/manifest.json); a file it lists is fetched into that folder on first use and checked
against the manifest's sha256 before it is moved into place: a mismatch is refused, and no partial file is left.
``VAELIB_REMOTE`` replaces the base URL of the raw files (a mirror, or a local server standing in for the
internet, as in tests/test_reach.py).

Used by vaelib.pretrained (the models of notebooks 00 and 04-08) and vaelib.data (MNIST's archives).
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

from vaelib.config import IN_CLONE, PRETRAINED_DIR, REPO_ROOT

try:  # Python >= 3.11; on 3.10 a clone falls back to the installed metadata
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    tomllib = None

BRANCH = "main"     # the branch whose files an installed vaelib fetches
TIMEOUT_S = 60      # per network read
BLOCK = 1 << 20     # bytes per read


class RemoteError(RuntimeError):
    """A file could not be fetched, or what arrived does not match its checksum; the message says what to do."""


def repository_url() -> str:
    """The repository's public URL: pyproject.toml's ``[project.urls] Repository`` (clone) or vaelib's metadata."""
    if IN_CLONE and tomllib is not None:
        return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    for line in metadata.metadata("vaelib").get_all("Project-URL") or []:
        label, _, url = line.partition(",")
        if label.strip() == "Repository":
            return url.strip()
    raise RemoteError("The installed vaelib names no Repository URL in its metadata: reinstall it from the "
                      "repository with `pip install git+<repository URL>`.")


def raw_url(path: str) -> str:
    """URL of a file of the repository (e.g. ``pretrained/mlp-d2.pt``): under ``$VAELIB_REMOTE`` if set, else the
    raw file of the main branch on the repository's host."""
    base = os.environ.get("VAELIB_REMOTE", "").strip() or f"{repository_url().rstrip('/')}/raw/{BRANCH}"
    return f"{base.rstrip('/')}/{path}"


def download(url: str, dest: Path, sha256: str | None = None) -> Path:
    """Fetch ``url`` into ``dest`` through ``dest.part`` (renamed only when complete and, with ``sha256``, matching):
    a failed or refused download leaves nothing behind, and an existing ``dest`` is replaced only by a good file."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(part, "wb") as out:
            for block in iter(lambda: response.read(BLOCK), b""):
                digest.update(block)
                out.write(block)
    except (urllib.error.URLError, OSError) as err:
        part.unlink(missing_ok=True)
        reason = getattr(err, "reason", None) or err
        raise RemoteError(f"Could not download {url} ({type(err).__name__}: {reason}): check the internet connection, "
                          "or set VAELIB_REMOTE to a mirror of the repository's files.") from None
    if sha256 is not None and digest.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise RemoteError(f"The file downloaded from {url} does not match its sha256 in the manifest (damaged or "
                          "changed on the server), so it was refused and discarded: try again later, or reinstall "
                          "vaelib so that its manifest matches the repository's files.")
    os.replace(part, dest)
    return dest


def fetch_shipped(path: Path, sha256: str) -> None:
    """Make the shipped file ``path`` present in an installed vaelib: fetch ``pretrained/<name>`` from the repository,
    sha256-checked. Does nothing in a clone (its files are restored with git), for a file that exists, or for a path
    outside vaelib/shipped/ (a test's own manifest)."""
    if IN_CLONE or path.exists() or path.parent != PRETRAINED_DIR:
        return
    url = raw_url(f"pretrained/{path.name}")
    print(f"vaelib: fetching the shipped {path.name} from {url} (sha256-checked) ...")
    download(url, path, sha256)
