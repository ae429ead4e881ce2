"""vaelib.sweep: the grid, a two-run smoke sweep through the CLI, selection and the plot."""
from __future__ import annotations

import json

import matplotlib.pyplot as plt

from vaelib.sweep import SweepConfig, main, plot_sweep, select, smoke_sweep_config


def test_runs_cover_both_sweeps_without_duplicates():
    cfg = SweepConfig(latent_dims=(2, 5, 10), depths=(1, 2, 3), base_depth=2, depth_latent_dim=10)
    assert cfg.runs() == [(2, 2), (5, 2), (10, 2), (10, 1), (10, 3)]
    tc = cfg.train_config(10, 3)
    assert tc.model.hidden == (256, 256, 256) and tc.model.decoder_hidden == (256, 256)  # decoder fixed
    assert cfg.train_config(2, 1).epochs == tc.epochs and cfg.train_config(2, 1).limit == tc.limit


def test_smoke_sweep_cli_writes_consistent_json(mnist, tmp_path):
    s = smoke_sweep_config()
    out = tmp_path / "sweep.json"
    argv = ["--latent-dims", *map(str, s.latent_dims), "--depths", *map(str, s.depths), "--depth-latent-dim", "2",
            "--width", "32", "--epochs", "1", "--limit", "300", "--n-samples", "100", "--threads", "1",
            "--out", str(out)]
    doc = json.loads(out.read_text()) if main(argv) else None
    assert doc["command"].startswith("python -m vaelib.sweep --latent-dims 2")
    assert len(doc["runs"]) == 2 and doc["wall_seconds"] > 0
    for r in doc["runs"]:
        assert abs(r["gap"]) < 5 * r["gap_se"] + 1e-9  # ELBO surgery holds run by run
        assert -5 * r["mi_se"] <= r["mi"] <= r["log_n"] + 1e-9 and r["n_components"] == 300
        assert r["marginal_kl"] > r["gaussian_kl"] - 5 * r["marginal_kl_se"]
    assert [r["depth"] for r in select(doc, "depth")] == [1, 2]
    assert [r["latent_dim"] for r in select(doc, "latent_dim")] == [2]
    fig = plot_sweep(doc)
    assert len(fig.axes) == 8 and len(fig.axes[1].lines) >= 1
    plt.close(fig)
