"""``kl_divergence_diag_gaussian`` against ``torch.distributions`` in float64 (C-LOSS-5)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import distributions as D

from pyautoencoder.loss import kl_divergence_diag_gaussian

pytestmark = pytest.mark.usefixtures("seeded")


def reference_kl(
    mu_q: torch.Tensor, lv_q: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor
) -> torch.Tensor:
    """Per-dimension KL of two Normals from ``torch.distributions`` (no reduction)."""
    q = D.Normal(mu_q, torch.exp(0.5 * lv_q))
    p = D.Normal(mu_p, torch.exp(0.5 * lv_p))
    return D.kl_divergence(q, p)


def textbook_kl(
    mu_q: torch.Tensor, lv_q: torch.Tensor, mu_p: torch.Tensor, lv_p: torch.Tensor
) -> torch.Tensor:
    """The contract's formula, literally (fine in float64 for moderate log-variances)."""
    return 0.5 * (lv_p - lv_q + (torch.exp(lv_q) + (mu_q - mu_p) ** 2) / torch.exp(lv_p) - 1)


def _params(*shape: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, ...]:
    return tuple(torch.randn(*shape, dtype=dtype) for _ in range(4))


def test_c_loss_5_standard_normal_prior_matches_independent_normal_kl() -> None:
    """C-LOSS-5: with no prior, KL(q || N(0, I)) equals torch.distributions' Independent KL."""
    mu, lv, _, _ = _params(6, 5)
    q = D.Independent(D.Normal(mu, torch.exp(0.5 * lv)), 1)
    p = D.Independent(D.Normal(torch.zeros_like(mu), torch.ones_like(lv)), 1)
    got = kl_divergence_diag_gaussian(mu, lv)
    assert got.shape == (6,)
    torch.testing.assert_close(got, D.kl_divergence(q, p))


def test_c_loss_5_explicit_prior_matches_independent_normal_kl() -> None:
    """C-LOSS-5: explicit ``mu_p``, ``log_var_p`` against the Independent-Normal KL."""
    mu_q, lv_q, mu_p, lv_p = _params(6, 5)
    q = D.Independent(D.Normal(mu_q, torch.exp(0.5 * lv_q)), 1)
    p = D.Independent(D.Normal(mu_p, torch.exp(0.5 * lv_p)), 1)
    torch.testing.assert_close(
        kl_divergence_diag_gaussian(mu_q, lv_q, mu_p, lv_p), D.kl_divergence(q, p)
    )
    torch.testing.assert_close(
        kl_divergence_diag_gaussian(mu_q, lv_q, mu_p, lv_p),
        textbook_kl(mu_q, lv_q, mu_p, lv_p).sum(-1),
    )


def test_c_loss_5_reduce_sum_false_gives_per_dimension_kl() -> None:
    """C-LOSS-5: ``reduce_sum=False`` returns ``[B, D_z]``, summing to the reduced value."""
    mu_q, lv_q, mu_p, lv_p = _params(4, 3)
    per_dim = kl_divergence_diag_gaussian(mu_q, lv_q, mu_p, lv_p, reduce_sum=False)
    assert per_dim.shape == (4, 3)
    torch.testing.assert_close(per_dim, reference_kl(mu_q, lv_q, mu_p, lv_p))
    torch.testing.assert_close(per_dim.sum(-1), kl_divergence_diag_gaussian(mu_q, lv_q, mu_p, lv_p))


def test_c_loss_5_one_missing_prior_parameter_is_zero() -> None:
    """C-LOSS-5: if only one prior parameter is ``None`` it is taken as zeros."""
    mu_q, lv_q, mu_p, lv_p = _params(3, 4)
    zeros = torch.zeros_like(mu_q)
    torch.testing.assert_close(
        kl_divergence_diag_gaussian(mu_q, lv_q, None, lv_p),
        reference_kl(mu_q, lv_q, zeros, lv_p).sum(-1),
    )
    torch.testing.assert_close(
        kl_divergence_diag_gaussian(mu_q, lv_q, mu_p, None),
        reference_kl(mu_q, lv_q, mu_p, zeros).sum(-1),
    )


