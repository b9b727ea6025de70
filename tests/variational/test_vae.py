"""The variational autoencoder ``VAE`` (C-VAE-1 to C-VAE-8), against float64 references."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import distributions as D
from torch import nn

from pyautoencoder.distributions import UnitGaussianLikelihood
from pyautoencoder.loss import LikelihoodType, LossResult
from pyautoencoder.variational import VAE, VAEDecodeOutput, VAEEncodeOutput, VAEOutput
from pyautoencoder.variational.stochastic_layers import FullyFactorizedGaussian

pytestmark = pytest.mark.usefixtures("seeded")


class CountingModule(nn.Module):
    """Wraps a module and records every input it gets."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x)
        return self.inner(x)


def _vae(latent_dim: int = 3, data_dim: int = 6) -> VAE:
    encoder = nn.Sequential(nn.LazyLinear(8), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(latent_dim, 8), nn.Tanh(), nn.Linear(8, data_dim))
    return VAE(encoder, decoder, latent_dim)


def _image_vae(latent_dim: int = 3) -> VAE:
    encoder = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.LazyLinear(8))
    decoder = nn.Sequential(nn.Linear(latent_dim, 16), nn.Unflatten(1, (1, 4, 4)))
    return VAE(encoder, decoder, latent_dim)


def reference_beta_elbo(
    x: torch.Tensor, out: VAEOutput, beta: float, likelihood: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float64 beta-ELBO from torch.distributions: ``(bound [B], log_lik [B], kl [B])``."""
    x, x_hat = x.double(), out.x_hat.double()
    mu, log_var = out.mu.double(), out.log_var.double()
    x_rep = x.unsqueeze(1).expand_as(x_hat)
    if likelihood == "gaussian":
        log_p = D.Normal(x_hat, 1.0).log_prob(x_rep) + 0.5 * math.log(2 * math.pi)
    else:
        log_p = D.Bernoulli(logits=x_hat, validate_args=False).log_prob(x_rep)
    log_lik = log_p.reshape(*x_hat.shape[:2], -1).sum(-1).mean(1)  # [B]
    q = D.Independent(D.Normal(mu, torch.exp(0.5 * log_var)), 1)
    p = D.Independent(D.Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    kl = D.kl_divergence(q, p)  # [B]
    return log_lik - beta * kl, log_lik, kl


# C-VAE-1 --------------------------------------------------------------------------------------


def test_c_vae_1_output_field_orders() -> None:
    """C-VAE-1: the field orders of the three output dataclasses."""
    assert [f.name for f in dataclasses.fields(VAEEncodeOutput)] == ["z", "mu", "log_var"]
    assert [f.name for f in dataclasses.fields(VAEDecodeOutput)] == ["x_hat"]
    assert [f.name for f in dataclasses.fields(VAEOutput)] == ["x_hat", "z", "mu", "log_var"]


@pytest.mark.parametrize("num_samples", [1, 4])
def test_c_vae_1_output_shapes(num_samples: int) -> None:
    """C-VAE-1: z [B, S, D_z], mu/log_var [B, D_z], x_hat [B, S, *x.shape[1:]]."""
    model = _image_vae()
    x = torch.randn(5, 1, 4, 4)
    out = model(x, S=num_samples)
    assert out.z.shape == (5, num_samples, 3)
    assert out.mu.shape == (5, 3) and out.log_var.shape == (5, 3)
    assert out.x_hat.shape == (5, num_samples, 1, 4, 4)


# C-VAE-2 --------------------------------------------------------------------------------------


def test_c_vae_2_attributes_and_lazy_sampling_layer() -> None:
    """C-VAE-2: encoder, decoder (the objects passed), latent_dim, a lazy sampling layer."""
    encoder, decoder = nn.Sequential(nn.Linear(6, 8)), nn.Linear(3, 6)
    model = VAE(encoder, decoder, 3)
    assert model.encoder is encoder and model.decoder is decoder and model.latent_dim == 3
    layer = model.sampling_layer
    assert isinstance(layer, FullyFactorizedGaussian) and layer.latent_dim == 3
    assert isinstance(layer.mu.weight, nn.parameter.UninitializedParameter)
    model(torch.randn(2, 6))
    assert layer.mu.in_features == 8 and layer.log_var.in_features == 8
    other = VAE(nn.Linear(6, 8), nn.Linear(3, 6), 3)
    other.build(torch.randn(2, 6))
    assert not isinstance(other.sampling_layer.mu.weight, nn.parameter.UninitializedParameter)


# C-VAE-3 --------------------------------------------------------------------------------------


def test_c_vae_3_encode_goes_through_the_sampling_layer() -> None:
    """C-VAE-3: ``_encode(x, S)`` equals the sampling layer on the encoder features."""
    model = _vae()
    x = torch.randn(4, 6)
    model.build(x)
    torch.manual_seed(11)
    enc = model._encode(x, S=3)
    torch.manual_seed(11)
    z, mu, log_var = model.sampling_layer(model.encoder(x), S=3)
    assert isinstance(enc, VAEEncodeOutput)
    for got, expected in zip((enc.z, enc.mu, enc.log_var), (z, mu, log_var)):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_c_vae_3_forward_equals_encode_then_decode_by_hand() -> None:
    """C-VAE-3: same seed -> ``forward`` equals ``_encode`` then ``_decode``."""
    model = _vae()
    x = torch.randn(4, 6)
    model.build(x)
    torch.manual_seed(3)
    out = model(x, S=2)
    torch.manual_seed(3)
    enc = model._encode(x, S=2)
    dec = model._decode(enc.z)
    for got, expected in ((out.z, enc.z), (out.mu, enc.mu), (out.x_hat, dec.x_hat)):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_c_vae_3_samples_in_eval_mode_and_train_eval_losses_agree() -> None:
    """C-VAE-3: eval mode still samples; without dropout/BN train and eval losses are equal."""
    model = _vae()
    x = torch.randn(4, 6)
    model.build(x)
    losses = []
    for mode in ("train", "eval"):
        getattr(model, mode)()
        torch.manual_seed(5)
        out = model(x, S=3)
        assert not torch.equal(out.z, out.mu.unsqueeze(1).expand_as(out.z))
        losses.append(model.compute_loss(x, out).objective)
    assert torch.equal(losses[0], losses[1])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_c_vae_3_forward_sample_false_uses_the_mean(mode: str) -> None:
    """C-VAE-3: ``forward(x, sample=False)`` has ``z == mu.unsqueeze(1)``."""
    model = _vae()
    getattr(model, mode)()
    out = model(torch.randn(4, 6), sample=False)
    assert out.z.shape == (4, 1, 3) and torch.equal(out.z, out.mu.unsqueeze(1))


# C-VAE-4 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_c_vae_4_encode_defaults_to_the_posterior_mean(mode: str) -> None:
    """C-VAE-4: ``encode(x)`` returns ``z = mu.unsqueeze(1)``, deterministic, no grad."""
    model = _vae()
    x = torch.randn(4, 6)
    model.build(x)
    getattr(model, mode)()
    first, second = model.encode(x), model.encode(x)
    assert first.z.shape == (4, 1, 3)
    assert torch.equal(first.z, first.mu.unsqueeze(1)) and torch.equal(first.z, second.z)
    assert not first.z.requires_grad and not first.z.is_inference()
    assert model.training is (mode == "train")


def test_c_vae_4_encode_with_samples_is_seeded() -> None:
    """C-VAE-4: ``encode(x, S=k, sample=True)`` draws k samples, reproducible with a seed."""
    model = _vae()
    x = torch.randn(4, 6)
    model.build(x)
    torch.manual_seed(9)
    a = model.encode(x, S=5, sample=True)
    torch.manual_seed(9)
    b = model.encode(x, S=5, sample=True)
    assert a.z.shape == (4, 5, 3) and torch.equal(a.z, b.z)
    assert not torch.equal(a.z, a.mu.unsqueeze(1).expand_as(a.z))


def test_c_vae_4_encode_several_samples_needs_sample_true() -> None:
    """C-VAE-4: ``encode(x, S=5)`` without ``sample=True`` -> ValueError naming it."""
    model = _vae()
    with pytest.raises(ValueError, match="sample=True"):
        model.encode(torch.randn(2, 6), S=5)


# C-VAE-5 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_public", [True, False])
def test_c_vae_5_decoder_called_once_on_flattened_samples(use_public: bool) -> None:
    """C-VAE-5: one decoder call on ``z.reshape(B * S, D_z)``, output ``[B, S, ...]``."""
    decoder = CountingModule(nn.Sequential(nn.Linear(3, 16), nn.Unflatten(1, (1, 4, 4))))
    model = VAE(nn.Sequential(nn.Flatten(), nn.LazyLinear(8)), decoder, 3)
    z = torch.randn(2, 5, 3)
    out = model.decode(z) if use_public else model._decode(z)
    assert len(decoder.inputs) == 1
    torch.testing.assert_close(decoder.inputs[0], z.reshape(10, 3), rtol=0, atol=0)
    assert out.x_hat.shape == (2, 5, 1, 4, 4)
    with torch.no_grad():
        expected = decoder.inner(z.reshape(10, 3)).reshape(2, 5, 1, 4, 4)
    torch.testing.assert_close(out.x_hat, expected, rtol=0, atol=0)
    assert out.x_hat.requires_grad is (not use_public)


@pytest.mark.parametrize("shape", [(2, 4), (2, 1, 3), (2, 1, 1, 4), (4,)])
@pytest.mark.parametrize("use_public", [True, False])
def test_c_vae_5_wrong_latent_shape_message(shape: tuple[int, ...], use_public: bool) -> None:
    """C-VAE-5: ``[B, S, D_z]`` ... ``D_z = 4`` ... ``unsqueeze(1)``, in this order."""
    model = _vae(latent_dim=4)
    decode = model.decode if use_public else model._decode
    with pytest.raises(ValueError, match=r"\[B, S, D_z\].*D_z = 4.*unsqueeze\(1\)") as info:
        decode(torch.randn(shape))
    assert "\n" not in str(info.value)


def test_c_vae_5_single_sample_latent_is_accepted() -> None:
    """C-VAE-5: ``[B, 1, D_z]`` is accepted."""
    model = _vae(latent_dim=4)
    assert model.decode(torch.randn(3, 1, 4)).x_hat.shape == (3, 1, 6)


# C-VAE-6 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("beta", [0.0, 0.25, 1.0, 4.0])
@pytest.mark.parametrize("num_samples", [1, 3])
def test_c_vae_6_objective_equals_float64_beta_elbo(
    likelihood: str, beta: float, num_samples: int
) -> None:
    """C-VAE-6: objective = -mean_B(mean_S sum log p(x | z_s) - beta KL), float64 reference."""
    model = _image_vae().double()
    x = torch.rand(5, 1, 4, 4, dtype=torch.float64)
    out = model(x, S=num_samples)
    result = model.compute_loss(x, out, beta=beta, likelihood=likelihood)
    bound, log_lik, kl = reference_beta_elbo(x, out, beta, likelihood)
    assert isinstance(result, LossResult)
    torch.testing.assert_close(result.objective, -bound.mean())
    diag = result.diagnostics
    torch.testing.assert_close(diag["elbo"], bound.mean())
    torch.testing.assert_close(diag["log_likelihood"], log_lik.mean())
    torch.testing.assert_close(diag["kl_divergence"], kl.mean())
    torch.testing.assert_close(diag["elbo_unweighted"], (log_lik - kl).mean())
    torch.testing.assert_close(diag["elbo"], diag["log_likelihood"] - beta * diag["kl_divergence"])
    assert diag["kl_divergence"] >= 0


def test_c_vae_6_diagnostics_are_detached_scalars_on_the_objective_device() -> None:
    """C-VAE-6 / C-LOSS-2: every diagnostic is a detached 0-dim tensor."""
    model = _vae()
    x = torch.randn(4, 6)
    result = model.compute_loss(x, model(x))
    assert {"elbo", "log_likelihood", "kl_divergence", "elbo_unweighted"} <= set(result.diagnostics)
    for name, value in result.diagnostics.items():
        assert isinstance(value, torch.Tensor) and value.dim() == 0, name
        assert not value.requires_grad and value.device == result.objective.device, name
    assert result.objective.dim() == 0 and result.objective.requires_grad


def test_c_vae_6_elbo_increases_when_beta_decreases() -> None:
    """C-VAE-6: ``elbo`` is the beta-weighted bound, larger for smaller beta (KL > 0)."""
    model = _vae()
    x = torch.randn(4, 6)
    out = model(x)
    elbos = [model.compute_loss(x, out, beta=b).diagnostics["elbo"] for b in (2.0, 1.0, 0.5, 0)]
    assert all(a < b for a, b in itertools.pairwise(elbos))


def test_c_vae_6_x_is_broadcast_as_a_view() -> None:
    """C-VAE-6: the likelihood sees ``x`` expanded over S (stride 0), sharing x's storage."""
    seen: list[torch.Tensor] = []

    class Spy(UnitGaussianLikelihood):
        def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
            seen.append(x)
            return super().log_prob(x, x_hat)

    model = _vae()
    x = torch.randn(4, 6)
    out = model(x, S=3)
    spy_result = model.compute_loss(x, out, likelihood=Spy())
    assert len(seen) == 1
    x_rep = seen[0]
    assert x_rep.shape == (4, 3, 6) and x_rep.stride(1) == 0
    assert x_rep.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    assert torch.equal(spy_result.objective, model.compute_loss(x, out).objective)


@pytest.mark.parametrize("name", ["gaussian", "bernoulli"])
def test_c_vae_6_enum_and_string_identical(name: str) -> None:
    """C-VAE-6: likelihood as enum or (case-insensitive) string gives identical results."""
    model = _vae()
    x = torch.rand(4, 6)
    out = model(x, S=2)
    results = [
        model.compute_loss(x, out, likelihood=spec)
        for spec in (LikelihoodType(name), name, name.capitalize())
    ]
    for other in results[1:]:
        assert torch.equal(results[0].objective, other.objective)
        for key, value in results[0].diagnostics.items():
            assert torch.equal(value, other.diagnostics[key])


def test_c_vae_6_gradients_reach_encoder_decoder_and_sampling_layer() -> None:
    """C-VAE-6: every parameter gets a non-zero gradient."""
    model = _image_vae()
    x = torch.randn(3, 1, 4, 4)
    model.compute_loss(x, model(x, S=2), beta=0.5).objective.backward()
    names = {name for name, _ in model.named_parameters()}
    assert {"sampling_layer.mu.weight", "sampling_layer.log_var.weight"} <= names
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_c_vae_6_batch_of_one_and_output_by_keyword() -> None:
    """C-VAE-6: finite for B = 1; ``output`` may be passed by keyword."""
    model = _vae()
    x = torch.randn(1, 6)
    result = model.compute_loss(x, output=model(x, S=4), beta=1.0)
    assert torch.isfinite(result.objective)
    assert all(torch.isfinite(v) for v in result.diagnostics.values())


@settings(max_examples=30, deadline=None)
@given(
    batch=st.sampled_from([1, 2, 64]),
    num_samples=st.sampled_from([1, 3]),
    lv_low=st.floats(-30, 30),
    lv_high=st.floats(-30, 30),
    beta=st.sampled_from([0.0, 0.5, 1.0, 10.0]),
    likelihood=st.sampled_from(["gaussian", "bernoulli"]),
    seed=st.integers(0, 2**16),
)
def test_property_vae_loss_finite_float32_and_exact_float64(
    batch: int,
    num_samples: int,
    lv_low: float,
    lv_high: float,
    beta: float,
    likelihood: str,
    seed: int,
) -> None:
    """C-VAE-6 (property): log-variances in [-30, 30], B = 1 or large, S = 1 or more:
    finite in float32, equal to the torch.distributions reference in float64."""
    gen = torch.Generator().manual_seed(seed)
    low, high = min(lv_low, lv_high), max(lv_low, lv_high)
    latent, data = 3, 5
    model = VAE(nn.Linear(data, 4), nn.Linear(latent, data), latent)
    x = torch.rand(batch, data, generator=gen, dtype=torch.float64)
    mu = 3 * torch.randn(batch, latent, generator=gen, dtype=torch.float64)
    log_var = low + (high - low) * torch.rand(batch, latent, generator=gen, dtype=torch.float64)
    x_hat = 5 * torch.randn(batch, num_samples, data, generator=gen, dtype=torch.float64)
    z = torch.randn(batch, num_samples, latent, generator=gen, dtype=torch.float64)
    out64 = VAEOutput(x_hat=x_hat, z=z, mu=mu, log_var=log_var)
    result = model.compute_loss(x, out64, beta=beta, likelihood=likelihood)
    bound, log_lik, kl = reference_beta_elbo(x, out64, beta, likelihood)
    torch.testing.assert_close(result.objective, -bound.mean(), rtol=1e-9, atol=1e-9)
    diag = result.diagnostics
    torch.testing.assert_close(diag["kl_divergence"], kl.mean(), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(diag["log_likelihood"], log_lik.mean(), rtol=1e-9, atol=1e-9)
    out32 = VAEOutput(*(t.float() for t in (x_hat, z, mu, log_var)))
    result32 = model.compute_loss(x.float(), out32, beta=beta, likelihood=likelihood)
    assert torch.isfinite(result32.objective)
    assert all(torch.isfinite(v) for v in result32.diagnostics.values())


# C-VAE-7 --------------------------------------------------------------------------------------


def _output(x_hat_shape: tuple[int, ...], batch: int = 3, latent: int = 3) -> VAEOutput:
    return VAEOutput(
        x_hat=torch.randn(x_hat_shape),
        z=torch.randn(batch, 1, latent),
        mu=torch.randn(batch, latent),
        log_var=torch.randn(batch, latent),
    )


def test_c_vae_7_missing_sample_dim_message_with_hint() -> None:
    """C-VAE-7: x_hat with as many dims as x -> exact message fragment plus ``unsqueeze(1)``."""
    model = _vae()
    x = torch.randn(3, 5)
    with pytest.raises(ValueError) as info:
        model.compute_loss(x, _output((3, 5)))
    message = str(info.value)
    assert "x_hat must have shape [B, S, *x.shape[1:]] = [3, S, 5] with S >= 1" in message
    assert "unsqueeze(1)" in message and "\n" not in message


@pytest.mark.parametrize(
    "x_hat_shape", [(3, 2, 5, 1), (4, 2, 5), (3, 2, 6), (3, 0, 5), (3, 1, 1, 5)]
)
def test_c_vae_7_other_wrong_shapes_have_no_unsqueeze_hint(x_hat_shape: tuple[int, ...]) -> None:
    """C-VAE-7: extra dims, wrong B, wrong features, S = 0: no ``unsqueeze(1)`` in the text."""
    model = _vae()
    x = torch.randn(3, 5)
    with pytest.raises(ValueError) as info:
        model.compute_loss(x, _output(x_hat_shape))
    message = str(info.value)
    assert "x_hat must have shape [B, S, *x.shape[1:]] = [3, S, 5] with S >= 1" in message
    assert "unsqueeze(1)" not in message


def test_c_vae_7_image_shaped_message() -> None:
    """C-VAE-7: the expected shape lists all of x's trailing dims."""
    model = _image_vae()
    x = torch.randn(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"= \[2, S, 1, 4, 4\] with S >= 1.*unsqueeze\(1\)"):
        model.compute_loss(x, _output((2, 1, 4, 4), batch=2))


@pytest.mark.parametrize(
    ("mu_shape", "log_var_shape"),
    [((3, 4), (3, 3)), ((3, 3), (3, 4)), ((2, 3), (2, 3)), ((3,), (3,))],
)
def test_c_vae_7_posterior_parameter_shapes(
    mu_shape: tuple[int, ...], log_var_shape: tuple[int, ...]
) -> None:
    """C-VAE-7: mu/log_var not ``[B, latent_dim]`` -> message with ``= [3, 3]``."""
    model = _vae()
    out = VAEOutput(
        x_hat=torch.randn(3, 1, 5),
        z=torch.randn(3, 1, 3),
        mu=torch.randn(mu_shape),
        log_var=torch.randn(log_var_shape),
    )
    with pytest.raises(ValueError, match=r"mu and log_var must have shape \[B, D_z\] = \[3, 3\]"):
        model.compute_loss(torch.randn(3, 5), out)


# C-VAE-8 --------------------------------------------------------------------------------------


def test_c_vae_8_unbuilt_vae_loads_a_built_state_dict() -> None:
    """C-VAE-8: strict load into a never-materialised VAE, identical outputs with sample=False."""
    source = _image_vae()
    x = torch.randn(4, 1, 4, 4)
    source.build(x)
    target = _image_vae()
    assert isinstance(target.sampling_layer.mu.weight, nn.parameter.UninitializedParameter)
    keys = target.load_state_dict(source.state_dict(), strict=True)
    assert not keys.missing_keys and not keys.unexpected_keys
    a, b = source(x, sample=False), target(x, sample=False)
    for name in ("mu", "log_var", "x_hat"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_vae_build_draws_no_samples() -> None:
    """``build`` uses the RNG only for lazy initialisation (the pass runs with sample=False),
    so a seeded run is shifted no more than by materialising the layers by hand."""
    x = torch.randn(4, 6)
    torch.manual_seed(21)
    built = _vae()
    built.build(x)
    state_after_build = torch.get_rng_state()
    torch.manual_seed(21)
    by_hand = _vae()
    with torch.no_grad():
        by_hand.sampling_layer.get_params(by_hand.encoder(x))
    assert torch.equal(state_after_build, torch.get_rng_state())
    for a, b in zip(built.parameters(), by_hand.parameters()):
        assert torch.equal(a, b)


# torch.compile --------------------------------------------------------------------------------


def test_vae_compiles_without_graph_breaks() -> None:
    """forward + compute_loss trace with ``fullgraph=True`` and match eager mode (same seed)."""
    model = _vae()
    x = torch.rand(4, 6)
    model.build(x)

    def step(inputs: torch.Tensor) -> torch.Tensor:
        out = model(inputs, S=2)
        return model.compute_loss(inputs, out, beta=0.5, likelihood="bernoulli").objective

    compiled = torch.compile(step, fullgraph=True, backend="eager")
    torch.manual_seed(1)
    got = compiled(x)
    torch.manual_seed(1)
    torch.testing.assert_close(got, step(x))
    torch._dynamo.reset()


def test_vae_compiles_with_dynamic_shapes() -> None:
    """With ``dynamic=True`` (symbolic batch and feature sizes) forward + loss still trace in
    one graph: no error message is formatted from symbolic sizes on the success path."""
    model = _vae()
    model.build(torch.randn(4, 6))

    def step(inputs: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs, S=2)).objective

    compiled = torch.compile(step, fullgraph=True, backend="eager", dynamic=True)
    for batch in (3, 5):
        x = torch.randn(batch, 6)
        torch.manual_seed(batch)
        got = compiled(x)
        torch.manual_seed(batch)
        torch.testing.assert_close(got, step(x))
    torch._dynamo.reset()


@pytest.mark.slow
def test_vae_step_compiles_with_inductor() -> None:
    """One real default-backend compile of a VAE step: loss and gradients match eager mode.

    ``fallback_random`` makes inductor draw the samples with the eager RNG, so the same seed
    gives the same samples.
    """
    from torch._inductor import config as inductor_config

    model = _vae()
    x = torch.randn(8, 6)
    model.build(x)

    def step(inputs: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs, S=2)).objective

    with inductor_config.patch(fallback_random=True):
        compiled = torch.compile(step, fullgraph=True)
        torch.manual_seed(2)
        loss = compiled(x)
        loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch.manual_seed(2)
    expected = step(x)
    expected.backward()
    torch.testing.assert_close(loss, expected)
    for got, param in zip(grads, model.parameters()):
        torch.testing.assert_close(got, param.grad)
    torch._dynamo.reset()
