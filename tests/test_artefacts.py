"""vaelib.artefacts and aggregate.surgery_terms: notebooks 06-07's shipped intermediates.

The first tests check the estimators against brute force (every component's density from torch.distributions).
The tests marked "integrity" check the shipped files: that the manifest's config is what the notebooks ask for,
and that a random subset of the shipped log-densities equals a fresh computation (a stale or damaged artefact
fails them)."""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, Normal

from vaelib import artefacts
from vaelib.aggregate import aggregate_terms, surgery_terms
from vaelib.artefacts import (
    NB06,
    NB07,
    encode_train,
    load_or_compute,
    nb06_values,
    nb07_values,
    prior_draws,
    surgery_draws,
)
from vaelib.data import load_mnist
from vaelib.mixture import log_mixture_density, sample_mixture
from vaelib.pretrained import load_pretrained, manifest_entry

from conftest import F64


def small_mixture(n=40, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=F64), torch.rand(n, d, generator=g, dtype=F64) * 2 - 2


def test_surgery_terms_against_brute_force():
    mu, logvar = small_mixture()
    z, idx = surgery_draws(mu, logvar, 200)
    comp = Independent(Normal(mu, (0.5 * logvar).exp()), 1).log_prob(z[:, None, :])  # (M, N)
    own = comp[torch.arange(len(z)), idx]
    log_q = comp.logsumexp(1) - math.log(len(mu))
    log_q_loo = comp.scatter(1, idx[:, None], -math.inf).logsumexp(1) - math.log(len(mu) - 1)
    log_p = Independent(Normal(torch.zeros(3, dtype=F64), torch.ones(3, dtype=F64)), 1).log_prob(z)
    t = surgery_terms(mu, logvar, z, idx, log_q, log_q_loo)
    assert math.isclose(t.mi, (own - log_q).mean().item(), abs_tol=1e-12)
    assert math.isclose(t.mi_loo, (own - log_q_loo).mean().item(), abs_tol=1e-12)
    assert math.isclose(t.marginal_kl, (log_q - log_p).mean().item(), abs_tol=1e-12)
    assert math.isclose(t.self_weight, comp.softmax(1)[torch.arange(len(z)), idx].mean().item(), rel_tol=1e-9)
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)  # closed form, averaged over all N components
    assert math.isclose(t.avg_kl, kl.mean().item(), rel_tol=1e-12)
    # a model's own prior: the average KL becomes the Monte Carlo mean of log q(z|x_i) - log p(z)
    t_own = surgery_terms(mu, logvar, z, idx, log_q, log_pz=log_p - 1.0)
    assert math.isclose(t_own.avg_kl, (own - log_p + 1.0).mean().item(), abs_tol=1e-12) and math.isnan(t_own.mi_loo)


def test_aggregate_terms_is_surgery_terms_at_its_own_draws():
    mu, logvar = small_mixture(seed=1)
    a = aggregate_terms(mu, logvar, 300, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)  # the same draws as aggregate_terms
    z, idx = sample_mixture(300, mu, logvar, generator=g)
    b = surgery_terms(mu, logvar, z, idx, log_mixture_density(z, mu, logvar),
                      log_mixture_density(z, mu, logvar, exclude=idx))
    assert a == b


def test_load_or_compute_computes_when_nothing_matches(capsys):
    calls = []
    out = load_or_compute("no-such-artefact", {"n": 1}, lambda: calls.append(1) or {"x": torch.ones(2)})
    assert calls == [1] and torch.equal(out["x"], torch.ones(2))
    assert "computed now" in capsys.readouterr().out
    entry = manifest_entry(NB07["name"])
    other = {**entry["config"], "draws": entry["config"]["draws"] + 1}
    load_or_compute(NB07["name"], other, lambda: {})
    assert "draws: checkpoint has 4000, requested 4001" in capsys.readouterr().out


def test_config_refuses_posteriors_of_different_sizes():
    mu, logvar = small_mixture()
    with pytest.raises(ValueError, match="different numbers of components"):
        artefacts._config({"mlp-d2": (mu, logvar), "mlp-d50": (mu[:5], logvar[:5])})


@pytest.fixture(scope="module")
def nb06_posteriors():
    data = load_mnist()
    return {name: encode_train(load_pretrained(name)[0], data.train_x[:NB06["n"]]) for name in NB06["models"]}


@pytest.mark.integrity
def test_integrity_nb06_shipped_values_match_a_fresh_computation(nb06_posteriors, capsys):
    """Integrity (shipped file): the notebook's full-mode request loads the file, and 40 random values of each
    array equal a fresh computation over all 50,000 components."""
    post = nb06_posteriors
    values = nb06_values(post, NB06["draws"], NB06["grid_n"], NB06["prior_n"], NB06["marginal_grid"])
    assert "loaded the shipped values" in capsys.readouterr().out
    g = torch.Generator().manual_seed(0)
    for name, (mu, lv) in post.items():
        z, idx = surgery_draws(mu, lv, NB06["draws"])
        sub = torch.randperm(len(z), generator=g)[:40]
        s = values["surgery"][name]
        assert torch.equal(idx.int(), s["idx"])
        assert torch.allclose(log_mixture_density(z[sub], mu, lv).float(), s["log_qz"][sub], rtol=1e-5, atol=1e-4)
        assert torch.allclose(log_mixture_density(z[sub], mu, lv, exclude=idx[sub]).float(), s["log_qz_loo"][sub],
                              rtol=1e-5, atol=1e-4)
        assert values["marginal_kl"][name].shape == (mu.shape[1],) and (values["marginal_kl"][name] >= 0).all()
    mu2, lv2 = post["mlp-d2"]
    zp = prior_draws(NB06["prior_n"], 2)[:40]
    assert torch.allclose(log_mixture_density(zp, mu2, lv2).float(), values["prior_log_q"][:40], rtol=1e-5, atol=1e-4)
    assert values["grid_log_q"].shape == (NB06["grid_n"] ** 2,)


@pytest.mark.integrity
def test_integrity_nb07_shipped_values_match_a_fresh_computation(capsys):
    """Integrity (shipped file): as above for notebook 07's 10,000-component mixtures."""
    data = load_mnist()
    post = {name: encode_train(load_pretrained(name)[0], data.train_x[:NB07["n"]]) for name in NB07["models"]}
    values = nb07_values(post, NB07["draws"])
    assert "loaded the shipped values" in capsys.readouterr().out
    for name, (mu, lv) in post.items():
        z, idx = surgery_draws(mu, lv, NB07["draws"])
        s = values["surgery"][name]
        assert torch.equal(idx.int(), s["idx"])
        assert torch.allclose(log_mixture_density(z[:40], mu, lv).float(), s["log_qz"][:40], rtol=1e-5, atol=1e-4)
