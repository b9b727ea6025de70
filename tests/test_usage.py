"""Real usage: train an AE and a VAE on a small synthetic data set, save and reload them.

The data lie near a 2-D linear subspace of R^12: ``x = z A + 0.05 noise`` with
``z ~ N(0, I_2)`` and a fixed random ``A [2, 12]``. A model with a 2-D code can explain
almost all of it, so a few hundred full-batch Adam steps must cut the loss substantially.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pyautoencoder.vanilla import AE
from pyautoencoder.variational import VAE

pytestmark = pytest.mark.usefixtures("seeded")

DATA_DIM, RANK, NUM_POINTS, STEPS = 12, 2, 256, 300


def low_rank_data() -> torch.Tensor:
    """``[256, 12]`` points near a random 2-D subspace (own generator, fixed seed)."""
    gen = torch.Generator().manual_seed(1234)
    basis = torch.randn(RANK, DATA_DIM, generator=gen)
    codes = torch.randn(NUM_POINTS, RANK, generator=gen)
    return codes @ basis + 0.05 * torch.randn(NUM_POINTS, DATA_DIM, generator=gen)


def _encoder(out_dim: int) -> nn.Module:
    return nn.Sequential(nn.LazyLinear(32), nn.Tanh(), nn.Linear(32, out_dim))


def _decoder(latent_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(latent_dim, 32), nn.Tanh(), nn.Linear(32, DATA_DIM))


def _train(model: nn.Module, x: torch.Tensor, **loss_kwargs: object) -> tuple[float, float]:
    """Full-batch Adam; returns the (initial, final) objective."""
    model.build(x)  # type: ignore[operator]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        result = model.compute_loss(x, model(x), **loss_kwargs)  # type: ignore[operator]
        result.objective.backward()
        optimizer.step()
        losses.append(result.objective.detach())
    return float(losses[0]), float(torch.stack(losses[-10:]).mean())


def test_ae_training_reduces_the_loss() -> None:
    """An AE with a 2-D code: the final loss is below 5% of the initial one (measured: < 0.5%)."""
    x = low_rank_data()
    model = AE(_encoder(RANK), _decoder(RANK))
    initial, final = _train(model, x)
    assert final < 0.05 * initial, (initial, final)


def test_vae_training_reduces_the_negative_elbo() -> None:
    """A VAE with D_z = 2: the negative ELBO falls below 50% of its initial value (measured:
    about 30%), the code carries information (KL > 0.5 nats; measured: about 2) and the
    posterior-mean reconstruction error is below 25% of the data variance (measured: 2-3%)."""
    x = low_rank_data()
    model = VAE(nn.Sequential(nn.LazyLinear(32), nn.Tanh()), _decoder(RANK), RANK)
    initial, final = _train(model, x)
    assert final < 0.5 * initial, (initial, final)
    with torch.no_grad():
        diag = model.compute_loss(x, model(x, S=8)).diagnostics
    assert diag["kl_divergence"] > 0.5  # the code carries information about x
    mean_error = (model.reconstruct(x) - x).square().mean()
    assert mean_error < 0.25 * x.var(), (float(mean_error), float(x.var()))


def test_vae_state_dict_round_trip_through_a_file(tmp_path: Path) -> None:
    """C-VAE-8 / C-BASE-5 in practice: save, ``torch.load(weights_only=True)`` into an
    unbuilt VAE, identical outputs with ``sample=False``."""
    x = low_rank_data()[:16]
    source = VAE(nn.Sequential(nn.LazyLinear(32), nn.Tanh()), _decoder(RANK), RANK)
    source.build(x)
    source(x).x_hat.sum().backward()  # not trained, but not fresh either
    path = tmp_path / "vae.pt"
    torch.save(source.state_dict(), path)
    target = VAE(nn.Sequential(nn.LazyLinear(32), nn.Tanh()), _decoder(RANK), RANK)
    target.load_state_dict(torch.load(path, weights_only=True), strict=True)
    a, b = source(x, sample=False), target(x, sample=False)
    for name in ("x_hat", "z", "mu", "log_var"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_ae_state_dict_round_trip_through_a_file(tmp_path: Path) -> None:
    """C-BASE-5 in practice for the AE: lazy layers materialised from the file."""
    x = low_rank_data()[:16]
    source = AE(_encoder(RANK), _decoder(RANK))
    source.build(x)
    path = tmp_path / "ae.pt"
    torch.save(source.state_dict(), path)
    target = AE(_encoder(RANK), _decoder(RANK))
    target.load_state_dict(torch.load(path, weights_only=True), strict=True)
    assert torch.equal(source(x).x_hat, target(x).x_hat)
