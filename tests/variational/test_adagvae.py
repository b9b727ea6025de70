"""``AdaGVAE`` (Locatello et al. 2020): grouping rule by hand, modes, objective (C-ADA)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from pyautoencoder.variational import VAE, AdaGVAE, AdaGVAEOutput, VAEEncodeOutput, VAEOutput

pytestmark = pytest.mark.usefixtures("seeded")


def _vae(latent_dim: int = 3, data_dim: int = 6) -> VAE:
    encoder = nn.Sequential(nn.LazyLinear(8), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(latent_dim, 8), nn.Tanh(), nn.Linear(8, data_dim))
    return VAE(encoder, decoder, latent_dim)


def _built(latent_dim: int = 3) -> tuple[AdaGVAE, torch.Tensor, torch.Tensor]:
    model = AdaGVAE(_vae(latent_dim))
    x1, x2 = torch.randn(4, 6), torch.randn(4, 6)
    model.build(x1)
    return model, x1, x2


def _patch_params(model: AdaGVAE, table: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Make ``get_params`` return prescribed posteriors, keyed by the first feature's sign.

    The encoder is replaced by the identity, so the "features" are the inputs themselves.
    """
    model.vae.encoder = nn.Identity()

    def get_params(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return table[int(features[0, 0].item())]

    model.vae.sampling_layer.get_params = get_params  # type: ignore[method-assign]


def hand_grouping(
    mu1: torch.Tensor, lv1: torch.Tensor, mu2: torch.Tensor, lv2: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """C-ADA-3 in float64, written out: textbook KL, threshold, strict <, averaged moments."""
    mu1, lv1, mu2, lv2 = (t.double() for t in (mu1, lv1, mu2, lv2))
    kl = 0.5 * (lv2 - lv1 + (lv1.exp() + (mu1 - mu2) ** 2) / lv2.exp() - 1)  # [B, D_z]
    tau = 0.5 * (kl.max(dim=1, keepdim=True).values + kl.min(dim=1, keepdim=True).values)
    shared = kl < tau
    mu_avg = 0.5 * (mu1 + mu2)
    lv_avg = torch.log(0.5 * (lv1.exp() + lv2.exp()))
    return (
        torch.where(shared, mu_avg, mu1),
        torch.where(shared, lv_avg, lv1),
        torch.where(shared, mu_avg, mu2),
        torch.where(shared, lv_avg, lv2),
        shared,
    )


# C-ADA-1 --------------------------------------------------------------------------------------


def test_c_ada_1_is_a_module_holding_the_vae() -> None:
    """C-ADA-1: an nn.Module, not a VAE subclass, holding ``self.vae`` (the object passed)."""
    vae = _vae()
    model = AdaGVAE(vae)
    assert isinstance(model, nn.Module) and not isinstance(model, VAE)
    assert model.vae is vae


def test_c_ada_1_build_takes_single_inputs_and_delegates() -> None:
    """C-ADA-1: ``build(x)`` takes a batch of single inputs and calls ``vae.build(x)``."""
    vae = _vae()
    model = AdaGVAE(vae)
    calls: list[torch.Tensor] = []
    original = vae.build

    def spy(x: torch.Tensor) -> None:
        calls.append(x)
        original(x)

    vae.build = spy  # type: ignore[method-assign]
    x = torch.randn(4, 6)
    model.build(x)
    assert len(calls) == 1 and calls[0] is x
    assert vae.sampling_layer.mu.in_features == 8


def test_c_ada_1_single_input_inference_via_vae_encode_decode() -> None:
    """C-ADA-1: single inputs go through ``model.vae.encode`` / ``model.vae.decode``."""
    model, x1, _ = _built()
    enc = model.vae.encode(x1)
    assert enc.z.shape == (4, 1, 3) and not enc.z.requires_grad
    assert model.vae.decode(enc.z).x_hat.shape == (4, 1, 6)


def test_c_ada_1_training_mode_is_the_adagvae_flag() -> None:
    """C-ADA-1: grouping follows the AdaGVAE's own ``training`` flag, not the inner VAE's."""
    model, x1, x2 = _built()
    model.train()
    model.vae.eval()  # the inner flag alone does not switch grouping off
    calls: list[int] = []
    original = model._encode_pair

    def spy(a: torch.Tensor, b: torch.Tensor, S: int = 1) -> tuple[VAEEncodeOutput, ...]:
        calls.append(S)
        return original(a, b, S=S)

    model._encode_pair = spy  # type: ignore[method-assign]
    model((x1, x2))
    assert calls == [1]
    model.eval()
    model((x1, x2))
    assert calls == [1]


# C-ADA-2 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("num_samples", [1, 3])
def test_c_ada_2_output_holds_two_vae_outputs(mode: str, num_samples: int) -> None:
    """C-ADA-2: ``AdaGVAEOutput(output1, output2)``, each a VAEOutput shaped as in C-VAE-1."""
    assert [f.name for f in dataclasses.fields(AdaGVAEOutput)] == ["output1", "output2"]
    model, x1, x2 = _built()
    getattr(model, mode)()
    out = model((x1, x2), S=num_samples)
    assert isinstance(out, AdaGVAEOutput)
    for part in (out.output1, out.output2):
        assert isinstance(part, VAEOutput)
        assert part.x_hat.shape == (4, num_samples, 6) and part.z.shape == (4, num_samples, 3)
        assert part.mu.shape == (4, 3) and part.log_var.shape == (4, 3)


# C-ADA-3 --------------------------------------------------------------------------------------


def test_c_ada_3_grouping_matches_the_hand_computation() -> None:
    """C-ADA-3: KL per dim, tau = (max + min) / 2, strict <, mean of means, log mean variance."""
    model, x1, x2 = _built(latent_dim=5)
    mu1, lv1 = model.vae.sampling_layer.get_params(model.vae.encoder(x1))
    mu2, lv2 = model.vae.sampling_layer.get_params(model.vae.encoder(x2))
    expected = hand_grouping(mu1, lv1, mu2, lv2)
    enc1, enc2 = model._encode_pair(x1, x2, S=2)
    got = (enc1.mu, enc1.log_var, enc2.mu, enc2.log_var)
    for a, b in zip(got, expected[:4]):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-6)
    shared = expected[4]
    assert shared.any(dim=1).all() and not shared.all(dim=1).any()  # some but not all shared
    assert torch.equal(enc1.mu[shared], enc2.mu[shared])
    assert torch.equal(enc1.log_var[shared], enc2.log_var[shared])


def test_c_ada_3_threshold_comparison_is_strict() -> None:
    """C-ADA-3: a dimension whose KL equals tau exactly is not shared.

    q1 = N(0, 1) and q2 = N(m, 1) with m = (1, 5, 7): KL = m^2 / 2 = (0.5, 12.5, 24.5), all
    exact in binary, and tau = (24.5 + 0.5) / 2 = 12.5, so only dimension 0 is shared.
    """
    model = AdaGVAE(_vae())
    ones = torch.ones(1, 3)
    mu2 = torch.tensor([[1.0, 5.0, 7.0]])
    _patch_params(model, {1: (torch.zeros(1, 3), torch.zeros(1, 3)), 2: (mu2, torch.zeros(1, 3))})
    enc1, enc2 = model._encode_pair(ones, 2 * ones)
    assert torch.equal(enc1.mu, torch.tensor([[0.5, 0.0, 0.0]]))
    assert torch.equal(enc2.mu, torch.tensor([[0.5, 5.0, 7.0]]))
    assert torch.equal(enc1.log_var, torch.zeros(1, 3))


def test_c_ada_3_averaged_log_variance_is_stable() -> None:
    """C-ADA-3: log of the mean variance via logaddexp: finite where exp underflows (float32)."""
    model = AdaGVAE(_vae(latent_dim=2))
    lv1 = torch.tensor([[-120.0, 0.0]])
    lv2 = torch.tensor([[-125.0, 0.0]])
    mu1, mu2 = torch.zeros(1, 2), torch.tensor([[0.0, 40.0]])
    _patch_params(model, {1: (mu1, lv1), 2: (mu2, lv2)})
    ones = torch.ones(1, 2)
    enc1, enc2 = model._encode_pair(ones, 2 * ones)
    # dim 0: KL ~ 2.5 nats, dim 1: KL = 800 -> tau ~ 401, only dim 0 is shared.
    expected = torch.logaddexp(lv1[0, 0].double(), lv2[0, 0].double()) - math.log(2)
    assert torch.isfinite(enc1.log_var).all() and torch.isfinite(enc1.z).all()
    torch.testing.assert_close(enc1.log_var[0, 0].double(), expected)
    torch.testing.assert_close(enc2.log_var[0, 0], enc1.log_var[0, 0])
    assert enc2.mu[0, 1] == 40.0


def test_c_ada_3_identical_inputs_share_nothing() -> None:
    """C-ADA-3: identical inputs -> all KLs 0 -> nothing shared -> the plain VAE posteriors."""
    model, x1, _ = _built()
    enc1, enc2 = model._encode_pair(x1, x1.clone())
    mu, log_var = model.vae.sampling_layer.get_params(model.vae.encoder(x1))
    for enc in (enc1, enc2):
        assert torch.equal(enc.mu, mu) and torch.equal(enc.log_var, log_var)


def test_c_ada_3_lowest_kl_dimension_is_always_shared_unless_all_equal() -> None:
    """C-ADA-3: the argmin-KL dim is shared; with all KLs equal (and > 0) nothing is."""
    model, x1, x2 = _built(latent_dim=4)
    mu1, lv1 = model.vae.sampling_layer.get_params(model.vae.encoder(x1))
    mu2, lv2 = model.vae.sampling_layer.get_params(model.vae.encoder(x2))
    enc1, enc2 = model._encode_pair(x1, x2)
    kl = 0.5 * (lv2 - lv1 + (lv1.exp() + (mu1 - mu2) ** 2) / lv2.exp() - 1)
    lowest = kl.argmin(dim=1)
    rows = torch.arange(4)
    assert (mu1[rows, lowest] != mu2[rows, lowest]).all()  # the inputs differ there
    torch.testing.assert_close(enc1.mu[rows, lowest], enc2.mu[rows, lowest], rtol=0, atol=0)
    # All KLs equal: q2 = q1 shifted by the same amount in every dimension.
    equal = AdaGVAE(_vae(latent_dim=3))
    mu_a = torch.zeros(2, 3)
    _patch_params(equal, {1: (mu_a, torch.zeros(2, 3)), 2: (mu_a + 1.5, torch.zeros(2, 3))})
    ones = torch.ones(2, 3)
    e1, e2 = equal._encode_pair(ones, 2 * ones)
    assert torch.equal(e1.mu, mu_a) and torch.equal(e2.mu, mu_a + 1.5)


def test_c_ada_3_samples_through_reparametrize() -> None:
    """C-ADA-3: S samples from each adapted posterior via ``sampling_layer.reparametrize``."""
    model, x1, x2 = _built()
    calls: list[tuple[torch.Tensor, torch.Tensor, int]] = []
    original = model.vae.sampling_layer.reparametrize

    def spy(mu: torch.Tensor, log_var: torch.Tensor, S: int = 1) -> torch.Tensor:
        calls.append((mu, log_var, S))
        return original(mu, log_var, S)

    model.vae.sampling_layer.reparametrize = spy  # type: ignore[method-assign]
    torch.manual_seed(4)
    enc1, enc2 = model._encode_pair(x1, x2, S=3)
    assert [c[2] for c in calls] == [3, 3]
    assert calls[0][0] is enc1.mu and calls[1][1] is enc2.log_var
    torch.manual_seed(4)
    eps1, eps2 = torch.randn(4, 3, 3), torch.randn(4, 3, 3)
    for enc, eps in ((enc1, eps1), (enc2, eps2)):
        assert enc.z.shape == (4, 3, 3)
        torch.testing.assert_close(
            enc.z, enc.mu[:, None] + (0.5 * enc.log_var).exp()[:, None] * eps
        )


def test_c_ada_3_looks_up_the_encoder_at_call_time() -> None:
    """C-ADA-3: swapping ``vae.encoder`` after construction takes effect."""
    model, x1, x2 = _built()
    before = model._encode_pair(x1, x2)[0].mu
    model.vae.encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh())
    after = model._encode_pair(x1, x2)[0].mu
    assert not torch.equal(before, after)
    mu, _ = model.vae.sampling_layer.get_params(model.vae.encoder(x1))
    shared = model._encode_pair(x1, x1)[0].mu  # identical inputs -> plain posterior
    assert torch.equal(shared, mu)


