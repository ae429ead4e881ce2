"""Where learners are (issue 22): Colab, Binder, a JupyterHub, any Jupyter with pip alone.

The repository's URL lives in pyproject.toml and every copy agrees with it; each notebook's first code cell
works where vaelib is missing; repo2docker reads files that agree with requirements.txt; `make lab TORCH=cpu`
picks PyTorch's CPU build; downloads are checked and atomic (a local HTTP server on 127.0.0.1 stands in for the
internet). The slow test builds the wheel, installs it into a fresh virtual environment outside the repository
and runs notebooks 00 and 04 from a folder that holds nothing but the notebook. Unit tests: about 2 s in all.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import venv
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
import tomllib
import yaml
from notebook_figures import assert_figures_pass
from test_faults import assert_one_sentence
from test_path import NOTEBOOKS, badge_line

import vaelib.data as data_mod
import vaelib.remote as remote
from vaelib import figcheck
from vaelib.config import data_root
from vaelib.data import MNIST_MD5
from vaelib.exercises.editions import check_edition
from vaelib.remote import RemoteError, download, fetch_shipped, repository_url

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
URL = PYPROJECT["project"]["urls"]["Repository"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request log in the test output
        pass


@pytest.fixture
def serve():
    """serve(folder) -> base URL of a local HTTP server on 127.0.0.1 for that folder (stopped after the test)."""
    servers = []

    def start(folder: Path) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def first_code_cell(path: Path) -> str:
    return next(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


# --- one URL ---------------------------------------------------------------------------------------------------------

def test_repository_url_is_read_from_pyproject_everywhere():
    assert URL.startswith("https://github.com/") and URL.count("/") == 4, URL
    assert repository_url() == URL
    conf: dict = {"__file__": str(ROOT / "docs" / "conf.py")}  # as Sphinx runs it
    exec(compile((ROOT / "docs" / "conf.py").read_text(), "docs/conf.py", "exec"), conf)
    assert conf["REPOSITORY"] == URL and conf["html_context"]["repository_slug"] == URL.removeprefix("https://github.com/")
    assert "open-elsewhere.html" in conf["html_theme_options"]["article_header_end"]
    template = (ROOT / "docs" / "_templates" / "open-elsewhere.html").read_text()
    assert "colab.research.google.com/github/{{ repository_slug }}/blob/main/{{ sourcename }}" in template
    assert "mybinder.org/v2/gh/{{ repository_slug }}/main?urlpath=lab/tree/{{ sourcename }}" in template


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_links_colab_and_binder_and_installs_from_the_one_url(path):
    header = nbformat.read(path, as_version=4).cells[0].source
    assert badge_line(URL, path.name) in header, \
        f"{path.name}: the Colab/Binder line differs from {badge_line(URL, path.name)!r} (pyproject's URL)"
    assert f'REPO = "{URL}"' in first_code_cell(path), f"{path.name}: the first code cell installs from another URL"


def test_readme_and_instructors_page_use_the_one_url():
    readme = (ROOT / "README.md").read_text()
    assert badge_line(URL, NOTEBOOKS[0].name).split(" · ")[0] in readme.replace("\n", " ")
    assert f"git+{URL}" in readme and f"git+{URL}" in (ROOT / "docs" / "instructors.md").read_text()
    slug = URL.removeprefix("https://github.com/")
    assert f"https://mybinder.org/v2/gh/{slug}/main?urlpath=" in (ROOT / "docs" / "instructors.md").read_text()


# --- the first code cell where vaelib is missing ---------------------------------------------------------------------

def bootstrap(path: Path) -> str:
    """The part of the first code cell that runs before vaelib is imported (up to the first blank line)."""
    return first_code_cell(path).split("\n\n")[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_says_how_to_install_vaelib_where_it_is_missing(path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vaelib", None)  # `import vaelib` now fails as if it were not installed
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    with pytest.raises(ModuleNotFoundError) as err:
        exec(bootstrap(path), {})
    message = assert_one_sentence(err)
    assert f"pip install git+{URL}" in message


@pytest.mark.parametrize("path", NOTEBOOKS[:1] + NOTEBOOKS[-1:], ids=lambda p: p.stem)
def test_first_cell_installs_vaelib_itself_on_colab(path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vaelib", None)
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))  # what Colab's kernel has imported
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    exec(bootstrap(path), {})
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", f"git+{URL}"]]


# --- packaging: the manifest travels with the wheel ------------------------------------------------------------------

def test_every_vaelib_package_is_listed_and_the_manifest_is_package_data():
    tool = PYPROJECT["tool"]["setuptools"]
    found = {"vaelib"} | {f"vaelib.{p.parent.name}" for p in (ROOT / "vaelib").glob("*/__init__.py")}
    assert set(tool["packages"]) == found | {"vaelib.shipped"}, "list every vaelib subpackage in pyproject.toml"
    assert tool["package-dir"] == {"vaelib.shipped": "pretrained"}
    assert tool["package-data"] == {"vaelib.shipped": ["manifest.json"], "vaelib.widgets": ["*.js"]}  # 05's map


# --- downloads --------------------------------------------------------------------------------------------------------

def test_download_is_checked_and_atomic(tmp_path, serve):
    (tmp_path / "www").mkdir()
    payload = os.urandom(3 << 20)  # three read blocks
    (tmp_path / "www" / "f.bin").write_bytes(payload)
    base = serve(tmp_path / "www")
    good = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "got" / "f.bin"
    assert download(f"{base}/f.bin", dest, good).read_bytes() == payload
    dest.unlink()
    with pytest.raises(RemoteError, match="does not match its sha256") as err:
        download(f"{base}/f.bin", dest, "0" * 64)
    assert_one_sentence(err)
    with pytest.raises(RemoteError, match="Could not download") as err:
        download(f"{base}/missing.bin", dest)
    assert_one_sentence(err)
    assert list((tmp_path / "got").iterdir()) == []  # nothing partial left behind


def test_fetch_shipped_only_where_vaelib_is_installed(tmp_path, serve, monkeypatch):
    (tmp_path / "www" / "pretrained").mkdir(parents=True)
    (tmp_path / "www" / "pretrained" / "m.pt").write_bytes(b"model")
    monkeypatch.setenv("VAELIB_REMOTE", serve(tmp_path / "www"))
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(remote, "PRETRAINED_DIR", shipped)
    fetch_shipped(shipped / "m.pt", hashlib.sha256(b"model").hexdigest())  # a clone: nothing happens
    assert not (shipped / "m.pt").exists()
    monkeypatch.setattr(remote, "IN_CLONE", False)
    fetch_shipped(tmp_path / "elsewhere" / "m.pt", "x")  # not the shipped folder (a test's own manifest)
    assert not (tmp_path / "elsewhere").exists()
    fetch_shipped(shipped / "m.pt", hashlib.sha256(b"model").hexdigest())
    assert (shipped / "m.pt").read_bytes() == b"model"
    assert remote.raw_url("pretrained/m.pt").endswith("/pretrained/m.pt")
    monkeypatch.delenv("VAELIB_REMOTE")
    monkeypatch.setattr(remote, "IN_CLONE", True)  # the URL from pyproject.toml (this checkout's metadata may be older)
    assert remote.raw_url("pretrained/m.pt") == f"{URL}/raw/main/pretrained/m.pt"


def test_mnist_is_fetched_from_a_mirror_and_checked(tmp_path, serve, monkeypatch):
    """Stand-in files with their own MD5s: fetched from the mirror, decompressed and checked; a damaged archive is
    refused in one sentence and leaves no file and no folder behind."""
    files = {name: os.urandom(64) + name.encode() for name in MNIST_MD5}
    monkeypatch.setattr(data_mod, "MNIST_MD5", {n: hashlib.md5(b).hexdigest() for n, b in files.items()})
    for kind in ("good", "damaged"):
        (tmp_path / kind).mkdir()
        for name, payload in files.items():
            blob = gzip.compress(payload) if kind == "good" or "labels" in name else gzip.compress(payload[::-1])
            (tmp_path / kind / f"{name}.gz").write_bytes(blob)
    base = serve(tmp_path)
    monkeypatch.setenv("VAELIB_MNIST_MIRROR", f"{base}/good")
    root = data_mod.ensure_mnist(tmp_path / "data")
    assert {p.name: p.read_bytes() for p in (root / "MNIST" / "raw").iterdir()} == files
    monkeypatch.setenv("VAELIB_MNIST_MIRROR", f"{base}/damaged")
    with pytest.raises(data_mod.DataError) as err:
        data_mod.ensure_mnist(tmp_path / "other")
    assert_one_sentence(err)
    assert not (tmp_path / "other").exists()


# --- repo2docker (Binder, JupyterHub) ---------------------------------------------------------------------------------

# What repo2docker reads (its buildpacks' detect() and binder_path()): a binder/ (or .binder/) folder, when there is
# one, replaces the root as the place of every configuration file; environment.yml (conda) is detected before
# requirements.txt (pip); runtime.txt names the Python; postBuild runs last, from the repository root.
R2D_OTHER = ["environment.yml", "Pipfile", "Pipfile.lock", "setup.py", "Dockerfile", "Project.toml", "REQUIRE",
             "install.R", "DESCRIPTION", "default.nix", "apt.txt", "start"]


def test_repo2docker_files_agree_with_requirements_txt():
    binder = ROOT / "binder"
    assert binder.is_dir() and not (ROOT / ".binder").exists(), "binder/ and .binder/ exclude each other"
    assert not [n for n in R2D_OTHER if (binder / n).exists()], "another repo2docker file in binder/ would take over"
    lines = [line.split("#")[0].strip() for line in (binder / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert lines == ["--extra-index-url https://download.pytorch.org/whl/cpu", "-r ../requirements.txt"], \
        "binder/requirements.txt must add PyTorch's CPU index to requirements.txt and nothing else"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert (binder / "runtime.txt").read_text().strip() == "python-" + conda_python.split("=")[1]
    post = (binder / "postBuild").read_text()
    assert os.access(binder / "postBuild", os.X_OK) and post.startswith("#!/bin/bash")
    assert "pip install --no-deps -e ." in post and "ensure_mnist" in post


# --- a CPU laptop: make lab TORCH=cpu ---------------------------------------------------------------------------------

def test_make_accepts_torch_cpu_and_refuses_other_values(tmp_path):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    fake = ["VENV=" + str(tmp_path / "venv")]
    cpu = subprocess.run([make, "-n", "setup", "TORCH=cpu", *fake], cwd=ROOT, capture_output=True, text=True)
    steps = cpu.stdout.splitlines()
    cpu_first = "--index-url https://download.pytorch.org/whl/cpu torch torchvision"
    index = next(i for i, s in enumerate(steps) if cpu_first in s)
    assert index < next(i for i, s in enumerate(steps) if "-r requirements.txt" in s)
    default = subprocess.run([make, "-n", "setup", *fake], cwd=ROOT, capture_output=True, text=True)
    assert "download.pytorch.org" not in default.stdout
    bad = subprocess.run([make, "-n", "setup", "TORCH=gpu", *fake], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "use TORCH=cpu" in bad.stderr


# --- the installed wheel, offline -------------------------------------------------------------------------------------

RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
"""


