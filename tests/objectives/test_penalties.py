"""DIPPenalty and MMDPenalty: float64 references; they add to a bound and refuse to stand alone."""

from __future__ import annotations

import pytest
import torch
from objective_helpers import LATENT, binary_data, make_vae

from pyautoencoder.objectives import ELBO, DIPPenalty, MMDPenalty


@pytest.mark.parametrize("kind", ["i", "ii"])
def test_dip_penalty_equals_torch_cov_reference(kind: str) -> None:
    model = make_vae(ELBO() + DIPPenalty(kind, lambda_od=3.0, lambda_d=7.0))  # type: ignore[arg-type]
    x = binary_data()
    out = model(x)
    result = model.compute_loss(x, out)
    cov = torch.cov(out.mu.T, correction=0)  # population covariance of the means
    if kind == "ii":
        cov = cov + torch.diag(out.log_var.exp().mean(0))
    off = (cov - torch.diag(cov.diagonal())).square().sum()
    diag = (cov.diagonal() - 1).square().sum()
    penalty = 3.0 * off + 7.0 * diag
    torch.testing.assert_close(result.diagnostics["dip_penalty"], penalty.detach())
    elbo = ELBO()(model, x, out).objective
    torch.testing.assert_close(result.objective, elbo + penalty)


def _imq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    c = 2.0 * LATENT
    return c / (c + (a - b).square().sum())


def test_mmd_penalty_equals_the_unbiased_estimator_by_loops() -> None:
    model = make_vae(ELBO() + MMDPenalty("imq", weight=5.0))
    x = binary_data(5)
    out = model(x, S=2)
    torch.manual_seed(9)
    result = MMDPenalty("imq", weight=5.0)(model, x, out)
    torch.manual_seed(9)
    prior = model.latent_prior.sample(10).double()
    codes = out.z.reshape(10, LATENT)
    n = 10
    xx = sum(_imq(codes[i], codes[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(_imq(prior[i], prior[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(_imq(codes[i], prior[j]) for i in range(n) for j in range(n)) / (n * n)
    mmd = xx + yy - 2 * xy
    torch.testing.assert_close(result.diagnostics["mmd"], mmd.detach())
    torch.testing.assert_close(result.objective, 5.0 * mmd)


@pytest.mark.parametrize("penalty", [DIPPenalty("ii", 1.0), MMDPenalty()], ids=repr)
def test_a_penalty_alone_is_refused_as_a_model_objective(penalty: object) -> None:
    with pytest.raises(ValueError, match="is a penalty and trains no reconstruction"):
        make_vae(penalty)  # type: ignore[arg-type]


def test_penalty_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="kind must be 'i' or 'ii', got 'iii'"):
        DIPPenalty("iii")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lambda_od must be finite and >= 0"):
        DIPPenalty("i", -1.0)
    with pytest.raises(ValueError, match="weight must be finite and >= 0"):
        MMDPenalty("rbf", float("nan"))
    with pytest.raises(ValueError, match="Unknown kernel 'rfb'"):
        MMDPenalty("rfb")
