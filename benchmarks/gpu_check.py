"""The GPU check (issue 15 §2): one table from one short run on a machine with one CUDA GPU.

Rows, each with its target:

* epoch ratio -- ``train_speed.py``'s three pipelines on the device (tutorial vs vaelib.train vs the fast step);
* mlp-d50 -- the shipped 200-epoch recipe (``vaelib.shipped.shipped_configs()["mlp-d50"]``) trained from scratch
  with ``vaelib.train``, its wall time, then test log p(x) with k = 5000 on the 10,000 test images (SE over
  images) beside the shipped CPU-trained value, and the paired difference on the same binarization;
* notebooks 04-08 in full mode, each run by nbval with the device picked automatically, their times.

Run it through ``benchmarks/gpu_check.sh`` (installs from a wheel folder, points at a data folder, keeps the
checkout clean). ``--smoke`` runs the same code on the CPU with tiny settings in seconds; CI tests that path.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import train_speed
from pipelines import sync

from vaelib.config import REPO_ROOT, get_device
from vaelib.data import load_mnist
from vaelib.evaluate import evaluate
from vaelib.pretrained import compare_with_shipped, manifest_entry
from vaelib.shipped import EVAL_K, shipped_configs
from vaelib.train import train

TARGETS = {"epoch_ratio": 30.0, "train_s": 180.0, "eval_s": 60.0, "total_s": 480.0}
NOTEBOOK_NEEDS = ("nbval", "ipykernel", "ipywidgets", "ipympl")


def epoch_ratio(device: torch.device, epochs: int, limit: int | None) -> list[tuple[str, str, str]]:
    """Rows for train_speed's pipelines on ``device``."""
    rows = train_speed.run(epochs, device, limit)
    tut = rows["tutorial"]["mean"]
    out = []
    for name in ("vaelib.train", "vaelib fast step"):
        r = rows[name]
        out.append((f"epoch ratio, {name}", f"{tut / r['mean']:.1f}x ({tut:.2f} / {r['mean']:.3f} s/epoch; "
                    f"test loss {r['test_loss'][0]:.1f} vs {rows['tutorial']['test_loss'][0]:.1f})",
                    f">= {TARGETS['epoch_ratio']:.0f}x" + _verdict(tut / r["mean"] >= TARGETS["epoch_ratio"])))
    return out


def mlp_d50(device: torch.device, smoke: bool) -> list[tuple[str, str, str]]:
    """Train the shipped mlp-d50 recipe from scratch, then score it against the shipped CPU-trained model."""
    cfg = shipped_configs()["mlp-d50"]
    cfg = replace(cfg, epochs=1, limit=512) if smoke else cfg
    k, n_test = (4, 100) if smoke else (EVAL_K["mlp-d50"], None)
    data = load_mnist()
    sync(device)
    t0 = time.perf_counter()
    result = train(cfg, data, device, progress=False)
    sync(device)
    train_s = time.perf_counter() - t0
    test_x = data.test_x[:n_test].to(device)
    entry = manifest_entry("mlp-d50")
    t0 = time.perf_counter()
    if "values_file" in entry:  # per-image shipped values: pair them (same images, same binarization)
        cmp = compare_with_shipped(result.model, "mlp-d50", test_x, k=k)
        live, paired = cmp["live"], "paired {:+.2f} ± {:.2f}".format(*cmp["log_px"])
    else:  # the manifest's seed and batch size: the same binarized test images as the shipped number
        live = evaluate(result.model, test_x, k=k, seed=entry["eval_seed"], batch_size=100)
        paired = "no shipped per-image values to pair"
    sync(device)
    eval_s = time.perf_counter() - t0
    shipped, shipped_se = entry["test_logpx"], entry["test_logpx_se"]
    diff = live["log_px"] - shipped
    return [
        (f"mlp-d50 training ({cfg.epochs} epochs{', 512 images' if smoke else ''})", f"{train_s:.1f} s",
         f"<= {TARGETS['train_s']:.0f} s" + _verdict(train_s <= TARGETS["train_s"])),
        (f"mlp-d50 test log p(x), k={k}, {len(test_x)} images",
         f"{live['log_px']:.2f} ± {live['log_px_se']:.2f} (shipped {shipped:.2f} ± {shipped_se:.2f}; {paired})",
         "within shipped SE" + _verdict(abs(diff) <= shipped_se)),
        ("mlp-d50 evaluation", f"{eval_s:.1f} s",
         f"<= {TARGETS['eval_s']:.0f} s" + _verdict(eval_s <= TARGETS["eval_s"])),
    ]


