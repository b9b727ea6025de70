"""``FullyFactorizedGaussian``: heads, parameters, sampling, reparameterisation (C-FFG)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyautoencoder.variational.stochastic_layers import FullyFactorizedGaussian

pytestmark = pytest.mark.usefixtures("seeded")


# C-FFG-1 --------------------------------------------------------------------------------------


def test_c_ffg_1_lazy_heads_named_mu_and_log_var() -> None:
    """C-FFG-1: ``latent_dim`` and two LazyLinear heads that become Linear(F, latent_dim)."""
    layer = FullyFactorizedGaussian(4)
    assert layer.latent_dim == 4
    for head in (layer.mu, layer.log_var):
        assert isinstance(head, nn.LazyLinear)
        assert isinstance(head.weight, nn.parameter.UninitializedParameter)
    layer.get_params(torch.randn(2, 7))
    for head in (layer.mu, layer.log_var):
        assert type(head) is nn.Linear
        assert (head.in_features, head.out_features) == (7, 4)
    assert set(dict(layer.named_parameters())) == {
        "mu.weight",
        "mu.bias",
        "log_var.weight",
        "log_var.bias",
    }


@pytest.mark.parametrize("bad", [0, -2])
def test_c_ffg_1_latent_dim_must_be_positive(bad: int) -> None:
    """Validation beyond C-FFG-1: ``latent_dim <= 0`` is a ValueError naming it."""
    with pytest.raises(ValueError, match="latent_dim"):
        FullyFactorizedGaussian(bad)


@pytest.mark.parametrize("bad", [2.0, "3", True, None])
def test_c_ffg_1_latent_dim_must_be_an_int(bad: object) -> None:
    """Validation beyond C-FFG-1: a non-int (or bool) ``latent_dim`` is a TypeError."""
    with pytest.raises(TypeError, match="latent_dim"):
        FullyFactorizedGaussian(bad)  # type: ignore[arg-type]


# C-FFG-2 --------------------------------------------------------------------------------------


def test_c_ffg_2_get_params_shapes_and_heads() -> None:
    """C-FFG-2: ``(mu, log_var)`` each ``[B, latent_dim]``, the two heads' outputs."""
    layer = FullyFactorizedGaussian(3)
    h = torch.randn(5, 8)
    mu, log_var = layer.get_params(h)
    assert mu.shape == (5, 3) and log_var.shape == (5, 3)
    torch.testing.assert_close(mu, layer.mu(h), rtol=0, atol=0)
    torch.testing.assert_close(log_var, layer.log_var(h), rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(5,), (5, 2, 4), (2, 1, 4, 4)])
def test_c_ffg_2_non_flat_features_are_rejected(shape: tuple[int, ...]) -> None:
    """C-FFG-2: non-2-D ``x`` -> ValueError with ``shape [B, F]`` and ``nn.Flatten``."""
    layer = FullyFactorizedGaussian(3)
    for call in (lambda t: layer.get_params(t), lambda t: layer(t)):
        with pytest.raises(ValueError, match=r"shape \[B, F\]") as info:
            call(torch.randn(shape))
        assert "nn.Flatten" in str(info.value)


# C-FFG-3 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("num_samples", [1, 4])
def test_c_ffg_3_samples_in_train_and_eval_alike(mode: str, num_samples: int) -> None:
    """C-FFG-3: ``sample=True`` draws S samples in either mode from the global RNG."""
    layer = FullyFactorizedGaussian(3)
    h = torch.randn(2, 6)
    layer.get_params(h)
    getattr(layer, mode)()
    torch.manual_seed(7)
    z, mu, log_var = layer(h, S=num_samples)
    assert z.shape == (2, num_samples, 3)
    torch.manual_seed(7)
    eps = torch.randn(2, num_samples, 3)
    torch.testing.assert_close(z, mu.unsqueeze(1) + torch.exp(0.5 * log_var).unsqueeze(1) * eps)
    torch.manual_seed(7)
    z_again, _, _ = layer(h, S=num_samples)
    assert torch.equal(z, z_again)
    assert not torch.equal(z, mu.unsqueeze(1).expand_as(z))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_c_ffg_3_sample_false_returns_the_mean(mode: str) -> None:
    """C-FFG-3: ``sample=False`` gives ``z = mu.unsqueeze(1)`` in any mode, no RNG use."""
    layer = FullyFactorizedGaussian(3)
    getattr(layer, mode)()
    h = torch.randn(4, 6)
    layer.get_params(h)  # lazy initialisation draws from the RNG; sampling must not
    state = torch.get_rng_state()
    z, mu, _ = layer(h, sample=False)
    assert z.shape == (4, 1, 3)
    assert torch.equal(z, mu.unsqueeze(1))
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("sample", [True, False])
def test_c_ffg_3_all_outputs_keep_gradients(sample: bool) -> None:
    """C-FFG-3: z, mu and log_var keep their graph to the input and the heads."""
    layer = FullyFactorizedGaussian(3)
    h = torch.randn(4, 6, requires_grad=True)
    z, mu, log_var = layer(h, S=1, sample=sample)
    assert z.requires_grad and mu.requires_grad and log_var.requires_grad
    (z.sum() + log_var.sum()).backward()
    assert h.grad is not None and layer.mu.weight.grad is not None
    assert layer.log_var.weight.grad is not None


@pytest.mark.parametrize("bad", [0, -1])
def test_c_ffg_3_s_below_one(bad: int) -> None:
    """C-FFG-3: ``S < 1`` -> ValueError containing ``S must be >= 1``."""
    layer = FullyFactorizedGaussian(3)
    with pytest.raises(ValueError, match="S must be >= 1"):
        layer(torch.randn(2, 4), S=bad)