# C-ADA-4 --------------------------------------------------------------------------------------


def test_c_ada_4_training_forward_is_encode_pair_then_decode() -> None:
    """C-ADA-4: training mode equals ``_encode_pair`` then ``vae._decode`` (same seed)."""
    model, x1, x2 = _built()
    model.train()
    torch.manual_seed(6)
    out = model((x1, x2), S=2)
    torch.manual_seed(6)
    enc1, enc2 = model._encode_pair(x1, x2, S=2)
    for part, enc in ((out.output1, enc1), (out.output2, enc2)):
        assert torch.equal(part.z, enc.z) and torch.equal(part.mu, enc.mu)
        assert torch.equal(part.log_var, enc.log_var)
        assert torch.equal(part.x_hat, model.vae._decode(enc.z).x_hat)


def test_c_ada_4_eval_mode_equals_two_vae_calls_with_the_same_seed() -> None:
    """C-ADA-4: eval mode: ``vae(x1, S)`` then ``vae(x2, S)``, no grouping."""
    model, x1, x2 = _built()
    model.eval()
    torch.manual_seed(8)
    out = model((x1, x2), S=2)
    torch.manual_seed(8)
    first, second = model.vae(x1, S=2), model.vae(x2, S=2)
    for part, ref in ((out.output1, first), (out.output2, second)):
        for name in ("x_hat", "z", "mu", "log_var"):
            assert torch.equal(getattr(part, name), getattr(ref, name)), name


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("bad", [0, -1])
def test_c_ada_4_s_below_one(mode: str, bad: int) -> None:
    """C-ADA-4: ``S < 1`` -> ValueError containing ``S must be >= 1``."""
    model, x1, x2 = _built()
    getattr(model, mode)()
    with pytest.raises(ValueError, match="S must be >= 1"):
        model((x1, x2), S=bad)