def notebooks(paths: list[Path], smoke: bool, timeout: float) -> list[tuple[str, str, str]]:
    """Run each notebook with nbval (full mode, or smoke mode with ``smoke``) and time it."""
    missing = [m for m in NOTEBOOK_NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        return [("notebooks", f"skipped: {', '.join(missing)} not installed", "pass --wheels DIR to gpu_check.sh")]
    env = {k: v for k, v in os.environ.items() if k != "VAELIB_SMOKE"} | ({"VAELIB_SMOKE": "1"} if smoke else {})
    rows = []
    for nb in paths:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
               "--nbval-cell-timeout=600", str(nb)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            ok, note = proc.returncode == 0, "" if proc.returncode == 0 else _last_line(proc.stdout + proc.stderr)
        except subprocess.TimeoutExpired:
            ok, note = False, f"stopped after {timeout:.0f} s"
        seconds = time.perf_counter() - t0
        rows.append((f"notebook {nb.name} ({'smoke' if smoke else 'full'}, device auto)",
                     f"{seconds:.1f} s" + ("" if ok else f", FAILED: {note}"), "runs" + _verdict(ok)))
    return rows


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:100] if lines else "no output"


def _verdict(ok: bool) -> str:
    return ": met" if ok else ": MISSED"


def main(argv: list[str] | None = None) -> list[tuple[str, str, str]]:
    """Command line; prints one table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", default=os.environ.get("GPU_CHECK_SMOKE") == "1",
                   help="the same code on the CPU, tiny settings (also GPU_CHECK_SMOKE=1)")
    p.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per pipeline for the epoch ratio")
    p.add_argument("--notebooks", nargs="*", default=None, help="default: notebooks/0[4-8]_*.ipynb")
    p.add_argument("--notebook-timeout", type=float, default=300.0, help="seconds per notebook")
    p.add_argument("--skip", nargs="*", default=[], choices=["ratio", "mlp-d50", "notebooks"])
    p.add_argument("--json", default=None, help="also write the table to this JSON file")
    a = p.parse_args(argv)
    device = get_device(a.device or ("cpu" if a.smoke else "cuda"))
    nbs = ([Path(n) for n in a.notebooks] if a.notebooks is not None
           else sorted((REPO_ROOT / "notebooks").glob("0[4-8]_*.ipynb")))
    t0 = time.perf_counter()
    rows: list[tuple[str, str, str]] = []
    if "ratio" not in a.skip:
        rows += epoch_ratio(device, 1 if a.smoke else a.epochs, 512 if a.smoke else None)
    if "mlp-d50" not in a.skip:
        rows += mlp_d50(device, a.smoke)
    if "notebooks" not in a.skip:
        rows += notebooks(nbs, a.smoke, a.notebook_timeout)
    total = time.perf_counter() - t0
    rows.append(("total", f"{total:.0f} s", f"<= {TARGETS['total_s']:.0f} s" + _verdict(total <= TARGETS["total_s"])))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"gpu check | device {device} ({name}) | torch {torch.__version__} | "
          f"{'SMOKE: tiny settings, targets not meaningful' if a.smoke else 'full settings'}")
    width = max(len(r[0]) for r in rows)
    print(f"{'row':<{width}} | {'result':<70} | target")
    for row, result, target in rows:
        print(f"{row:<{width}} | {result:<70} | {target}")
    if a.json:
        Path(a.json).write_text(json.dumps({"device": str(device), "smoke": a.smoke, "rows": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
