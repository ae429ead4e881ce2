"""vaelib.notebook.setup_notebook: the one setup call of every notebook (threads, theme, seeds, the run line).
Reference: seed_everything's own generator, and the thread policy as its docstring states it. About 1 s."""
from __future__ import annotations

import sys
import types

import matplotlib
import pytest
import torch
from test_faults import assert_one_sentence

import vaelib.notebook as notebook
from vaelib.config import seed_everything
from vaelib.notebook import notebook_threads, setup_notebook


@pytest.fixture
def threads(monkeypatch):
    """torch.set_num_threads recorded, not applied (the test process keeps its threads)."""
    calls = []
    monkeypatch.setattr(notebook.torch, "set_num_threads", calls.append)
    return calls


@pytest.mark.parametrize("smoke,env,cpus,expected", [("1", "", 8, 1), ("", "", 8, 2), ("", "", 1, 1), ("1", "3", 8, 3)])
def test_one_thread_policy(monkeypatch, smoke, env, cpus, expected):
    monkeypatch.setenv("VAELIB_SMOKE", smoke)
    monkeypatch.setenv("VAELIB_THREADS", env)
    monkeypatch.setattr(notebook.os, "cpu_count", lambda: cpus)
    assert notebook_threads() == expected


@pytest.mark.parametrize("bad", ["0", "two", "-1"])
def test_a_bad_thread_count_is_one_sentence(monkeypatch, bad):
    monkeypatch.setenv("VAELIB_THREADS", bad)
    with pytest.raises(ValueError, match="VAELIB_THREADS") as err:
        notebook_threads()
    assert_one_sentence(err)


def test_setup_seeds_sets_threads_and_theme_and_prints_the_run(monkeypatch, threads, capsys, tmp_path):
    monkeypatch.setenv("VAELIB_SMOKE", "1")
    monkeypatch.setenv("VAELIB_TALK", "1")
    monkeypatch.setenv("VAELIB_DATA", str(tmp_path))  # no MNIST here: the run line says where it will go
    with matplotlib.rc_context():  # the talk theme does not outlive this test
        run = setup_notebook(seed=7)
    first = torch.rand(3, generator=run.gen)
    assert torch.equal(first, torch.rand(3, generator=seed_everything(7)))
    assert (run.seed, run.smoke, run.threads, run.theme, run.data_root) == (7, True, 1, "talk", tmp_path.resolve())
    assert threads == [1]
    out = capsys.readouterr().out
    assert "mode: SMOKE" in out and f"downloads it into {tmp_path.resolve()}" in out


def test_colab_widget_manager_is_turned_on_only_on_colab(monkeypatch):
    calls = []
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert notebook._colab_widgets() is False
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("on"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert notebook._colab_widgets() is True and calls == ["on"]
