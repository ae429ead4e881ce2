"""vaelib.classifier: metrics on known histograms, a short training run, and a weights_only round trip."""
from __future__ import annotations

import json
import math

import torch

from vaelib.classifier import SmallCNN, classifier_info, load_classifier, main, predict_proba, sample_quality


def test_sample_quality_on_known_histograms():
    balanced = torch.eye(10).repeat(5, 1)  # 50 confident predictions, 5 per class
    q = sample_quality(balanced)
    assert math.isclose(q["entropy"], math.log(10), rel_tol=1e-9) and abs(q["kl_uniform"]) < 1e-9
    assert q["confidence"] == 1.0 and math.isclose(q["entropy_ratio"], 1.0)
    collapsed = torch.full((20, 10), 0.05)
    collapsed[:, 3] = 0.55
    q = sample_quality(collapsed)
    assert abs(q["entropy"]) < 1e-9 and math.isclose(q["kl_uniform"], math.log(10))
    assert math.isclose(q["confidence"], 0.55, rel_tol=1e-6) and q["hist"][3] == 1.0


def test_predict_proba_rows_sum_to_one_in_batches():
    torch.manual_seed(0)
    p = predict_proba(SmallCNN(), torch.rand(25, 784), batch_size=7)
    assert p.shape == (25, 10) and torch.allclose(p.sum(1), torch.ones(25))


def test_short_training_learns_and_round_trips_with_weights_only(mnist, tmp_path):
    out = tmp_path / "clf.pt"
    info = main(["--epochs", "2", "--limit", "4000", "--threads", "1", "--out", str(out)])
    assert info["test_accuracy"] > 0.7  # 2 epochs on 4,000 images (chance: 0.1); the shipped one trains on 50,000
    assert json.loads(out.with_suffix(".json").read_text())["test_accuracy"] == info["test_accuracy"]
    assert classifier_info(out)["n_train"] == 4000
    model = load_classifier(out)
    x = mnist.test_x[:200].float() / 255
    acc = (predict_proba(model, x).argmax(1) == mnist.test_y[:200]).double().mean().item()
    assert abs(acc - info["test_accuracy"]) < 0.15  # the reloaded weights classify like the trained ones
