"""Shared fixtures: the MNIST tensors (from $VAELIB_DATA, as `make test` sets it), a small synthetic stand-in,
a fresh seeded generator per test (``g``; ``gen(seed)`` and ``F64`` are imported from here), and torch's global
RNG seeded 0 for each test and restored after it (so test order cannot matter)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the one place the test suite picks a backend: no window, no display needed

import pytest  # noqa: E402
import torch  # noqa: E402
from notebook_figures import NotebookFigureCheck  # noqa: E402

from vaelib.config import REPO_ROOT  # noqa: E402
from vaelib.data import MNIST, DataError, load_mnist  # noqa: E402
from vaelib.exercises import core  # noqa: E402

# Under pytest-xdist (`make test`: 2 workers on the 2-core CPU) each worker gets one torch thread and its own runs/
# folder: two workers never write one checkpoint (its lock would refuse the second), and notebook kernels, started
# from this process, inherit the folder. Run alone, tests use up to two threads and the usual runs/.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:
    torch.set_num_threads(1)
    os.environ["VAELIB_RUNS"] = str(Path(os.environ.get("VAELIB_RUNS") or REPO_ROOT / "runs") / f"xdist-{WORKER}")
else:
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def mnist():
    """The full MNIST tensors; skipped with a reason where the data is absent (never in CI)."""
    try:
        return load_mnist(download=False)
    except DataError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"MNIST not available: {err}")


F64 = torch.float64  # the reference dtype of the tests (`from conftest import F64`)


def gen(seed: int = 0) -> torch.Generator:
    """A new CPU generator seeded ``seed`` (`from conftest import gen`; the fixture ``g`` is ``gen(0)``)."""
    return torch.Generator().manual_seed(seed)


@pytest.fixture(autouse=True)
def _own_global_rng():
    """Every test starts with torch's global RNG (parameter initialization, ``torch.randn`` without a generator)
    seeded 0, and leaves it as it found it: no test depends on another's draws, so test order cannot matter."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


@pytest.fixture(autouse=True)
def _as_a_learner(monkeypatch):
    """Every test starts as a learner would: no CI expectation for the exercise checks, no report file, the default
    time limit for learner code (CI's own settings must not leak into a test)."""
    for name in (core.EXPECT_ENV, core.REPORT_ENV, core.TIME_LIMIT_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def g() -> torch.Generator:
    """A CPU generator seeded 0, new for every test."""
    return gen(0)


@pytest.fixture
def synthetic_mnist() -> MNIST:
    """Random uint8 'images' in MNIST's layout (300 train, 100 val, 100 test): for trainer faults needing no digits."""
    gen = torch.Generator().manual_seed(0)
    split = lambda n: (torch.randint(0, 256, (n, 784), generator=gen, dtype=torch.uint8),  # noqa: E731
                       torch.randint(0, 10, (n,), generator=gen))
    return MNIST(*split(300), *split(100), *split(100))



def pytest_configure(config):
    """The figure check (vaelib.figcheck): notebook kernels started by this session inherit VAELIB_FIGCHECK and
    append their findings to a fresh file; tests/notebook_figures.py fails a notebook's last cell on its findings."""
    if not os.environ.get("VAELIB_FIGCHECK"):
        os.environ["VAELIB_FIGCHECK"] = os.path.join(tempfile.mkdtemp(prefix="vaelib-figcheck-"), "findings.jsonl")
    config.pluginmanager.register(NotebookFigureCheck(), "vaelib-notebook-figures")


# The files (and notebooks) that take longest in `make test`, longest first, from benchmarks/slowest_tests.md. Under
# pytest-xdist (--dist loadfile --no-loadscope-reorder) files are handed to the workers in collection order, so
# starting with the longest keeps the two workers' finishing times close (longest processing time first). The
# order changes how long the run takes, never what it tests.
LONGEST_FIRST = ["tests/test_browser.py", "tests/test_grade.py", "tests/test_reach.py", "tests/test_site.py",
                 "08_do_we_need_the_v", "tests/test_widgets_live.py", "06_aggregate_posterior", "07_beyond_gaussian",
                 "tests/test_pretrained.py", "09_posterior_collapse", "04_mnist_vae", "00_a_vae_in_one_page",
                 "02_kl_closed_form", "05_latent_space", "tests/test_benchmarks.py"]


def _rank(item: pytest.Item) -> int:
    path = Path(str(item.path)).as_posix()
    return next((i for i, key in enumerate(LONGEST_FIRST) if key in path), len(LONGEST_FIRST))


# A test marked runs_notebooks(...) runs those notebooks' check editions itself: tests/test_browser.py in JupyterLab
# (the notebooks with a widget), tests/test_reach.py from an installed wheel (00 and 04). Each runs the same cells
# nbval would, with the same figure check, and fails on any error, so where such a test is collected nbval leaves its
# notebooks to it instead of running them a second time. Where it is not (no Chromium or playwright, `-m "not slow"`,
# `make notebooks`, `-k`), nbval runs them as it runs every other.
@pytest.hookimpl(trylast=True)  # after -k and -m have deselected what they deselect
def pytest_collection_modifyitems(session, config, items):
    """Notebooks that a collected test runs are not run by nbval too; then the longest files first (a stable sort:
    each file's own order is kept)."""
    elsewhere = {name for item in items for mark in item.iter_markers("runs_notebooks") for name in mark.args}
    left = [item for item in items if type(item).__name__ == "IPyNbCell" and Path(str(item.path)).name in elsewhere]
    if left:
        config.hook.pytest_deselected(items=left)
        gone = set(map(id, left))
        items[:] = [item for item in items if id(item) not in gone]
    items.sort(key=_rank)