@pytest.mark.parametrize("log_var", [-200.0, -110.0, -30.0, 0.0, 30.0, 95.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_c_loss_5_is_exactly_zero_when_q_equals_p(log_var: float, dtype: torch.dtype) -> None:
    """C-LOSS-5: q == p gives exactly 0, also where exp(log_var) under/overflows in float32."""
    mu = torch.randn(3, 4, dtype=dtype)
    lv = torch.full((3, 4), log_var, dtype=dtype)
    params = [t.clone().requires_grad_() for t in (mu, lv, mu, lv)]
    kl = kl_divergence_diag_gaussian(*params, reduce_sum=False)
    assert torch.equal(kl, torch.zeros_like(kl))
    kl.sum().backward()  # the gradient at q == p is 0 too, never NaN
    for param in params:
        assert param.grad is not None and torch.equal(param.grad, torch.zeros_like(param))
    standard = kl_divergence_diag_gaussian(
        torch.zeros(2, 3, dtype=dtype), torch.zeros(2, 3, dtype=dtype)
    )
    assert torch.equal(standard, torch.zeros(2, dtype=dtype))


def test_c_loss_5_positive_otherwise_and_asymmetric() -> None:
    """C-LOSS-5: KL > 0 for q != p, and KL(q || p) != KL(p || q) in general."""
    mu_q, lv_q, mu_p, lv_p = _params(8, 3)
    forward = kl_divergence_diag_gaussian(mu_q, lv_q, mu_p, lv_p)
    backward = kl_divergence_diag_gaussian(mu_p, lv_p, mu_q, lv_q)
    assert (forward > 0).all() and (backward > 0).all()
    assert not torch.allclose(forward, backward)
    torch.testing.assert_close(backward, reference_kl(mu_p, lv_p, mu_q, lv_q).sum(-1))
    # A hand-checkable case: q = N(0, 1), p = N(0, e^2): 0.5 (2 + e^-2 - 1) vs 0.5 (-2 + e^2 - 1)
    zero, two = torch.zeros(1, 1, dtype=torch.float64), torch.full((1, 1), 2.0, dtype=torch.float64)
    e2 = torch.exp(torch.tensor(2.0, dtype=torch.float64))
    torch.testing.assert_close(
        kl_divergence_diag_gaussian(zero, zero, zero, two), (0.5 * (1 + 1 / e2)).reshape(1)
    )
    torch.testing.assert_close(
        kl_divergence_diag_gaussian(zero, two, zero, zero), (0.5 * (e2 - 3)).reshape(1)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_c_loss_5_dtype_and_device_preserved(dtype: torch.dtype) -> None:
    """C-LOSS-5: output dtype and device are those of the inputs."""
    mu_q, lv_q, mu_p, lv_p = _params(2, 3, dtype=dtype)
    for out in (
        kl_divergence_diag_gaussian(mu_q, lv_q),
        kl_divergence_diag_gaussian(mu_q, lv_q, mu_p, lv_p, reduce_sum=False),
    ):
        assert out.dtype == dtype and out.device == mu_q.device


@pytest.mark.parametrize(("batch", "latent"), [(1, 3), (1, 1), (20_000, 4), (2, 8192)])
def test_c_loss_5_b1_large_b_and_large_latent(batch: int, latent: int) -> None:
    """C-LOSS-5: fine for B = 1, large B and large D_z (float32 vs float64 reference)."""
    mu_q, lv_q, mu_p, lv_p = _params(batch, latent)
    got = kl_divergence_diag_gaussian(mu_q.float(), lv_q.float(), mu_p.float(), lv_p.float())
    assert got.shape == (batch,)
    expected = reference_kl(mu_q, lv_q, mu_p, lv_p).sum(-1)
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)


def test_c_loss_5_prior_parameters_may_broadcast() -> None:
    """C-LOSS-5 extension: prior parameters ``[D_z]`` broadcast over the batch."""
    mu_q, lv_q = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    mu_p, lv_p = torch.randn(3, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    torch.testing.assert_close(
        kl_divergence_diag_gaussian(mu_q, lv_q, mu_p, lv_p),
        reference_kl(mu_q, lv_q, mu_p.expand(5, 3), lv_p.expand(5, 3)).sum(-1),
    )


def test_gradcheck_kl_divergence_standard_prior() -> None:
    """C-LOSS-5: differentiable in ``mu_q`` and ``log_var_q`` (finite differences agree)."""
    mu, lv = (torch.randn(3, 4, dtype=torch.float64, requires_grad=True) for _ in range(2))
    assert torch.autograd.gradcheck(kl_divergence_diag_gaussian, (mu, lv))
    assert torch.autograd.gradgradcheck(kl_divergence_diag_gaussian, (mu, lv))


@pytest.mark.parametrize("reduce_sum", [True, False])
def test_gradcheck_kl_divergence_with_prior_params(reduce_sum: bool) -> None:
    """C-LOSS-5: differentiable in all four inputs, the prior's included."""
    params = tuple(torch.randn(3, 4, dtype=torch.float64, requires_grad=True) for _ in range(4))
    assert torch.autograd.gradcheck(
        lambda a, b, c, d: kl_divergence_diag_gaussian(a, b, c, d, reduce_sum=reduce_sum), params
    )


def test_kl_divergence_gradient_in_prior_parameters_is_nonzero() -> None:
    """C-LOSS-5: the prior's parameters receive gradient (empirical Bayes priors need it)."""
    mu_q, lv_q, mu_p, lv_p = (t.requires_grad_() for t in _params(3, 4))
    kl_divergence_diag_gaussian(mu_q, lv_q, mu_p, lv_p).sum().backward()
    assert mu_p.grad is not None and lv_p.grad is not None
    assert mu_p.grad.abs().sum() > 0 and lv_p.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        (((3, 4), (3, 5), None, None), "same shape"),
        (((3, 4), (4, 4), None, None), "same shape"),
        (((3, 4), (3, 4), (3, 5), None), "mu_p"),
        (((3, 4), (3, 4), None, (2, 4)), "log_var_p"),
        (((3, 4), (3, 4), (6, 3, 4), (3, 4)), "mu_p"),
    ],
)
def test_kl_divergence_shapes_must_agree(
    shapes: tuple[tuple[int, ...] | None, ...], match: str
) -> None:
    """Shapes of the four inputs must agree (prior ones may broadcast to ``mu_q``'s shape)."""
    tensors = [None if s is None else torch.randn(s) for s in shapes]
    with pytest.raises(ValueError, match=match) as info:
        kl_divergence_diag_gaussian(*tensors)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


@settings(max_examples=50, deadline=None)
@given(
    batch=st.sampled_from([1, 2, 7, 300]),
    latent=st.integers(1, 16),
    lv_low=st.floats(-30, 30),
    lv_high=st.floats(-30, 30),
    mu_scale=st.sampled_from([0.0, 1.0, 10.0]),
    explicit_prior=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_kl_finite_float32_and_exact_float64(
    batch: int,
    latent: int,
    lv_low: float,
    lv_high: float,
    mu_scale: float,
    explicit_prior: bool,
    seed: int,
) -> None:
    """C-LOSS-5 (property): log-variances in [-30, 30]: finite and >= 0 in float32,
    equal to torch.distributions in float64."""
    gen = torch.Generator().manual_seed(seed)
    low, high = min(lv_low, lv_high), max(lv_low, lv_high)

    def log_var() -> torch.Tensor:
        return low + (high - low) * torch.rand(batch, latent, generator=gen, dtype=torch.float64)

    mu_q = mu_scale * torch.randn(batch, latent, generator=gen, dtype=torch.float64)
    lv_q = log_var()
    if explicit_prior:
        mu_p = mu_scale * torch.randn(batch, latent, generator=gen, dtype=torch.float64)
        lv_p = log_var()
    else:
        mu_p, lv_p = torch.zeros_like(mu_q), torch.zeros_like(lv_q)
    prior = (mu_p, lv_p) if explicit_prior else (None, None)
    got64 = kl_divergence_diag_gaussian(mu_q, lv_q, *prior, reduce_sum=False)
    expected = reference_kl(mu_q, lv_q, mu_p, lv_p)
    torch.testing.assert_close(got64, expected, rtol=1e-9, atol=1e-9)
    # float32: compare with the float64 reference at the same (rounded) inputs.
    q32 = (mu_q.float(), lv_q.float())
    prior32 = tuple(None if p is None else p.float() for p in prior)
    got32 = kl_divergence_diag_gaussian(*q32, *prior32, reduce_sum=False)
    assert torch.isfinite(got32).all()
    assert (got32 >= 0).all()
    expected32 = reference_kl(
        q32[0].double(), q32[1].double(), mu_p.float().double(), lv_p.float().double()
    )
    torch.testing.assert_close(got32.double(), expected32, rtol=1e-4, atol=1e-4)


def test_kl_divergence_rejects_0_dim_and_integer_inputs() -> None:
    """A 0-dim ``mu_q`` (no latent dimension) or an integer dtype is refused by name."""
    with pytest.raises(ValueError, match=r"mu_q must have at least one dimension"):
        kl_divergence_diag_gaussian(torch.tensor(0.0), torch.tensor(0.0))
    with pytest.raises(TypeError, match="mu_q must have a floating-point dtype"):
        kl_divergence_diag_gaussian(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3))
