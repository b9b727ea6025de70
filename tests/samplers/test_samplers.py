"""Samplers fitted after training: each density against an independent reference."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from pyautoencoder.distributions import VampPrior
from pyautoencoder.samplers import (
    MADE,
    FlowSampler,
    GaussianMixtureSampler,
    MaskedAutoregressiveFlow,
    NormalSampler,
    SamplerError,
    TwoStageSampler,
    VampSampler,
    available_samplers,
    get_sampler,
    latent_codes,
    load_sampler,
)
from pyautoencoder.vanilla import AE
from pyautoencoder.variational import VAE

pytestmark = pytest.mark.usefixtures("seeded")

QUICK = {"maf": {"num_steps": 20}, "two-stage": {"num_steps": 20, "hidden_features": 16}}


class _Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _code_ae() -> AE:
    """An AE whose codes are its inputs: fitting it fits the inputs themselves."""
    return AE(_Identity(), _Identity())


def _vae(prior: object = None) -> VAE:
    model = VAE(
        nn.Sequential(nn.Linear(6, 8), nn.Tanh()), nn.Linear(3, 6), latent_dim=3, prior=prior
    )
    model.build(torch.randn(4, 6))
    return model


def _correlated_gaussian(n: int) -> tuple[torch.Tensor, torch.distributions.MultivariateNormal]:
    truth = torch.distributions.MultivariateNormal(
        torch.tensor([1.0, -2.0]), covariance_matrix=torch.tensor([[1.0, 0.8], [0.8, 1.0]])
    )
    return truth.sample((n,)), truth


def test_normal_sampler_fits_the_sample_mean_and_covariance_in_float64() -> None:
    codes, _ = _correlated_gaussian(500)
    sampler = NormalSampler().fit(_code_ae(), codes)
    data = codes.double()
    expected_cov = torch.cov(data.T)
    fitted_cov = sampler.scale_tril.double() @ sampler.scale_tril.double().T
    torch.testing.assert_close(sampler.mean.double(), data.mean(0), rtol=0, atol=1e-6)
    torch.testing.assert_close(fitted_cov, expected_cov, rtol=1e-5, atol=1e-5)


def test_normal_sampler_draws_have_the_fitted_moments() -> None:
    codes, truth = _correlated_gaussian(2000)
    sampler = NormalSampler().fit(_code_ae(), codes)
    draws = sampler.sample_latents(20000, torch.Generator().manual_seed(0))
    # Monte Carlo error of 20000 draws: ~0.01 on means, ~0.02 on covariances.
    torch.testing.assert_close(draws.mean(0), sampler.mean, rtol=0, atol=0.05)
    torch.testing.assert_close(torch.cov(draws.T), truth.covariance_matrix, rtol=0, atol=0.1)


def test_normal_sampler_without_fitted_moments_is_the_standard_normal() -> None:
    sampler = NormalSampler(fit_moments=False).fit(_code_ae(), torch.randn(10, 3) + 5)
    assert torch.equal(sampler.mean, torch.zeros(3))
    assert torch.equal(sampler.scale_tril, torch.eye(3))


def test_gaussian_mixture_sampler_matches_cluster_weights() -> None:
    left = torch.randn(300, 2) * 0.1 - 5
    right = torch.randn(100, 2) * 0.1 + 5
    sampler = GaussianMixtureSampler(num_components=2).fit(_code_ae(), torch.cat([left, right]))
    draws = sampler.sample_latents(4000, torch.Generator().manual_seed(0))
    fraction_right = float((draws[:, 0] > 0).float().mean())
    assert abs(fraction_right - 0.25) < 0.03  # binomial sd 0.007
    reference = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=sampler.log_weights),
        torch.distributions.MultivariateNormal(sampler.means, scale_tril=sampler.scale_tril),
    )
    torch.testing.assert_close(sampler.log_prob(draws[:5]), reference.log_prob(draws[:5]))


def test_made_output_i_depends_only_on_earlier_inputs() -> None:
    made = MADE(dim=5, hidden_features=16).double()
    x = torch.randn(5, dtype=torch.float64)
    for output in made(x.unsqueeze(0)):
        jacobian = torch.autograd.functional.jacobian(lambda v: made(v.unsqueeze(0))[0][0], x)
        del output
        assert torch.count_nonzero(torch.triu(jacobian)) == 0  # strictly lower-triangular
    jac_scale = torch.autograd.functional.jacobian(lambda v: made(v.unsqueeze(0))[1][0], x)
    assert torch.count_nonzero(torch.triu(jac_scale)) == 0


def test_maf_log_det_equals_autograd_jacobian_log_abs_det_in_float64() -> None:
    flow = MaskedAutoregressiveFlow(dim=4, num_flows=3, hidden_features=12).double()
    for layer in flow.layers:  # non-trivial shifts and scales
        for parameter in layer.parameters():
            nn.init.normal_(parameter, std=0.5)
    x = torch.randn(3, 4, dtype=torch.float64)
    _, log_det = flow(x)
    for row in range(3):
        jacobian = torch.autograd.functional.jacobian(lambda v: flow(v.unsqueeze(0))[0][0], x[row])
        expected = torch.linalg.slogdet(jacobian).logabsdet
        torch.testing.assert_close(log_det[row], expected, rtol=1e-10, atol=1e-10)


def test_maf_inverse_undoes_forward() -> None:
    flow = MaskedAutoregressiveFlow(dim=3, num_flows=2, hidden_features=8).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    u, _ = flow(x)
    torch.testing.assert_close(flow.inverse(u), x, rtol=1e-9, atol=1e-9)


def test_maf_log_prob_passes_gradcheck() -> None:
    flow = MaskedAutoregressiveFlow(dim=2, num_flows=2, hidden_features=6).double()
    x = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(flow.log_prob, (x,))


@pytest.mark.slow
def test_flow_sampler_fits_a_correlated_gaussian_to_its_true_log_likelihood() -> None:
    codes, truth = _correlated_gaussian(1000)
    sampler = FlowSampler(num_flows=2, hidden_features=16, num_steps=300, batch_size=128)
    sampler.fit(_code_ae(), codes)
    held_out = truth.sample((2000,))
    with torch.no_grad():
        gap = float(truth.log_prob(held_out).mean() - sampler.log_prob(held_out).mean())
    assert -0.05 < gap < 0.15  # nats per point; the true density is the best possible model


def test_flow_sampler_leaves_the_global_rng_alone() -> None:
    codes = torch.randn(50, 2)
    state = torch.get_rng_state()
    FlowSampler(num_steps=5).fit(_code_ae(), codes)
    assert torch.equal(torch.get_rng_state(), state)


def test_two_stage_sampler_draws_match_the_codes_moments() -> None:
    codes = torch.randn(1000, 2) * torch.tensor([2.0, 0.5]) + torch.tensor([3.0, -1.0])
    sampler = TwoStageSampler(hidden_features=16, num_steps=200).fit(_code_ae(), codes)
    draws = sampler.sample_latents(2000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(draws.mean(0), codes.mean(0), rtol=0, atol=0.3)
    torch.testing.assert_close(draws.std(0), codes.std(0), rtol=0.3, atol=0)


def test_vamp_sampler_draws_from_the_models_own_prior() -> None:
    model = _vae(prior=VampPrior(3, num_pseudo_inputs=4))
    sampler = VampSampler().fit(model, torch.randn(20, 6))
    draws = sampler.sample_latents(4000, torch.Generator().manual_seed(0))
    prior = model.prior
    # The draws' mean and variance equal the mixture's (Monte Carlo, 4000 draws).
    torch.testing.assert_close(draws.mean(0), prior.mean, rtol=0, atol=0.1)
    torch.testing.assert_close(draws.var(0), prior.variance, rtol=0.15, atol=0.01)


def test_vamp_sampler_refuses_a_model_without_a_vampprior() -> None:
    with pytest.raises(ValueError, match="VampPrior"):
        VampSampler().fit(_vae(), torch.randn(5, 6))


@pytest.mark.parametrize("name", available_samplers())
def test_every_sampler_round_trips_through_save_and_load(name: str, tmp_path: Path) -> None:
    model = _vae(prior=VampPrior(3, num_pseudo_inputs=4) if name == "vamp" else None)
    sampler = type(get_sampler(name))(**QUICK.get(name, {}))
    sampler.fit(model, torch.randn(40, 6))
    sampler.save(tmp_path)
    loaded = load_sampler(tmp_path, model)
    assert type(loaded) is type(sampler)
    first = sampler.sample(5, torch.Generator().manual_seed(3))
    again = loaded.sample(5, torch.Generator().manual_seed(3))
    assert first.shape == (5, 6)
    torch.testing.assert_close(again, first)


def test_a_deterministic_models_codes_are_sampled_and_decoded() -> None:
    model = AE(nn.Linear(6, 2), nn.Linear(2, 6))
    sampler = GaussianMixtureSampler(num_components=2).fit(model, torch.randn(30, 6))
    assert sampler.sample(7).shape == (7, 6)
    assert latent_codes(model, torch.randn(9, 6), batch_size=4).shape == (9, 2)


def test_sampler_specs_parse_their_argument() -> None:
    assert get_sampler("gmm:7").num_components == 7  # type: ignore[attr-defined]
    assert get_sampler("maf:3").num_flows == 3  # type: ignore[attr-defined]
    assert isinstance(get_sampler("two_stage"), TwoStageSampler)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("gmn:10", "Did you mean 'gmm'"), ("gmm:x", "must be an integer"), ("vamp:3", "no ':'")],
)
def test_bad_sampler_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(SamplerError, match=message):
        get_sampler(spec)


def test_sampling_before_fitting_says_to_fit() -> None:
    with pytest.raises(RuntimeError, match=r"sampler.fit\(model, data\)"):
        GaussianMixtureSampler().sample(3)


def test_a_malformed_sampler_file_is_refused_with_its_path(tmp_path: Path) -> None:
    sampler = NormalSampler().fit(_code_ae(), torch.randn(10, 2))
    sampler.save(tmp_path)
    (tmp_path / "sampler.json").write_text(json.dumps({"format": "x"}))
    with pytest.raises(SamplerError, match=r"sampler\.json"):
        load_sampler(tmp_path, _code_ae())


def test_non_finite_sampler_weights_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    sampler = NormalSampler().fit(_code_ae(), torch.randn(10, 2))
    sampler.save(tmp_path)
    save_file(
        {"mean": torch.tensor([math.nan, 0.0]), "scale_tril": torch.eye(2)},
        str(tmp_path / "sampler.safetensors"),
    )
    with pytest.raises(SamplerError, match="'mean' holds NaN"):
        load_sampler(tmp_path, _code_ae())
