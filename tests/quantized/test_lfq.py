"""LFQ / BSQ: sign codes, bit indices, entropy terms against a direct computation."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from pyautoencoder.quantized import LFQ
from pyautoencoder.quantized._lfq import entropy_terms


def _direct_entropies(u: torch.Tensor, tau: float, scale: float) -> tuple[float, float]:
    """Enumerate the 2^d codes, softmax of -||u - s c||^2 / tau per row, entropies (float64)."""
    d = u.shape[1]
    codes = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=d)), dtype=torch.float64)
    distances = torch.cdist(u, scale * codes).square()  # [N, 2^d]
    q = torch.softmax(-distances / tau, dim=1)
    per_sample = float(-(q * q.clamp_min(1e-300).log()).sum(dim=1).mean())
    average = q.mean(dim=0)
    codebook = float(-(average * average.clamp_min(1e-300).log()).sum())
    return per_sample, codebook


@pytest.mark.parametrize("spherical", [False, True])
@pytest.mark.parametrize("tau", [0.5, 2.0])
def test_entropy_terms_equal_a_direct_computation(spherical: bool, tau: float) -> None:
    lfq = LFQ(4, temperature=tau, spherical=spherical).double()
    z = torch.randn(40, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = lfq(z)
    u = torch.nn.functional.normalize(z, dim=1) if spherical else z
    per_sample, codebook = _direct_entropies(u, tau, lfq.scale)
    assert float(out.diagnostics["per_sample_entropy"]) == pytest.approx(per_sample, rel=1e-9)
    assert float(out.diagnostics["codebook_entropy"]) == pytest.approx(codebook, rel=1e-9)
    commitment = float((u - lfq.scale * torch.sign(u)).square().sum(dim=1).mean())
    expected = 0.25 * commitment + 0.1 * (per_sample - codebook)
    assert float(out.loss) == pytest.approx(expected, rel=1e-9)


def test_factorised_codebook_entropy_is_the_sum_of_bit_entropies_and_an_upper_bound() -> None:
    u = torch.randn(30, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    _, exact = entropy_terms(u, 1.0, 1.0, exact=True)
    _, factorised = entropy_terms(u, 1.0, 1.0, exact=False)
    p = torch.sigmoid(4 * u).mean(dim=0)
    by_hand = float(-(p * p.log() + (1 - p) * (1 - p).log()).sum())
    assert float(factorised) == pytest.approx(by_hand, rel=1e-12)
    assert float(exact) <= float(factorised) + 1e-12  # H(joint) <= sum of marginal entropies


def test_codes_are_signs_and_indices_are_bits() -> None:
    lfq = LFQ(3)
    z = torch.tensor([[0.3, -2.0, 1.0], [-0.1, 0.2, -5.0]])
    out = lfq(z)
    torch.testing.assert_close(out.z_q, torch.sign(z))
    assert out.indices.tolist() == [1 + 4, 2]  # bit i set when z_i > 0
    bsq = LFQ(3, spherical=True)
    torch.testing.assert_close(bsq(z).z_q, torch.sign(z) / math.sqrt(3))
    assert bsq.codes_from_indices(out.indices).norm(dim=1).tolist() == pytest.approx([1.0, 1.0])


def test_straight_through_gradient() -> None:
    lfq = LFQ(4, entropy_weight=0.0, commitment_weight=0.0)
    z = torch.randn(5, 4, requires_grad=True)
    g = torch.randn(5, 4)
    (grad,) = torch.autograd.grad(lfq(z).z_q, z, g)
    assert torch.equal(grad, g)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="bits must be a positive int"):
        LFQ(0)
    with pytest.raises(ValueError, match="bits must be <= 62"):
        LFQ(70)
    with pytest.raises(ValueError, match="temperature must lie in"):
        LFQ(3, temperature=0.0)


@pytest.mark.parametrize("bits", [3, 20])  # exact and per-bit codebook entropy
def test_gradients_stay_finite_when_codes_are_unused(bits: int) -> None:
    lfq = LFQ(bits, temperature=0.01)
    z = torch.full((4, bits), 50.0, requires_grad=True)  # every input: the same confident code
    out = lfq(z)
    (grad,) = torch.autograd.grad(out.loss, z)
    assert torch.isfinite(out.loss) and torch.isfinite(grad).all()
