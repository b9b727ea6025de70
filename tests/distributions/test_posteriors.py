"""Posterior objects: the diagonal default, full covariance, the (q, p) KL registry, models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import distributions as D
from torch import nn

from pyautoencoder.distributions import (
    DiagonalGaussianPosterior,
    DiagonalGaussianPrior,
    FlowPosterior,
    FullCovarianceGaussianPosterior,
    InverseAutoregressiveFlow,
    MixtureOfGaussiansPrior,
    PlanarFlow,
    Posterior,
    PosteriorSample,
    Prior,
    StandardNormalPrior,
    available_posteriors,
    get_posterior,
    has_closed_form_kl,
    posterior_kl_per_dim,
    register_kl,
)
from pyautoencoder.distributions._kl import _full_covariance_kl
from pyautoencoder.distributions._posteriors import diagonal_gaussian_draw
from pyautoencoder.nets import create_model, from_pretrained, save_pretrained
from pyautoencoder.variational import VAE, PosteriorOutput, VAEOutput


def _spec(name: str) -> str:
    """A registered posterior's spec: flows with two steps (``"iaf:2"``), others by name."""
    from pyautoencoder.distributions._posteriors import POSTERIORS as REGISTRY

    return f"{name}:2" if issubclass(REGISTRY.get(name), FlowPosterior) else name


#: Every registered posterior (the registry, not a hand-kept list).
POSTERIORS = [_spec(name) for name in available_posteriors()]


def _vae(posterior: str | Posterior | None, latent_dim: int = 3) -> VAE:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.Tanh())
    model = VAE(encoder, nn.Linear(latent_dim, 6), latent_dim, posterior=posterior)
    model.build(torch.zeros(2, 6))
    return model


def test_diagonal_posterior_gives_the_numbers_and_state_of_the_2x_vae() -> None:
    default, named = _vae(None), _vae("diagonal")
    assert isinstance(default.latent_posterior, DiagonalGaussianPosterior)
    assert list(default.state_dict()) == [
        "encoder.1.weight",
        "encoder.1.bias",
        "decoder.weight",
        "decoder.bias",
        "sampling_layer.mu.weight",
        "sampling_layer.mu.bias",
        "sampling_layer.log_var.weight",
        "sampling_layer.log_var.bias",
    ]
    x = torch.randn(4, 6)
    for num_samples in (1, 3):
        torch.manual_seed(1)
        out = default(x, S=num_samples)
        torch.manual_seed(1)
        out_named = named(x, S=num_samples)
        torch.manual_seed(1)
        z, mu, log_var = default.sampling_layer(default.encoder(x), S=num_samples)  # 2.x path
        assert type(out) is VAEOutput
        torch.testing.assert_close(out.z, z, rtol=0, atol=0)
        torch.testing.assert_close(out_named.z, z, rtol=0, atol=0)
        reference = D.Independent(D.Normal(mu, (0.5 * log_var).exp()), 1)
        torch.testing.assert_close(
            default.posterior_log_prob(out), reference.log_prob(z.transpose(0, 1)).T
        )


def _full_posterior(batch: int = 3, dim: int = 3) -> tuple[FullCovarianceGaussianPosterior, ...]:
    torch.manual_seed(0)
    posterior = FullCovarianceGaussianPosterior()
    posterior.bind(dim)
    h = torch.randn(batch, 5, dtype=torch.float64)
    posterior.off_diagonal(h.float())
    posterior.double()
    return (posterior,)


def _full_draw(
    num_samples: int = 4,
) -> tuple[PosteriorSample, torch.Tensor, torch.Tensor, Posterior]:
    (posterior,) = _full_posterior()
    gen = torch.Generator().manual_seed(3)
    h = torch.randn(3, 5, dtype=torch.float64, generator=gen)
    mu = torch.randn(3, 3, dtype=torch.float64, generator=gen)
    log_var = torch.randn(3, 3, dtype=torch.float64, generator=gen)
    return posterior.rsample(h, mu, log_var, num_samples), mu, log_var, posterior


