"""vaelib.scores: the Fréchet distance against scipy.linalg.sqrtm and Gaussian closed forms; features and scores."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

from vaelib.classifier import SmallCNN, predict_proba
from vaelib.pretrained import load_classifier
from vaelib.scores import (
    classifier_features,
    feature_moments,
    features_and_probs,
    fid_mean_bias,
    frechet_distance,
    frechet_distance_gaussians,
    pixel_noise,
    score_samples,
)

from conftest import F64, gen


def random_spd(D: int, seed: int) -> torch.Tensor:
    a = torch.randn(D, D, generator=gen(seed), dtype=F64)
    return a @ a.T / D + 0.1 * torch.eye(D, dtype=F64)


def scipy_frechet(m1, c1, m2, c2) -> float:
    """The formula as the reference FID code writes it, with scipy's general (non-symmetric) sqrtm."""
    covmean = sqrtm(c1 @ c2).real
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean))


def test_matches_scipy_sqrtm_for_non_commuting_covariances():
    for seed, D in ((0, 3), (1, 10), (2, 40)):
        m1, m2 = torch.randn(D, generator=gen(seed), dtype=F64), torch.randn(D, generator=gen(seed + 50), dtype=F64)
        c1, c2 = random_spd(D, seed + 100), random_spd(D, seed + 200)
        ours = frechet_distance_gaussians(m1, c1, m2, c2)
        assert math.isclose(ours, scipy_frechet(m1.numpy(), c1.numpy(), m2.numpy(), c2.numpy()), rel_tol=1e-8)
        assert math.isclose(ours, frechet_distance_gaussians(m2, c2, m1, c1), rel_tol=1e-9)  # symmetric


def test_closed_forms_in_one_dimension_and_for_commuting_covariances():
    one = frechet_distance_gaussians(torch.tensor([1.0]), torch.tensor([[4.0]]),
                                     torch.tensor([-0.5]), torch.tensor([[0.25]]))
    assert math.isclose(one, 1.5 ** 2 + (2.0 - 0.5) ** 2, rel_tol=1e-12)  # (m1 - m2)^2 + (s1 - s2)^2
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen(3), dtype=F64))  # a shared rotation: the covariances commute
    a, b = torch.rand(6, generator=gen(4), dtype=F64) + 0.1, torch.rand(6, generator=gen(5), dtype=F64) + 0.1
    m = torch.randn(6, generator=gen(6), dtype=F64)
    w2 = frechet_distance_gaussians(m, q @ torch.diag(a) @ q.T, 0 * m, q @ torch.diag(b) @ q.T)
    assert math.isclose(w2, (m.pow(2).sum() + (a.sqrt() - b.sqrt()).pow(2).sum()).item(), rel_tol=1e-10)
    c = random_spd(8, 7)
    assert abs(frechet_distance_gaussians(m[:1].expand(8), c, m[:1].expand(8), c)) < 1e-9  # identical: 0


def test_square_root_is_a_metric_on_gaussians():
    d = [(torch.randn(4, generator=gen(s), dtype=F64), random_spd(4, s + 30)) for s in range(3)]
    w = lambda i, j: math.sqrt(max(frechet_distance_gaussians(*d[i], *d[j]), 0.0))  # noqa: E731
    assert w(0, 2) <= w(0, 1) + w(1, 2) + 1e-12 and w(0, 1) > 0


def test_sample_distance_converges_to_the_closed_form_and_its_mean_bias():
    D, n = 3, 200_000
    c1, c2 = random_spd(D, 8), random_spd(D, 9)
    m1, m2 = torch.zeros(D, dtype=F64), torch.ones(D, dtype=F64)
    xa = torch.randn(n, D, generator=gen(10), dtype=F64) @ torch.linalg.cholesky(c1).T + m1
    xb = torch.randn(n, D, generator=gen(11), dtype=F64) @ torch.linalg.cholesky(c2).T + m2
    assert math.isclose(frechet_distance(xa, xb), frechet_distance_gaussians(m1, c1, m2, c2), rel_tol=0.02)
    # the means' part of the finite-sample bias: E ||m_a - m_b||^2 = tr(C) (1/n_a + 1/n_b)
    c, na, nb, reps = random_spd(5, 12), 50, 80, 4000
    chol, g = torch.linalg.cholesky(c), gen(13)
    gaps = torch.stack([(torch.randn(na, 5, generator=g, dtype=F64).mean(0) - torch.randn(nb, 5, generator=g, dtype=F64)
                         .mean(0)) @ chol.T for _ in range(reps)]).pow(2).sum(1)
    assert abs(gaps.mean().item() - fid_mean_bias(c, na, nb)) < 4 * gaps.std().item() / math.sqrt(reps)


def test_same_distribution_distance_shrinks_like_one_over_n():
    c = random_spd(20, 14)
    chol, g = torch.linalg.cholesky(c), gen(15)
    draw = lambda n: torch.randn(n, 20, generator=g, dtype=F64) @ chol.T  # noqa: E731
    small = np.mean([frechet_distance(draw(500), draw(500)) for _ in range(20)])
    large = np.mean([frechet_distance(draw(4000), draw(4000)) for _ in range(20)])
    assert 6 < small / large < 10.5  # 8x the samples: 8x smaller bias


def test_features_are_the_classifiers_penultimate_layer():
    model = SmallCNN().eval()
    x = torch.rand(13, 784, generator=gen(16))
    f = classifier_features(model, x, batch_size=5)
    assert f.shape == (13, 256) and f.dtype == F64 and (f >= 0).all()  # after a ReLU and a max-pool
    assert torch.allclose(model.net[-1](f.float()), model(x), atol=1e-5)  # the last layer maps them to the logits
    f2, p = features_and_probs(model, x)
    assert torch.equal(f2, f) and torch.allclose(p, predict_proba(model, x), atol=1e-6)


def test_score_samples_combines_per_chunk_scores():
    torch.manual_seed(1)
    model = SmallCNN().eval()
    ref_images, images = torch.rand(300, 784, generator=gen(17)), torch.rand(200, 784, generator=gen(18))
    reference = feature_moments(classifier_features(model, ref_images))
    s = score_samples(model, images, reference, chunks=4)
    assert s.n == 200 and s.chunks == 4
    assert math.isclose(s.confidence, predict_proba(model, images).max(1).values.double().mean().item(), rel_tol=1e-9)
    fids = [frechet_distance_gaussians(*feature_moments(classifier_features(model, p)), *reference)
            for p in images.split(50)]
    assert math.isclose(s.fid, float(np.mean(fids)), rel_tol=1e-9)
    assert math.isclose(s.fid_se, float(np.std(fids, ddof=1) / 2), rel_tol=1e-9)
    with pytest.raises(ValueError, match="equal chunks"):
        score_samples(model, images[:199], reference, chunks=4)


def test_fid_on_digits_is_small_for_real_and_grows_with_noise(mnist):
    clf = load_classifier()
    real = mnist.test_x[torch.randperm(10_000, generator=gen(20))].float() / 255  # the file's halves differ: shuffle
    reference = feature_moments(classifier_features(clf, real[:5000]))
    same = frechet_distance_gaussians(*feature_moments(classifier_features(clf, real[5000:7000])), *reference)
    noisy = [frechet_distance_gaussians(
                 *feature_moments(classifier_features(clf, pixel_noise(real[5000:7000], s, gen(19)))), *reference)
             for s in (0.1, 0.3, 0.5)]
    assert same < noisy[0] < noisy[1] < noisy[2] and noisy[2] > 10 * same
