"""Cases for ``test_presets_match_2x.py``: each VAE variant of 2.x, built and run the same way.

``record()`` runs every case and returns ``{case: {"objective": ..., "grad": ..., diagnostics}}``.
``preset_reference.json`` holds its output recorded at commit bfb96b0, the last commit before
the variants became presets of one VAE class with an objective (issue 12); the test recomputes
the values with today's code and compares them to 1e-6.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pyautoencoder.variational import CVAE, DIPVAE, IWAE, VAE, WAE, BetaTCVAE, InfoVAE

X_DIM, LATENT, BATCH = 5, 3, 7


def _nets(in_dim: int = X_DIM, dec_in: int = LATENT) -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(nn.Linear(in_dim, 8), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(dec_in, 8), nn.Tanh(), nn.Linear(8, X_DIM))
    return encoder, decoder


def _plain(cls: type[VAE], **kwargs: Any) -> Callable[[], VAE]:
    def make() -> VAE:
        encoder, decoder = _nets()
        return cls(encoder, decoder, LATENT, **kwargs)

    return make


def _cvae() -> VAE:
    encoder, decoder = _nets(X_DIM + 2, LATENT + 2)
    return CVAE(encoder, decoder, LATENT, condition_dim=2)


# name -> (factory, forward kwargs, compute_loss kwargs)
CASES: dict[str, tuple[Callable[[], VAE], dict[str, Any], dict[str, Any]]] = {
    "vae": (_plain(VAE), {"S": 2}, {}),
    "vae_beta": (_plain(VAE), {}, {"beta": 0.5}),
    "vae_free_bits": (_plain(VAE, free_bits=0.3), {}, {"beta": 2.0}),
    "vae_mog_prior": (_plain(VAE, prior="mixture_of_gaussians"), {"S": 3}, {}),
    "vae_bernoulli": (_plain(VAE, likelihood="bernoulli"), {}, {}),
    "iwae": (_plain(IWAE, num_samples=4), {}, {}),
    "iwae_dreg": (_plain(IWAE, num_samples=4, gradient_estimator="dreg"), {}, {}),
    "iwae_mog_prior": (_plain(IWAE, num_samples=3, prior="mixture_of_gaussians"), {}, {}),
    "beta_tcvae_mws": (_plain(BetaTCVAE, alpha=0.5, beta=4.0, gamma=2.0), {"S": 2}, {}),
    "beta_tcvae_mss": (_plain(BetaTCVAE, sampling="mss", dataset_size=50), {}, {}),
    "dip_vae_i": (_plain(DIPVAE, variant="i", lambda_od=3.0), {}, {"beta": 2.0}),
    "dip_vae_ii": (_plain(DIPVAE, variant="ii", lambda_od=2.0, lambda_d=5.0), {}, {}),
    "info_vae": (_plain(InfoVAE), {"S": 2}, {}),
    "info_vae_alpha": (_plain(InfoVAE, alpha=0.25, lambda_=10.0, kernel="imq"), {}, {}),
    "wae": (_plain(WAE), {}, {}),
    "wae_rbf": (_plain(WAE, lambda_=3.0, kernel="rbf"), {"S": 2}, {}),
    "cvae": (_cvae, {}, {"beta": 0.5}),
}


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    x = torch.rand(BATCH, X_DIM, generator=gen, dtype=torch.float64)
    y = torch.arange(BATCH) % 2
    return x, y


def run_case(name: str) -> dict[str, float]:
    """Objective, a gradient fingerprint and the diagnostics of one case, as floats."""
    factory, forward_kwargs, loss_kwargs = CASES[name]
    torch.manual_seed(0)
    model = factory().double()
    x, y = _inputs()
    extra = (y,) if isinstance(model, CVAE) else ()
    model.build(x) if not extra else model(x, *extra, sample=False)
    torch.manual_seed(1)
    output = model(x, *extra, **forward_kwargs)
    result = model.compute_loss(x, output, **loss_kwargs)
    result.objective.backward()
    # A weighted sum of every gradient entry: sensitive to any change of any gradient.
    fingerprint = sum(
        (p.grad * torch.linspace(1, 2, p.numel(), dtype=p.dtype).view_as(p)).sum()
        for p in model.parameters()
        if p.grad is not None
    )
    values = {"objective": float(result.objective.detach()), "grad": float(fingerprint)}
    values.update({key: float(v) for key, v in result.diagnostics.items()})
    return values


def record() -> dict[str, dict[str, float]]:
    """Every case's values (see the module docstring)."""
    return {name: run_case(name) for name in CASES}
