"""What is shipped in pretrained/: the training config of every shipped model and each notebook's constants.

``shipped_configs()`` is the one list of the shipped VAEs (``python -m vaelib.build NAME`` trains one of them);
the constants below are the ones the notebooks import to name those models (notebooks 00, 04, 07 and 08) and the
ones the commands need to rebuild them (``EVAL_K``, ``CLASSIFIER``, ``HALF_PRECISION``). The manifest that records
the shipped files is ``vaelib.manifest``; the code that loads them is ``vaelib.pretrained``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from vaelib.models import ModelConfig
from vaelib.train import TrainConfig

EVAL_K = {"mlp-d2": 1000, "mlp-d50": 5000}  # importance samples for each model's test log p(x); others 500
SPHERE_DIMS = (2, 5, 10, 20)  # notebook 07: N-VAE in R^D vs S-VAE on S^D (in R^{D+1})
SPHERE_SAME_AMBIENT = (2, 5)  # ... and vs S-VAE on S^{D-1} (in R^D) at these D
LONG_EPOCHS = 100  # notebook 07: the D = 5 pair trained longer, to see whether the gap is a matter of training
VALUES_ONLY = ("nvae-d5-e100", "svae-d6-e100")  # evaluated and recorded, checkpoints not shipped (size budget)
CLASSIFIER = {"epochs": 3, "lr": 2e-3, "batch_size": 128, "seed": 0}  # notebook 06's judge
NB00_HIDDEN, NB00_EPOCHS = 320, 20  # notebook 00's one-page recipe: hidden units, epochs (see notebook00_configs)
NB08_DIMS = (2, 5, 10, 20)  # latent sizes of the autoencoder / RAE / mixture-prior grid; the VAE is 07's nvae-dD
NB08_RAE = {"z_penalty": 0.02, "decoder_l2": 1e-3}  # RAE-L2 of Ghosh et al. (2020), rescaled to our losses (nb 08)
HALF_PRECISION = frozenset([f"{tag}-d{d}" for tag in ("ae", "rae", "mog") for d in NB08_DIMS]
                           + ["laplace-d20", "conv-d20"])  # shipped with float16 weights (pretrained/ budget)


def shipped_configs() -> dict[str, TrainConfig]:
    """Name -> TrainConfig of every shipped VAE (dynamic binarization, cosine LR throughout).

    * ``mlp-d2``, ``mlp-d50`` (notebooks 04-06): MLP 784-512-512-D, ELU.
    * ``std-d40``, ``vamp-d40`` (notebook 07): MLP 784-300-300-40, ELU, batch 100, 10-epoch KL warm-up;
      identical except the prior (N(0, I) vs a VampPrior with K = 500 pseudo-inputs).
    * ``nvae-dD`` for D in ``SPHERE_DIMS`` and ``svae-dM`` (notebook 07): encoder 256-128, decoder 128-256,
      ReLU (Davidson et al.'s MNIST architecture), 10-epoch warm-up; identical except the latent: Gaussian
      in R^D, or vMF on the sphere S^{M-1} in R^M (M, the ambient dimension, is the name's number).
      The S-VAE is shipped at M = D + 1 (the same number of latent degrees of freedom as the N-VAE, as
      the authors' example code pairs them; ``svae-d3`` is the sphere S^2) and at M = D for D = 2, 5.
    * ``nvae-d5-e100``, ``svae-d6-e100``: the D = 5 pair trained for ``LONG_EPOCHS``; ``VALUES_ONLY``: the manifest
      records their test values (``file`` is null), the checkpoints are not shipped.
    * ``nb00-ae`` (notebook 00): the one-page VAE's network as a plain autoencoder (``notebook00_configs``).
    * notebook 08's autoencoders, RAEs, mixture-prior, Laplace and convolutional VAEs (``notebook08_configs``).
    """
    cfgs = {
        "mlp-d2": TrainConfig(model=ModelConfig(latent_dim=2, hidden=(512, 512)), epochs=100, lr_schedule="cosine"),
        "mlp-d50": TrainConfig(model=ModelConfig(latent_dim=50, hidden=(512, 512)), epochs=200, lr_schedule="cosine"),
    }
    for prior, name in (("standard", "std-d40"), ("vamp", "vamp-d40")):
        cfgs[name] = TrainConfig(model=ModelConfig(latent_dim=40, hidden=(300, 300), prior=prior, n_components=500),
                                 epochs=40, batch_size=100, lr_schedule="cosine", warmup_epochs=10)
    sphere = [("nvae", "gaussian", d) for d in SPHERE_DIMS] + [
        ("svae", "vmf", m) for m in sorted({d + 1 for d in SPHERE_DIMS} | set(SPHERE_SAME_AMBIENT))]
    for tag, latent, d in sphere:
        cfgs[f"{tag}-d{d}"] = TrainConfig(
            model=ModelConfig(latent_dim=d, hidden=(256, 128), activation="relu", latent=latent),
            epochs=30, lr_schedule="cosine", warmup_epochs=10)
    for name in VALUES_ONLY:
        base = cfgs[name.rsplit("-", 1)[0]]
        cfgs[name] = replace(base, epochs=LONG_EPOCHS)
    cfgs.update(notebook00_configs())
    cfgs.update(notebook08_configs())
    return cfgs


def notebook00_configs() -> dict[str, TrainConfig]:
    """Notebook 00's plain autoencoder ``nb00-ae``: the one-page VAE's recipe (MLP 784-H-D, ReLU, Adam, batch 128,
    cosine LR) with z = mu and no KL, so that the notebook trains only the VAE live. Keep it equal to the
    notebook's ``D, H``, ``train(...)`` defaults and ``EPOCHS`` (the notebook asserts it)."""
    model = ModelConfig(latent_dim=20, hidden=(NB00_HIDDEN,), activation="relu", latent="deterministic")
    return {"nb00-ae": TrainConfig(model=model, epochs=NB00_EPOCHS, batch_size=128, lr=3e-3, lr_schedule="cosine")}


def notebook08_configs() -> dict[str, TrainConfig]:
    """Notebook 08's models, all on 07's N-VAE recipe (MLP encoder 256-128, decoder 128-256, ReLU, 30 epochs, batch
    128, cosine LR from 1e-3, 10-epoch KL warm-up), so that each differs from ``nvae-dD`` in one named way:

    * ``ae-dD``: a plain autoencoder (latent="deterministic": z = the encoder's output, no KL);
    * ``rae-dD``: the same plus the RAE-L2 terms ``NB08_RAE`` (z_penalty ||z||^2/2 per example, decoder_l2 times the
      sum of squared decoder weights);
    * ``mog-dD``: the VAE with a learned prior, a mixture of 500 diagonal Gaussians (K as 07's VampPrior);
    * ``laplace-d20``: the VAE with a diagonal Laplace q(z|x) (``vaelib.posteriors``), at 07's largest D;
    * ``conv-d20``: the convolutional VAE, channels 16-32 and width 128 (about the MLP's parameter count).
    """
    def nvae(d: int, **model: Any) -> TrainConfig:
        return TrainConfig(model=ModelConfig(latent_dim=d, hidden=(256, 128), activation="relu", **model),
                           epochs=30, lr_schedule="cosine", warmup_epochs=10)

    cfgs = {}
    for d in NB08_DIMS:
        cfgs[f"ae-d{d}"] = nvae(d, latent="deterministic")
        cfgs[f"rae-d{d}"] = replace(nvae(d, latent="deterministic"), **NB08_RAE)
        cfgs[f"mog-d{d}"] = nvae(d, prior="mog", n_components=500)
    cfgs["laplace-d20"] = nvae(20, latent="laplace")
    conv = ModelConfig(arch="conv", latent_dim=20, hidden=(128,), channels=(16, 32), activation="relu")
    cfgs["conv-d20"] = TrainConfig(model=conv, epochs=30, lr_schedule="cosine", warmup_epochs=10)
    return cfgs