def _wheel(tmp_path: Path) -> Path:
    """Build vaelib's wheel from a copy of what it is built from (no network, no build isolation)."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "vaelib", src / "vaelib", ignore=shutil.ignore_patterns("__pycache__"))
    (src / "pretrained").mkdir()
    for name in ("pyproject.toml", "README.md", "pretrained/manifest.json"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(tmp_path / "wheels"), str(src)], check=True, capture_output=True)
    return next((tmp_path / "wheels").glob("vaelib-*.whl"))


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed, that sees this environment's packages but not its
    vaelib: a .pth line adds our site-packages folder to sys.path, whose own .pth files (the editable install's
    finder among them) are not processed from there; the checks run outside the repository (cwd), so it is not on
    sys.path either."""
    env = tmp_path / "venv"
    venv.create(env, with_pip=False, symlinks=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True)
    (site / "shared-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # after: pip never sees ours
    return python


def _www(tmp_path: Path) -> Path:
    """The stand-in internet: the repository's shipped files, MNIST's four archives, and one damaged model."""
    www = tmp_path / "www"
    (www / "repo").mkdir(parents=True)
    (www / "repo" / "pretrained").symlink_to(ROOT / "pretrained")
    (www / "mnist").mkdir()
    raw = data_root() / "MNIST" / "raw"
    for name in MNIST_MD5:
        with open(raw / name, "rb") as src, gzip.open(www / "mnist" / f"{name}.gz", "wb", compresslevel=1) as dst:
            shutil.copyfileobj(src, dst)
    (www / "damaged" / "pretrained").mkdir(parents=True)
    damaged = bytearray((ROOT / "pretrained" / "conv-d20.pt").read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (www / "damaged" / "pretrained" / "conv-d20.pt").write_bytes(bytes(damaged))
    return www


WHEEL_NOTEBOOKS = ("00_a_vae_in_one_page.ipynb", "04_mnist_vae.ipynb")  # the first, and the one that trains


@pytest.mark.slow
@pytest.mark.runs_notebooks(*WHEEL_NOTEBOOKS)
def test_installed_wheel_runs_notebooks_offline(tmp_path, serve):
    """A learner's `pip install`: notebooks 00 and 04 run from the installed wheel, outside any clone, fetching MNIST
    and the shipped models from a stand-in server. They run as CI's check editions (the notebook as committed, then
    each solution against its check) with the figure check on, so nbval leaves these two to this test."""
    if not (data_root() / "MNIST" / "raw").is_dir():  # a failure, not a skip: nbval leaves these notebooks to us
        pytest.fail(f"no MNIST at {data_root() / 'MNIST' / 'raw'}: set VAELIB_DATA to the folder that holds MNIST/raw")
    t0 = time.monotonic()
    wheel = _wheel(tmp_path)
    assert "vaelib/widgets/latent_map.js" in zipfile.ZipFile(wheel).namelist(), "the wheel lacks 05's map script"
    python = _fresh_venv(tmp_path, wheel)
    base = serve(_www(tmp_path))
    times = {"wheel, venv and server": time.monotonic() - t0}
    home = tmp_path / "home"
    home.mkdir()
    findings = tmp_path / "figcheck.jsonl"
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "VAELIB_SMOKE": "1", "VAELIB_REMOTE": f"{base}/repo",
           "VAELIB_MNIST_MIRROR": f"{base}/mnist", "VAELIB_THREADS": "1",
           figcheck.ENV: str(findings)}
    where = subprocess.run([str(python), "-c", "import vaelib.config as c; print(c.__file__, c.IN_CLONE)"],
                           env=env, cwd=home, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(tmp_path / "venv")) and where.split()[1] == "False", where  # not the repository's
    for name in WHEEL_NOTEBOOKS:
        work = tmp_path / Path(name).stem
        work.mkdir()  # a folder that holds nothing but the notebook
        nbformat.write(check_edition(nbformat.read(ROOT / "notebooks" / name, as_version=4)), work / name)
        run = subprocess.run([str(python), "-c", RUN_NOTEBOOK, str(work / name), str(work)], env=env,
                             cwd=work, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"{name} failed from an installed wheel:\n{run.stderr[-4000:]}"
        assert_figures_pass(findings, name, some=True)
        times[Path(name).stem] = time.monotonic() - t0 - sum(times.values())
    cache = home / ".cache" / "vaelib" / "data" / "MNIST" / "raw"
    assert sorted(p.name for p in cache.iterdir()) == sorted(MNIST_MD5)  # fetched, checked, and nothing else left
    # a damaged file on the server is refused in one sentence, and nothing of it is left
    env["VAELIB_REMOTE"] = f"{base}/damaged"
    load = "from vaelib.pretrained import load_pretrained; load_pretrained('conv-d20')"
    bad = subprocess.run([str(python), "-c", load],
                         env=env, cwd=home, capture_output=True, text=True)
    assert bad.returncode != 0
    message = bad.stderr.strip().splitlines()[-1].removeprefix("vaelib.remote.RemoteError: ")
    assert "does not match its sha256" in message, bad.stderr[-2000:]
    assert_one_sentence(message)
    shipped = Path(where.split()[0]).parent / "shipped"
    assert not [p.name for p in shipped.iterdir() if p.name.startswith("conv-d20")]
    times["damaged file"] = time.monotonic() - t0 - sum(times.values())
    print("installed wheel, offline:", ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