# C-ADA-5 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_c_ada_5_objective_is_the_sum_of_the_two_vae_objectives(likelihood: str) -> None:
    """C-ADA-5: objective and diagnostics from the two VAE losses on the adapted outputs."""
    model, x1, x2 = _built()
    x1, x2 = x1.sigmoid(), x2.sigmoid()
    out = model((x1, x2), S=2)
    result = model.compute_loss((x1, x2), output=out, beta=0.7, likelihood=likelihood)
    r1 = model.vae.compute_loss(x1, out.output1, beta=0.7, likelihood=likelihood)
    r2 = model.vae.compute_loss(x2, out.output2, beta=0.7, likelihood=likelihood)
    torch.testing.assert_close(result.objective, r1.objective + r2.objective)
    diag = result.diagnostics
    expected = {
        "elbo": r1.diagnostics["elbo"] + r2.diagnostics["elbo"],
        "log_likelihood_x1": r1.diagnostics["log_likelihood"],
        "log_likelihood_x2": r2.diagnostics["log_likelihood"],
        "kl_divergence_x1": r1.diagnostics["kl_divergence"],
        "kl_divergence_x2": r2.diagnostics["kl_divergence"],
    }
    for key, value in expected.items():
        torch.testing.assert_close(diag[key], value)
    for key, value in diag.items():
        assert value.dim() == 0 and not value.requires_grad, key