class _Encoded:
    def __init__(self, draw: PosteriorSample, mu: torch.Tensor, log_var: torch.Tensor) -> None:
        self.z, self.mu, self.log_var = draw.z, mu, log_var
        self.log_q, self.scale_tril = draw.log_q, draw.scale_tril


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "float64"])
def test_the_diagonal_draw_uses_the_numbers_of_randn_at_the_shape_of_mu(layout: str) -> None:
    """``mu + exp(log_var / 2) * eps`` with ``eps`` what ``torch.randn(mu.shape)`` draws,
    whatever the memory layout of ``mu`` (a transposed ``mu`` gets the same numbers in the
    same logical places)."""
    torch.manual_seed(3)
    mu = torch.randn(7, 4) if layout != "transposed" else torch.randn(4, 7).t()
    if layout == "float64":
        mu = mu.double()
    log_var = torch.randn(mu.shape, dtype=mu.dtype)
    torch.manual_seed(9)
    z = diagonal_gaussian_draw(mu, log_var)
    torch.manual_seed(9)
    eps = torch.randn(mu.shape, dtype=mu.dtype)
    assert z.dtype == mu.dtype and z.shape == mu.shape
    assert torch.equal(z, mu + torch.exp(0.5 * log_var) * eps)


def test_full_covariance_log_prob_equals_multivariate_normal() -> None:
    draw, mu, log_var, posterior = _full_draw()
    assert draw.scale_tril is not None and draw.log_q is not None
    torch.testing.assert_close(
        draw.scale_tril.diagonal(dim1=1, dim2=2), (0.5 * log_var).exp(), rtol=0, atol=0
    )
    reference = D.MultivariateNormal(mu, scale_tril=draw.scale_tril)
    expected = reference.log_prob(draw.z.transpose(0, 1)).T  # [B, S]
    torch.testing.assert_close(draw.log_q, expected, rtol=1e-12, atol=1e-12)
    encoded = _Encoded(draw, mu, log_var)
    torch.testing.assert_close(posterior.log_prob(encoded), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(posterior.log_prob(encoded, detach_params=True), expected)
    # the samples have the covariance L L^T
    big = posterior.rsample(torch.zeros(1, 5).double(), mu[:1], log_var[:1], 20000)
    empirical = torch.cov(big.z[0].T)
    cov = big.scale_tril[0] @ big.scale_tril[0].T
    cov = cov.detach()
    torch.testing.assert_close(empirical, cov, rtol=0.1, atol=0.05 * float(cov.abs().max()))


def test_full_covariance_kl_equals_torch_for_both_gaussian_priors() -> None:
    draw, mu, log_var, posterior = _full_draw()
    encoded = _Encoded(draw, mu, log_var)
    q = D.MultivariateNormal(mu, scale_tril=draw.scale_tril)
    standard = StandardNormalPrior(3).double()
    expected = D.kl_divergence(
        q, D.MultivariateNormal(torch.zeros(3).double(), torch.eye(3).double())
    )
    got = posterior_kl_per_dim(posterior, standard, encoded)
    assert got.shape == (3, 1)
    torch.testing.assert_close(got.squeeze(1), expected, rtol=1e-12, atol=1e-12)
    diagonal = DiagonalGaussianPrior(3).double()
    with torch.no_grad():
        diagonal.loc.copy_(torch.tensor([0.5, -1.0, 2.0]))
        diagonal.log_var.copy_(torch.tensor([0.3, -0.7, 1.1]))
    p = D.MultivariateNormal(diagonal.loc, torch.diag(diagonal.log_var.exp()))
    got = posterior_kl_per_dim(posterior, diagonal, encoded).squeeze(1)
    torch.testing.assert_close(got, D.kl_divergence(q, p), rtol=1e-12, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    log_var=st.lists(st.floats(-30.0, 30.0), min_size=3, max_size=3),
    strict=st.lists(st.floats(-50.0, 50.0), min_size=3, max_size=3),
    mu=st.lists(st.floats(-20.0, 20.0), min_size=3, max_size=3),
)
def test_full_covariance_kl_is_exact_and_finite_for_extreme_log_variances(
    log_var: list[float], strict: list[float], mu: list[float]
) -> None:
    lv = torch.tensor([log_var], dtype=torch.float64)
    tril = torch.diag_embed((0.5 * lv).exp())
    tril[0, 1, 0], tril[0, 2, 0], tril[0, 2, 1] = strict
    m = torch.tensor([mu], dtype=torch.float64)

    class Encoded:
        z = m.unsqueeze(1)
        mu, log_var, scale_tril = m, lv, tril

    got = _full_covariance_kl(Encoded(), None, None)
    q = D.MultivariateNormal(m, scale_tril=tril)
    expected = D.kl_divergence(
        q, D.MultivariateNormal(torch.zeros(3).double(), torch.eye(3).double())
    )
    assert torch.isfinite(got).all() and got.item() >= 0
    scale = float(lv.exp().sum() + lv.abs().sum() + tril.square().sum() + m.square().sum() + 3)
    torch.testing.assert_close(got.squeeze(1), expected, rtol=1e-9, atol=1e-12 * scale)
    # q == p gives exactly 0
    zero = torch.zeros(1, 3, dtype=torch.float64)

    class Same:
        z, mu, log_var, scale_tril = zero.unsqueeze(1), zero, zero, torch.eye(3).double()[None]

    assert _full_covariance_kl(Same(), None, None).item() == 0.0


@settings(max_examples=10, deadline=None)
@given(log_var=st.floats(-30.0, 30.0))
def test_flow_log_q_is_finite_for_extreme_log_variances(log_var: float) -> None:
    torch.manual_seed(0)
    for posterior in (PlanarFlow(2), InverseAutoregressiveFlow(2)):
        posterior.bind(3)
        h = torch.randn(2, 4)
        mu = torch.randn(2, 3)
        draw = posterior.rsample(h, mu, torch.full((2, 3), log_var), num_samples=2)
        assert torch.isfinite(draw.log_q).all() and torch.isfinite(draw.z).all()


def test_full_covariance_math_passes_gradcheck() -> None:
    draw, mu, log_var, posterior = _full_draw(2)

    def kl(m: torch.Tensor, lv: torch.Tensor, tril: torch.Tensor) -> torch.Tensor:
        class Encoded:
            z, mu, log_var, scale_tril = draw.z, m, lv, tril

        return _full_covariance_kl(Encoded(), None, None)

    def log_prob(z: torch.Tensor, m: torch.Tensor, tril: torch.Tensor) -> torch.Tensor:
        class Encoded:
            pass

        encoded = Encoded()
        encoded.z, encoded.mu = z, m  # type: ignore[attr-defined]
        encoded.log_var = 2 * tril.diagonal(dim1=1, dim2=2).log()  # type: ignore[attr-defined]
        encoded.scale_tril = tril  # type: ignore[attr-defined]
        return posterior.log_prob(encoded)  # type: ignore[arg-type]

    tril = draw.scale_tril.detach().clone().requires_grad_(True)
    m = mu.clone().requires_grad_(True)
    lv = log_var.clone().requires_grad_(True)
    z = draw.z.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(kl, (m, lv, tril))
    assert torch.autograd.gradcheck(log_prob, (z, m, tril))


def test_kl_registry_dispatches_on_the_pair_with_subclasses_and_falls_back_to_monte_carlo() -> None:
    class MyFull(FullCovarianceGaussianPosterior):
        pass

    class MyPrior(StandardNormalPrior):
        pass

    assert has_closed_form_kl(MyPrior(3), MyFull)  # inherited from (Full, StandardNormal)
    assert not has_closed_form_kl(MixtureOfGaussiansPrior(3), MyFull)
    assert not has_closed_form_kl(StandardNormalPrior(3), PlanarFlow)

    @register_kl(MyFull, MyPrior)
    def _kl_mine(posterior: Posterior, prior: Prior, encoded: object) -> torch.Tensor:
        return torch.full((2, 1), 7.0)

    model = _vae(MyFull())
    model.latent_prior = MyPrior(3)
    out = model(torch.randn(2, 6))
    torch.testing.assert_close(model.kl_per_dim(out), torch.full((2, 1), 7.0))
    model.latent_prior = StandardNormalPrior(3)  # base pair again
    q = D.MultivariateNormal(out.mu, scale_tril=out.scale_tril)
    expected = D.kl_divergence(q, D.MultivariateNormal(torch.zeros(3), torch.eye(3)))
    torch.testing.assert_close(model.kl_per_dim(out).squeeze(1), expected)

    flow = _vae("planar:2")
    out = flow(torch.randn(2, 6), S=4)
    mc = (out.log_q - flow.latent_prior.log_prob(out.z)).mean(dim=1, keepdim=True)
    torch.testing.assert_close(flow.kl_per_dim(out), mc)
    with pytest.raises(TypeError, match="posterior_type must be a Posterior subclass"):
        register_kl(int, StandardNormalPrior)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kl_estimator='analytic' needs a closed-form KL"):
        VAE(nn.Flatten(), nn.Linear(3, 6), 3, posterior="iaf:2", kl_estimator="analytic")


def test_posterior_names_specs_and_errors() -> None:
    assert set(available_posteriors()) >= {"diagonal", "full", "planar", "radial", "iaf"}
    flow = get_posterior("IAF:3", 4)
    assert isinstance(flow, InverseAutoregressiveFlow) and flow.num_flows == 3
    assert flow.spec() == "iaf:3" and flow.config()["num_flows"] == 3
    assert isinstance(get_posterior({"name": "planar", "num_flows": 2}, 4), PlanarFlow)
    with pytest.raises(ValueError, match=r"Unknown posterior 'plannar'.*Did you mean 'planar'"):
        get_posterior("plannar", 3)
    with pytest.raises(ValueError, match="only applies to flows"):
        get_posterior("full:2", 3)
    with pytest.raises(ValueError, match="integer >= 1, got '0'"):
        get_posterior("iaf:0", 3)
    with pytest.raises(ValueError, match="integer >= 1, got 'x'"):
        get_posterior("iaf:x", 3)
    with pytest.raises(TypeError, match="posterior must be None, a registered name"):
        get_posterior(3, 3)
    bound = get_posterior("planar:2", 3)
    with pytest.raises(ValueError, match="latent_dim = 3, got latent_dim = 4"):
        get_posterior(bound, 4)


@pytest.mark.parametrize("posterior", POSTERIORS)
def test_every_posterior_trains_and_samples(posterior: str) -> None:
    model = _vae(posterior)
    x = torch.randn(4, 6)
    out = model(x, S=2)
    assert out.z.shape == (4, 2, 3)
    assert isinstance(out, VAEOutput) and (posterior == "diagonal") != isinstance(
        out, PosteriorOutput
    )
    loss = model.compute_loss(x, out)
    loss.objective.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    assert model.sample(5).shape == (5, 6)


@pytest.mark.slow
@pytest.mark.parametrize("posterior", POSTERIORS)
def test_every_posterior_compiles_with_fullgraph(posterior: str) -> None:
    model = _vae(posterior)
    x = torch.randn(4, 6)

    def step(batch: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(batch, model(batch)).objective

    torch.manual_seed(2)
    compiled = torch.compile(step, fullgraph=True, backend="eager")(x)
    torch.manual_seed(2)
    torch.testing.assert_close(compiled, step(x))


@pytest.mark.parametrize("posterior", POSTERIORS)
def test_save_and_load_round_trip_per_posterior(posterior: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("vae", (6,), 3, hidden=(8,), posterior=posterior)
    save_pretrained(model, tmp_path)
    loaded = from_pretrained(tmp_path)
    assert type(loaded.latent_posterior) is type(model.latent_posterior)
    x = torch.randn(3, 6)
    model.eval()
    torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x), rtol=0, atol=0)
    torch.manual_seed(1)
    expected = model(x, S=2)
    torch.manual_seed(1)
    got = loaded(x, S=2)
    torch.testing.assert_close(got.z, expected.z, rtol=0, atol=0)


def test_a_posterior_object_given_to_create_model_is_saved_as_its_config(tmp_path: Path) -> None:
    model = create_model("vae", (6,), 3, hidden=(8,), posterior=InverseAutoregressiveFlow(2, 8))
    assert model.pretrained_config["model"]["model_kwargs"]["posterior"] == {
        "name": "iaf",
        "num_flows": 2,
        "hidden_features": 8,
    }
    save_pretrained(model, tmp_path)
    loaded = from_pretrained(tmp_path)
    assert loaded.latent_posterior.steps[0].num_params == 8


@pytest.mark.parametrize("posterior", POSTERIORS)
def test_evaluation_functions_work_with_every_posterior(posterior: str) -> None:
    from pyautoencoder import evaluation

    model = _vae(posterior)
    x = torch.randn(6, 6)
    estimate = evaluation.log_likelihood_estimate(model, x, num_samples=8, seed=0)
    again = evaluation.log_likelihood_estimate(model, x, num_samples=8, seed=0)
    assert torch.isfinite(estimate.values).all()
    torch.testing.assert_close(estimate.values, again.values)  # seeded: reproducible
    units = evaluation.active_units(model, x)
    with torch.no_grad():
        means = model.posterior(x).mean  # [N, D_z]
    torch.testing.assert_close(units.variances, means.double().var(dim=0), rtol=1e-5, atol=1e-9)


def test_adagvae_refuses_a_posterior_it_cannot_average() -> None:
    from pyautoencoder.variational import AdaGVAE

    with pytest.raises(ValueError, match="AdaGVAE averages diagonal Gaussian posteriors"):
        AdaGVAE(_vae("planar:2"))
    AdaGVAE(_vae("diagonal"))


@pytest.mark.parametrize("posterior", POSTERIORS)
def test_a_one_dimensional_latent_works_with_every_posterior(posterior: str) -> None:
    model = _vae(posterior, latent_dim=1)
    out = model(torch.randn(3, 6), S=2)
    log_q = model.posterior_log_prob(out)  # log_q on the output for all but the diagonal
    assert out.z.shape == (3, 2, 1) and log_q.shape == (3, 2) and torch.isfinite(log_q).all()
    assert model.kl_per_dim(out).shape == (3, 1)
