"""The variational family follows the VAE conventions (C-BASE-3, C-BASE-5, C-VAE-3/4) and has
``sample``, ``reconstruct``, ``posterior(x)`` and ``prior`` as ``torch.distributions`` objects."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import distributions as D
from torch import nn

from pyautoencoder.variational import CVAE, DIPVAE, IWAE, VAE, WAE, BetaTCVAE, InfoVAE

FACTORIES: dict[str, Callable[[], VAE]] = {
    "vae": lambda: VAE(_encoder(), _decoder(), 3),
    "iwae": lambda: IWAE(_encoder(), _decoder(), 3, num_samples=2),
    "beta_tcvae": lambda: BetaTCVAE(_encoder(), _decoder(), 3),
    "dip_vae": lambda: DIPVAE(_encoder(), _decoder(), 3),
    "info_vae": lambda: InfoVAE(_encoder(), _decoder(), 3),
    "wae": lambda: WAE(_encoder(), _decoder(), 3),
    "cvae": lambda: CVAE(_encoder(), _decoder(), 3, condition_dim=2),
}


def _encoder() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(8), nn.Tanh())


def _decoder() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(8), nn.Tanh(), nn.Linear(8, 5))


def _inputs(model: VAE) -> tuple[torch.Tensor, ...]:
    x = torch.randn(4, 5)
    return (x, torch.tensor([0, 1, 1, 0])) if isinstance(model, CVAE) else (x,)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_encode_decode_run_without_grad_and_keep_modes(name: str) -> None:
    model = FACTORIES[name]()
    inputs = _inputs(model)
    model.build(inputs[0])
    model.train()
    enc = model.encode(*inputs)
    assert enc.z.shape == (4, 1, 3) and not enc.z.requires_grad and not enc.z.is_inference()
    condition = inputs[1:]
    dec = model.decode(enc.z, *condition)
    assert dec.x_hat.shape == (4, 1, 5) and not dec.x_hat.requires_grad
    assert model.training and torch.is_grad_enabled()
    torch.testing.assert_close(enc.z, enc.mu.unsqueeze(1))  # the posterior mean by default


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_unbuilt_model_loads_a_built_state_dict(name: str) -> None:
    torch.manual_seed(0)
    source = FACTORIES[name]()
    inputs = _inputs(source)
    source.build(inputs[0])
    target = FACTORIES[name]()
    target.load_state_dict(source.state_dict(), strict=True)
    a = source(*inputs, sample=False)
    b = target(*inputs, sample=False)
    torch.testing.assert_close(a.x_hat, b.x_hat)
    torch.testing.assert_close(a.mu, b.mu)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_seeded_loss_is_deterministic_and_samples_in_eval_mode(name: str) -> None:
    torch.manual_seed(0)
    model = FACTORIES[name]()
    inputs = _inputs(model)
    model.build(inputs[0])
    losses = []
    for mode in (True, False):
        model.train(mode)
        torch.manual_seed(3)
        out = model(*inputs, S=2)
        losses.append(model.compute_loss(inputs[0], out).objective.detach())
    torch.testing.assert_close(losses[0], losses[1])  # no dropout/BatchNorm: same in eval
    for value in model.compute_loss(inputs[0], model(*inputs, S=2)).diagnostics.values():
        assert value.dim() == 0 and not value.requires_grad


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_sample_reconstruct_posterior_and_prior(name: str) -> None:
    torch.manual_seed(0)
    model = FACTORIES[name]()
    inputs = _inputs(model)
    model.build(inputs[0])
    condition = inputs[1:]
    enc = model.encode(*inputs)

    posterior = model.posterior(*inputs)
    assert isinstance(posterior, D.Distribution)
    assert posterior.batch_shape == (4,) and posterior.event_shape == (3,)
    torch.testing.assert_close(posterior.mean, enc.mu)
    torch.testing.assert_close(posterior.variance, enc.log_var.exp())
    assert posterior.rsample((2,)).shape == (2, 4, 3) and posterior.entropy().shape == (4,)
    prior = model.prior
    assert isinstance(prior, D.Distribution) and prior.event_shape == (3,)
    z = torch.randn(6, 3)
    standard = D.Independent(D.Normal(torch.zeros(3), torch.ones(3)), 1)
    torch.testing.assert_close(prior.log_prob(z), standard.log_prob(z))

    expected = model.decode(enc.z, *condition).x_hat.squeeze(1)
    torch.testing.assert_close(model.reconstruct(*inputs), expected)
    if condition:  # CVAE: num_samples per condition, [B_y, num_samples, ...]
        samples, expected_shape = model.sample(7, torch.tensor([0, 1])), (2, 7, 5)
    else:
        samples, expected_shape = model.sample(7), (7, 5)
    assert samples.shape == expected_shape and not samples.requires_grad
    assert torch.isfinite(samples).all()


_HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__")


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_training_step_reads_no_tensor_value_with_value_checks_off(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyautoencoder

    torch.manual_seed(0)
    model = FACTORIES[name]()
    inputs = _inputs(model)
    model.build(inputs[0])
    counts = dict.fromkeys(_HOST_READS, 0)

    def counting(method: str) -> Callable[..., object]:
        original = getattr(torch.Tensor, method)

        def wrapper(self: torch.Tensor, *args: object, **kwargs: object) -> object:
            counts[method] += 1
            return original(self, *args, **kwargs)

        return wrapper

    with pyautoencoder.value_checks(False), monkeypatch.context() as patch:
        for method in _HOST_READS:
            patch.setattr(torch.Tensor, method, counting(method))
        model.compute_loss(inputs[0], model(*inputs, S=2)).objective.backward()
    assert counts == dict.fromkeys(_HOST_READS, 0)
