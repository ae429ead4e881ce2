"""'Your turn' experiments of notebooks 05-08: predict, change one thing, run it live, compare with the notebook.

Each notebook runs its experiment through the same vaelib code that made its shipped result; this module holds
only what the four cells share: the comparison a learner reads (``compare``), and the two experiments that need
more than a line of notebook code. Derived in notebooks/05_latent_space.ipynb to 08_do_we_need_the_v.ipynb."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from vaelib.checks import count, fail, number, tensor, unit_interval
from vaelib.expost import fit_mixture, heldout_loglik
from vaelib.models import VAE


@dataclass(frozen=True)
class Comparison:
    """One 'your turn' result: what was changed, the live number, the notebook's number and the learner's guess."""

    changed: str
    live: float
    shipped: float
    prediction: float | None
    unit: str

    def text(self) -> str:
        """The comparison as the cell prints it (one line per number)."""
        lines = [f"you changed: {self.changed}",
                 f"  live result:          {self.live:10.3f} {self.unit}",
                 f"  the notebook's:       {self.shipped:10.3f} {self.unit}"
                 f"   (difference {self.live - self.shipped:+.3f})"]
        if self.prediction is None or not math.isfinite(self.prediction):
            lines.append("  your prediction:      none yet: set my_prediction to a number before you run the cell")
        else:
            lines.append(f"  your prediction:      {self.prediction:10.3f} {self.unit}   "
                         f"(off by {self.live - self.prediction:+.3f})")
        return "\n".join(lines)


def compare(changed: str, live: float, shipped: float, prediction: float | None, unit: str) -> Comparison:
    """Print and return the comparison of a live experiment with the notebook's own result (a ``prediction`` of
    None or NaN means the learner has not guessed yet)."""
    live, shipped = number(live, "live"), number(shipped, "shipped")
    unset = prediction is None or (isinstance(prediction, numbers.Real) and math.isnan(prediction))
    result = Comparison(changed, live, shipped, None if unset else number(prediction, "prediction"), unit)
    print(result.text())
    return result


@torch.no_grad()
def recon_with_dims_kept(model: VAE, x: torch.Tensor, keep: torch.Tensor) -> float:
    """Mean -log p(x|z) (nats) of binary images x (B, 784) decoded from mu(x) with only the dimensions in the boolean
    mask ``keep`` (D,) kept and the others set to the prior mean 0 (notebook 05, section 6)."""
    tensor(x, "x", ndim=2, last=784)
    unit_interval(x, "x")
    tensor(keep, "keep", ndim=1, floating=False, nonempty=False)
    if keep.dtype != torch.bool or len(keep) != model.latent_dim:
        raise fail("keep", f"must be a boolean mask of the {model.latent_dim} latent dimensions",
                   f"a {str(keep.dtype).removeprefix('torch.')} tensor of shape {tuple(keep.shape)}",
                   f"a torch.bool tensor of shape ({model.latent_dim},)")
    mu = model.encode(x).mu                                  # (B, D)
    z = torch.where(keep.to(mu.device), mu, torch.zeros_like(mu))
    return (-model.log_px_given_z(x, z)).mean().item()


def mixture_heldout(train: torch.Tensor, test: torch.Tensor, n_components: int, seed: int = 0) -> float:
    """Held-out mean log-density (nats per code) of test codes (M, D) under a K-component full-covariance mixture
    fitted by EM to train codes (N, D), through ``vaelib.expost.fit_mixture`` as notebook 08's study (section 4)."""
    n_components = count(n_components, "n_components")
    tensor(train, "train", ndim=2)
    tensor(test, "test", ndim=2, last=train.shape[1])
    if len(train) < max(2, n_components):
        raise fail("train", f"needs at least {max(2, n_components)} codes for {n_components} components",
                   f"{len(train)}", "more training codes or fewer components")
    return heldout_loglik(fit_mixture(train, n_components, seed=seed), test)[0]
