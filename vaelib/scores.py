"""Scores for generated digits: the shipped classifier's confidence and class balance, and a Fréchet distance.

The Fréchet distance (FID, Heusel et al. 2017) compares two sets of images through the mean and covariance of
their features: ||m_a - m_b||^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2), the squared 2-Wasserstein
distance between the Gaussians with those moments. The usual FID takes Inception features; on MNIST we take
the 256 penultimate features of the shipped classifier (``vaelib.classifier``), so the numbers are not on
the scale of published FIDs. The matrix square root comes from two symmetric eigen-decompositions (never a
non-symmetric ``sqrtm``). The estimate from n samples is biased upwards (about tr(C)/n from the mean alone),
so distances are only compared at equal n. Derived in notebooks/08_do_we_need_the_v.ipynb.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from vaelib.checks import count, fail, number, tensor
from vaelib.classifier import SmallCNN, sample_quality
from vaelib.evaluate import mean_se

F64 = torch.float64


@torch.no_grad()
def classifier_features(model: SmallCNN, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Penultimate features (N, 256) float64 of the classifier for images (N, 784) in [0, 1]."""
    tensor(images, "images", ndim=2, last=784)
    batch_size = count(batch_size, "batch_size")
    model.eval()
    return torch.cat([model.features(images[a:a + batch_size].float()).double()
                      for a in range(0, len(images), batch_size)])


@torch.no_grad()
def features_and_probs(model: SmallCNN, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, 256) float64 and class probabilities (N, 10) from one pass: the last layer maps one to the other."""
    features = classifier_features(model, images)
    return features, torch.softmax(model.net[-1](features.float()), -1)


def feature_moments(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (F,) and covariance (F, F) with 1/(n - 1), float64, of features (n, F), n >= 2."""
    return _moments(features, "features")


def _moments(features: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    f = tensor(features, name, ndim=2, floating=False).to(F64)
    if len(f) < 2:
        raise fail(name, "needs at least 2 samples for a covariance", f"shape {tuple(f.shape)}",
                   "two or more rows (n, F)")
    mean = f.mean(0)
    return mean, (f - mean).T @ (f - mean) / (len(f) - 1)


def _psd_sqrt(c: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative round-off clipped to 0)."""
    evals, evecs = torch.linalg.eigh(c)
    return (evecs * evals.clamp_min(0).sqrt()) @ evecs.T


def frechet_distance_gaussians(mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor,
                               cov_b: torch.Tensor) -> float:
    """Squared 2-Wasserstein distance between N(mean_a, cov_a) and N(mean_b, cov_b) (float64)."""
    for name, mean, cov in (("mean_a", mean_a, cov_a), ("mean_b", mean_b, cov_b)):
        tensor(mean, name, ndim=1, floating=False)
        tensor(cov, "cov" + name[-2:], ndim=2, last=len(mean), floating=False)
        if cov.shape[0] != cov.shape[1]:
            raise fail("cov" + name[-2:], "must be square", f"shape {tuple(cov.shape)}", "an (F, F) covariance")
    if mean_a.shape != mean_b.shape:
        raise fail("mean_a and mean_b", "must have the same length", f"{len(mean_a)} and {len(mean_b)}",
                   "moments of features of one kind")
    mean_a, cov_a, mean_b, cov_b = (t.to(F64) for t in (mean_a, cov_a, mean_b, cov_b))
    root_a = _psd_sqrt(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()  # tr (A^1/2 B A^1/2)^1/2
    return ((mean_a - mean_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross).item()


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between two feature samples (n_a, F) and (n_b, F) through their means and covariances."""
    moments_a, moments_b = _moments(features_a, "features_a"), _moments(features_b, "features_b")
    if features_a.shape[1] != features_b.shape[1]:
        raise fail("features_a and features_b", "must have the same number of features",
                   f"{features_a.shape[1]} and {features_b.shape[1]}", "features of one kind for both samples")
    return frechet_distance_gaussians(*moments_a, *moments_b)


@dataclass(frozen=True)
class SampleScores:
    """Scores of n generated images, each mean ± SE: confidence over images; class entropy / log 10 and the
    Fréchet distance to the reference over ``chunks`` disjoint chunks of ``n / chunks`` images."""

    confidence: float
    confidence_se: float
    entropy_ratio: float
    entropy_ratio_se: float
    fid: float
    fid_se: float
    n: int
    chunks: int
    fid_chunks: tuple[float, ...]            # per chunk, for paired comparisons of the same samples
    entropy_ratio_chunks: tuple[float, ...]


def score_samples(model: SmallCNN, images: torch.Tensor, reference: tuple[torch.Tensor, torch.Tensor],
                  chunks: int = 5) -> SampleScores:
    """Score images (n, 784) in [0, 1] with the classifier ``model`` against the reference ``feature_moments``
    (for example of the test images). Chunks give standard errors for the two scores that are not means (with one
    chunk their SE is NaN)."""
    chunks = count(chunks, "chunks")
    tensor(images, "images", ndim=2, last=784)
    if len(images) < 2 * chunks or len(images) % chunks:
        raise ValueError(f"{len(images)} images do not split into {chunks} equal chunks of at least 2 images: "
                         "pass a multiple of chunks.")
    features, probs = features_and_probs(model, images)
    confidence = mean_se(probs.max(1).values)
    size = len(images) // chunks
    ratios, fids = [], []
    for f, p in zip(features.split(size), probs.split(size)):
        ratios.append(sample_quality(p)["entropy_ratio"])
        fids.append(frechet_distance_gaussians(*feature_moments(f), *reference))
    entropy = mean_se(torch.tensor(ratios, dtype=F64))
    fid = mean_se(torch.tensor(fids, dtype=F64))
    return SampleScores(*confidence, *entropy, *fid, n=len(images), chunks=chunks, fid_chunks=tuple(fids),
                        entropy_ratio_chunks=tuple(ratios))


def fid_mean_bias(cov: torch.Tensor, n_a: int, n_b: int | None = None) -> float:
    """Expected ||m_a - m_b||^2 for two samples of n_a and n_b (default: infinitely many) draws from one
    distribution with covariance ``cov``: tr(cov) (1/n_a + 1/n_b), the part of the Fréchet distance's
    finite-sample bias that comes from the means."""
    tensor(cov, "cov", ndim=2, floating=False)
    n_a, n_b = count(n_a, "n_a"), None if n_b is None else count(n_b, "n_b")
    return cov.trace().item() * (1 / n_a + (0 if n_b is None else 1 / n_b))


def pixel_noise(images: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """images + N(0, sigma^2) per pixel, clipped to [0, 1]: the degradation used to check a score."""
    tensor(images, "images")
    sigma = number(sigma, "sigma", low=0.0)
    return (images + sigma * torch.randn(images.shape, generator=generator)).clamp(0, 1)

