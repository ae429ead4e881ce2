"""vaelib.classifier: metrics on known histograms, a short training run, and a weights_only round trip."""
from __future__ import annotations

import math

import pytest
import torch

from vaelib.checkpoint import load_checkpoint, load_model_state, save_checkpoint
from vaelib.classifier import SmallCNN, accuracy, predict_proba, sample_quality, train_classifier
from vaelib.pretrained import classifier_info, load_classifier


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
    p = predict_proba(SmallCNN(), torch.rand(25, 784), batch_size=7)
    assert p.shape == (25, 10) and torch.allclose(p.sum(1), torch.ones(25))


def test_short_training_learns_and_round_trips_through_a_checkpoint(mnist, tmp_path):
    torch.set_num_threads(1)
    model, info = train_classifier(mnist, epochs=2, limit=4000)
    assert info["test_accuracy"] > 0.7 and info["n_train"] == 4000  # chance: 0.1; the shipped one uses 50,000
    out = save_checkpoint(tmp_path / "clf.pt", {"config": {}, "model": model.state_dict()}, kind="classifier")
    reloaded = load_model_state(SmallCNN(), load_checkpoint(out, kind="classifier")["model"], out).eval()
    x = mnist.test_x[:500].float() / 255
    assert torch.equal(predict_proba(model, x), predict_proba(reloaded, x))


def test_accuracy_is_the_fraction_of_argmax_predictions_that_match():
    model = SmallCNN().eval()
    x = torch.randint(0, 256, (37, 784), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    with torch.no_grad():
        predicted = model(x.float() / 255).argmax(1)
    y = predicted.clone()
    y[::3] = (y[::3] + 1) % 10  # 13 of 37 labels made wrong on purpose
    assert math.isclose(accuracy(model, x, y, batch_size=10), 24 / 37, rel_tol=1e-12)


@pytest.mark.integrity
def test_integrity_shipped_classifier_is_as_accurate_as_its_manifest_entry(mnist):
    """Integrity: the shipped file against its own manifest record (catches a changed file, not a wrong classifier)."""
    clf, info = load_classifier(), classifier_info()
    n = 2000
    acc = accuracy(clf, mnist.test_x[:n], mnist.test_y[:n])
    assert abs(acc - info["test_accuracy"]) < 4 * math.sqrt(info["test_accuracy"] * (1 - info["test_accuracy"]) / n)


def test_features_are_the_input_of_the_last_layer():
    model = SmallCNN().eval()
    x = torch.rand(5, 784)
    feats = model.features(x)
    assert feats.shape == (5, 256)
    assert torch.allclose(model.net[-1](feats), model(x), atol=1e-6)