def test_c_ffg_3_sample_false_with_several_samples() -> None:
    """C-FFG-3: ``sample=False`` with ``S != 1`` -> ValueError mentioning ``sample=True``."""
    layer = FullyFactorizedGaussian(3)
    with pytest.raises(ValueError, match="sample=True"):
        layer(torch.randn(2, 4), S=3, sample=False)


@pytest.mark.parametrize("bad", [2.0, True, "2", torch.tensor(2)])
def test_c_ffg_3_s_must_be_an_int(bad: object) -> None:
    """Validation beyond C-FFG-3: a non-integer or bool ``S`` is a TypeError naming ``S``."""
    layer = FullyFactorizedGaussian(3)
    with pytest.raises(TypeError, match="S must be an int"):
        layer(torch.randn(2, 4), S=bad)  # type: ignore[arg-type]


# C-FFG-4 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_c_ffg_4_reparametrize_formula_shape_and_dtype(dtype: torch.dtype) -> None:
    """C-FFG-4: ``mu + exp(0.5 log_var) * eps``, ``[B, S, D_z]``, dtype of the inputs."""
    mu, log_var = torch.randn(3, 2, dtype=dtype), torch.randn(3, 2, dtype=dtype)
    torch.manual_seed(3)
    z = FullyFactorizedGaussian.reparametrize(mu, log_var, S=5)
    torch.manual_seed(3)
    eps = torch.randn(3, 5, 2, dtype=dtype)
    assert z.shape == (3, 5, 2) and z.dtype == dtype
    torch.testing.assert_close(z, mu[:, None] + torch.exp(0.5 * log_var)[:, None] * eps)


def test_c_ffg_4_reparametrize_is_differentiable_in_both() -> None:
    """C-FFG-4: gradients w.r.t. mu and log_var match the reparameterisation formula."""
    mu = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    log_var = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(5)
    z = FullyFactorizedGaussian.reparametrize(mu, log_var, S=4)
    torch.manual_seed(5)
    eps = torch.randn(3, 4, 2, dtype=torch.float64)
    z.sum().backward()
    assert mu.grad is not None and log_var.grad is not None
    torch.testing.assert_close(mu.grad, torch.full_like(mu, 4.0))
    expected = (0.5 * torch.exp(0.5 * log_var.detach())[:, None] * eps).sum(1)
    torch.testing.assert_close(log_var.grad, expected)


def test_c_ffg_4_empirical_moments_match() -> None:
    """C-FFG-4: mean and std over many samples match mu and exp(0.5 log_var).

    With S = 40000 draws the standard error of the mean is sigma / 200 and that of the
    standard deviation about sigma / 283; a tolerance of 2% of sigma (>= 4 standard errors)
    keeps the false-failure rate below 1e-4 per coordinate.
    """
    mu = torch.tensor([[0.0, 3.0, -2.0]], dtype=torch.float64)
    log_var = torch.tensor([[0.0, 2.0, -4.0]], dtype=torch.float64)
    z = FullyFactorizedGaussian.reparametrize(mu, log_var, S=40_000)[0]  # [S, D_z]
    sigma = torch.exp(0.5 * log_var[0])
    assert ((z.mean(0) - mu[0]).abs() < 0.02 * sigma).all()
    assert ((z.std(0) - sigma).abs() < 0.02 * sigma).all()


def test_c_ffg_4_finite_for_large_s_and_extreme_log_var() -> None:
    """C-FFG-4: finite for large S and log-variances in [-30, 30] in float32."""
    mu = torch.zeros(2, 3)
    log_var = torch.tensor([[-30.0, 0.0, 30.0], [30.0, -30.0, 5.0]])
    z = FullyFactorizedGaussian.reparametrize(mu, log_var, S=10_000)
    assert z.shape == (2, 10_000, 3) and torch.isfinite(z).all()


def test_c_ffg_4_samples_in_eval_mode_too() -> None:
    """C-FFG-4: reparametrize draws samples whatever the module mode."""
    layer = FullyFactorizedGaussian(2).eval()
    mu, log_var = torch.zeros(1, 2), torch.zeros(1, 2)
    z = layer.reparametrize(mu, log_var, S=3)
    assert z.abs().sum() > 0


@pytest.mark.parametrize("bad", [0, -3])
def test_c_ffg_4_s_below_one(bad: int) -> None:
    """C-FFG-4: ``S < 1`` -> ValueError containing ``S must be >= 1``."""
    with pytest.raises(ValueError, match="S must be >= 1"):
        FullyFactorizedGaussian.reparametrize(torch.zeros(2, 3), torch.zeros(2, 3), S=bad)


@pytest.mark.parametrize(
    ("mu_shape", "log_var_shape"), [((2, 3), (2, 4)), ((3,), (3,)), ((2, 1, 3), (2, 1, 3))]
)
def test_c_ffg_4_mu_and_log_var_must_be_2d_and_equal(
    mu_shape: tuple[int, ...], log_var_shape: tuple[int, ...]
) -> None:
    """C-FFG-4: shapes not both 2-D and equal -> ValueError containing ``shape [B, D_z]``."""
    with pytest.raises(ValueError, match=r"shape \[B, D_z\]"):
        FullyFactorizedGaussian.reparametrize(torch.zeros(mu_shape), torch.zeros(log_var_shape))


def test_repr_names_the_latent_size() -> None:
    """The module repr shows ``latent_dim`` (printing a model tells the code size)."""
    assert "latent_dim=3" in repr(FullyFactorizedGaussian(3))