def test_c_ada_5_shape_checks_as_c_vae_7() -> None:
    """C-ADA-5: a wrong ``x_hat`` shape -> ValueError containing ``x_hat must have shape``."""
    model, x1, x2 = _built()
    out = model((x1, x2))
    out.output2.x_hat = out.output2.x_hat.squeeze(1)
    with pytest.raises(ValueError, match="x_hat must have shape"):
        model.compute_loss((x1, x2), out)


def test_c_ada_5_gradients_reach_encoder_decoder_and_sampling_layer() -> None:
    """C-ADA-5: every parameter of the VAE gets a non-zero gradient."""
    model, x1, x2 = _built()
    model.compute_loss((x1, x2), model((x1, x2), S=2)).objective.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_c_ada_5_smaller_beta_gives_larger_elbo() -> None:
    """C-ADA-5: ``elbo`` grows as beta shrinks."""
    model, x1, x2 = _built()
    out = model((x1, x2))
    elbos = [model.compute_loss((x1, x2), out, beta=b).diagnostics["elbo"] for b in (4.0, 1.0, 0.1)]
    assert elbos[0] < elbos[1] < elbos[2]


def test_adagvae_mismatched_pair_batch_sizes() -> None:
    """Validation beyond C-ADA: x1 and x2 must have the same batch size."""
    model, x1, _ = _built()
    with pytest.raises(ValueError, match="same batch size"):
        model((x1, torch.randn(3, 6)))


def test_adagvae_compiles_without_graph_breaks() -> None:
    """Training-mode forward + compute_loss trace with ``fullgraph=True`` (eager backend)."""
    model, x1, x2 = _built()
    model.train()

    def step(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return model.compute_loss((a, b), model((a, b), S=2), beta=2.0).objective

    compiled = torch.compile(step, fullgraph=True, backend="eager")
    torch.manual_seed(1)
    got = compiled(x1, x2)
    torch.manual_seed(1)
    torch.testing.assert_close(got, step(x1, x2))
    torch._dynamo.reset()


def test_adagvae_pairs_with_different_example_shapes_are_refused() -> None:
    """x1 [B, 6] with x2 [B, 5] fails before the encoder, naming both shapes."""
    model, x1, _ = _built()
    with pytest.raises(ValueError, match=r"examples of one shape.*\(4, 6\).*\(4, 5\)"):
        model((x1, torch.randn(4, 5)))
