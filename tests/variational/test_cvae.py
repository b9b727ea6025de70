"""CVAE: the condition reaches encoder and decoder; clear errors for a wrong condition."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyautoencoder.variational import CVAE, Conditioning


def _model(condition_dim: int = 3, **kwargs: object) -> CVAE:
    encoder = nn.Sequential(nn.LazyLinear(16), nn.Tanh())
    decoder = nn.Sequential(nn.LazyLinear(16), nn.Tanh(), nn.Linear(16, 6))
    model = CVAE(encoder, decoder, 2, condition_dim=condition_dim, **kwargs)  # type: ignore[arg-type]
    model.build(torch.zeros(1, 6))
    return model


def _data(n: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    labels = torch.arange(n) % 3
    centers = torch.randn(3, 6, generator=gen) * 3
    return centers[labels] + 0.3 * torch.randn(n, 6, generator=gen), labels


def test_cvae_loss_equals_float64_recomputation() -> None:
    torch.manual_seed(0)
    model = _model().double()
    x, y = _data(5)
    x = x.double()
    out = model(x, y, S=3)
    result = model.compute_loss(x, out, beta=0.5)
    # Independent recomputation: the networks called by hand on the concatenations.
    one_hot = F.one_hot(y, 3).double()
    features = model.encoder(torch.cat([x, one_hot], dim=1))
    mu, log_var = model.sampling_layer.get_params(features)
    torch.testing.assert_close(out.mu, mu)
    dec_in = torch.cat([out.z.reshape(15, 2), one_hot.repeat_interleave(3, 0)], dim=1)
    x_hat = model.decoder(dec_in).reshape(5, 3, 6)
    torch.testing.assert_close(out.x_hat, x_hat)
    log_lik = (-0.5 * (x.unsqueeze(1) - x_hat) ** 2).sum(-1).mean()
    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(-1).mean()
    torch.testing.assert_close(-result.objective, log_lik - 0.5 * kl)


def test_float_conditions_and_integer_labels_agree() -> None:
    torch.manual_seed(0)
    model = _model()
    x, y = _data(4)
    a = model(x, y, sample=False).x_hat
    b = model(x, F.one_hot(y, 3).float(), sample=False).x_hat
    torch.testing.assert_close(a, b)


def test_condition_changes_the_decoder_output() -> None:
    model = _model()
    z = torch.zeros(1, 1, 2)
    out0 = model.decode(z, torch.tensor([0])).x_hat
    out1 = model.decode(z, torch.tensor([1])).x_hat
    assert not torch.allclose(out0, out1)


def test_gradients_reach_every_parameter_and_loss_falls() -> None:
    torch.manual_seed(0)
    model = _model()
    x, y = _data()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(80):
        optimizer.zero_grad()
        loss = model.compute_loss(x, model(x, y)).objective
        loss.backward()
        if step == 0:
            assert all(
                p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters()
            )
        optimizer.step()
        losses.append(float(loss.detach()))
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])


def test_compiles_with_fullgraph() -> None:
    model = _model()
    x, y = _data(8)

    def step(inputs: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs, cond)).objective

    loss = torch.compile(step, fullgraph=True, backend="eager")(x, y)
    loss.backward()
    assert torch.isfinite(loss)


def test_sample_reconstruct_encode_shapes() -> None:
    model = _model()
    x, y = _data(4)
    assert model.sample(5, y).shape == (4, 5, 6)
    assert model.reconstruct(x, y).shape == (4, 6)
    enc = model.encode(x, y)
    assert enc.z.shape == (4, 1, 2) and not enc.z.requires_grad
    assert model.posterior(x, y).event_shape == (2,)


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (torch.zeros(4, 2), r"y must have shape \[B, condition_dim\] = \[4, 3\]"),
        (torch.zeros(5, 3), r"y must have shape \[B, condition_dim\] = \[4, 3\]"),
        (torch.zeros(4), r"or \[4\] integer class labels\), got \(4,\) with dtype torch.float32"),
        (torch.tensor([0, 1, 3, 0]), r"class labels that must lie in \[0, 2\]"),
    ],
)
def test_wrong_condition_shape_is_a_clear_error(y: torch.Tensor, message: str) -> None:
    model = _model()
    x, _ = _data(4)
    with pytest.raises(ValueError, match=message):
        model(x, y)


def test_custom_conditioning_hook() -> None:
    class AddCondition(Conditioning):
        """Adds a learned embedding of y to the inputs instead of concatenating."""

        def __init__(self) -> None:
            super().__init__()
            self.to_x = nn.Linear(3, 6)
            self.to_z = nn.Linear(3, 2)

        def encoder_input(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return x + self.to_x(y)

        def decoder_input(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return z + self.to_z(y)

    model = CVAE(nn.Linear(6, 8), nn.Linear(2, 6), 2, condition_dim=3, conditioning=AddCondition())
    x, y = _data(4)
    model.compute_loss(x, model(x, y)).objective.backward()
    assert all(p.grad is not None for p in model.conditioning.parameters())


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="does not support the VampPrior"):
        CVAE(nn.Linear(6, 8), nn.Linear(2, 6), 2, condition_dim=3, prior="vamp")
    with pytest.raises(ValueError, match="condition_dim must be a positive int"):
        CVAE(nn.Linear(6, 8), nn.Linear(2, 6), 2, condition_dim=0)
    with pytest.raises(TypeError, match=r"conditioning must be a torch\.nn\.Module"):
        CVAE(nn.Linear(6, 8), nn.Linear(2, 6), 2, conditioning=object())  # type: ignore[arg-type]
