"""The 'your turn' helpers of notebooks 05-08 (vaelib.experiments) against direct computations."""

import math

import torch

from vaelib.experiments import compare, mixture_heldout, recon_with_dims_kept
from vaelib.expost import fit_gaussian
from vaelib.models import ModelConfig, build_model


def test_compare_reports_live_shipped_and_the_prediction(capsys):
    result = compare("beta = 2", -90.5, -88.0, -89.0, "nats")
    out = capsys.readouterr().out
    assert result.live == -90.5 and "beta = 2" in out and "(difference -2.500)" in out and "(off by -1.500)" in out


def test_compare_without_a_prediction_asks_for_one(capsys):
    for guess in (None, float("nan")):
        compare("K = 3", 1.0, 2.0, guess, "nats")
        assert "set my_prediction" in capsys.readouterr().out


def test_recon_with_all_dims_kept_is_the_decoders_nll_at_mu_and_dropping_changes_it():
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=4, hidden=(16,))).eval()
    x = (torch.rand(7, 784) < 0.3).float()
    mu = model.encode(x).mu
    full = (-model.log_px_given_z(x, mu)).mean().item()              # reference: the decoder at the means
    assert math.isclose(recon_with_dims_kept(model, x, torch.ones(4, dtype=torch.bool)), full, rel_tol=1e-6)
    z0 = mu.clone()
    z0[:, 1:] = 0
    dropped = (-model.log_px_given_z(x, z0)).mean().item()
    keep_first = torch.tensor([True, False, False, False])
    assert math.isclose(recon_with_dims_kept(model, x, keep_first), dropped, rel_tol=1e-6)


def test_one_component_mixture_is_the_gaussian_fit_scored_by_torch_distributions():
    g = torch.Generator().manual_seed(1)
    train = torch.randn(500, 3, generator=g, dtype=torch.float64)
    test = torch.randn(200, 3, generator=g, dtype=torch.float64)
    m = train.mean(0)
    C = (train - m).T @ (train - m) / len(train)
    ref = torch.distributions.MultivariateNormal(m, C).log_prob(test).mean().item()
    assert math.isclose(mixture_heldout(train, test, 1), ref, rel_tol=1e-4)
    assert math.isclose(mixture_heldout(train, test, 1), fit_gaussian(train).log_prob(test).mean().item(), rel_tol=1e-9)
    assert mixture_heldout(train, test, 2) < 0   # a valid density of unit-variance codes
